"""Portal forms: parse and validate; views then call services."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class LoginForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)


class ProfileForm(forms.Form):
    locale = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    consent_email = forms.BooleanField(label=_("Email"), required=False)
    consent_sms = forms.BooleanField(label=_("SMS"), required=False)
    consent_whatsapp = forms.BooleanField(label=_("WhatsApp"), required=False)
    consent_push = forms.BooleanField(label=_("Push notifications"), required=False)


class ReferralJoinForm(forms.Form):
    """The referral landing page's sign-up: the friend's name and email."""

    name = forms.CharField(label=_("Your name"), max_length=200, required=False)
    email = forms.EmailField(label=_("Email address"), max_length=254)
    consent_email = forms.BooleanField(label=_("Send me offers by email"), required=False)


CHANNEL_LABELS = {"email": _("Email"), "sms": _("SMS"), "whatsapp": _("WhatsApp"), "push": _("Push notifications")}
TOPIC_LABELS = {
    "offers": _("Offers and news"),
    "surveys": _("Surveys"),
    "account": _("My account and rewards"),
}


class PreferencesForm(forms.Form):
    """The preference page: one checkbox per channel (channel_<name>) and topic (topic_<name>)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in CHANNEL_LABELS.items():
            self.fields[f"channel_{name}"] = forms.BooleanField(label=label, required=False)
        for name, label in TOPIC_LABELS.items():
            self.fields[f"topic_{name}"] = forms.BooleanField(label=label, required=False)

    def channel_fields(self):
        return [self[f"channel_{name}"] for name in CHANNEL_LABELS]

    def topic_fields(self):
        return [self[f"topic_{name}"] for name in TOPIC_LABELS]

    def choices(self, prefix):
        return {k.removeprefix(prefix): v for k, v in self.cleaned_data.items() if k.startswith(prefix)}
