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
