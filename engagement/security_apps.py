"""The security libraries' apps under names staff can read in the admin index."""

from axes.apps import AppConfig as AxesAppConfig
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.apps import DefaultConfig as TOTPAppConfig


class LoginAttemptsConfig(AxesAppConfig):
    verbose_name = _("Login attempts")


class SecondFactorConfig(TOTPAppConfig):
    verbose_name = _("Second factor (TOTP)")
