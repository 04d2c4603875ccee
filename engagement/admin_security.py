"""The admin login: password, then a TOTP code (django-otp) for those who need one.

settings.ADMIN_OTP says who must give a code: "off" (nobody), "superusers" (the default
when DEBUG is off) or "staff" (every staff member). Anyone with a confirmed TOTP device
gives a code whatever the setting. Lockout after repeated failures is django-axes' job
(its backend sees every attempt made through this form).
"""

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice


def otp_required(user) -> bool:
    """Whether `user` must give a TOTP code to log in to the admin."""
    policy = settings.ADMIN_OTP
    if policy == "staff":
        return user.is_staff
    return policy == "superusers" and user.is_superuser


class AdminLoginForm(AdminAuthenticationForm):
    otp_token = forms.CharField(
        label=_("Authentication code"),
        required=False,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=_("The 6 digits your authenticator app shows (needed when a device is set up)."),
    )

    def clean(self):
        data = super().clean()
        user = self.get_user()
        if user is None:
            return data
        device = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
        if device is None:
            if otp_required(user):
                raise forms.ValidationError(
                    _("This account needs a second factor and has none. Run: manage.py add_totp_device %(user)s")
                    % {"user": user.get_username()},
                    code="otp_missing",
                )
            return data
        token = (data.get("otp_token") or "").strip()
        if not token or not device.verify_is_allowed()[0] or not device.verify_token(token):
            raise forms.ValidationError(_("Enter the current code from your authenticator app."), code="otp")
        # django_otp's user_logged_in handler stores the verified device in the session.
        user.otp_device = device
        return data


def superuser_only_security_admins():
    """Login attempts (axes) and TOTP devices list every account: superusers only.

    Called from EngagementConfig.ready(), after the admin has imported every app's admin.
    """
    from django.contrib import admin

    for model_admin in admin.site._registry.values():
        if model_admin.opts.app_label in ("axes", "otp_totp"):
            for name in ("has_view_permission", "has_change_permission", "has_delete_permission", "has_add_permission"):
                setattr(model_admin, name, _superuser_only)
            model_admin.has_module_permission = lambda request: request.user.is_superuser


def _superuser_only(request, obj=None):
    return request.user.is_superuser
