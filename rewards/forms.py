"""Portal forms: parse and validate; views then call services."""

from babel import Locale
from django import forms
from django.conf import settings
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

# Where merchandise ships: the markets the programs serve (ASEAN, the Gulf, South Asia...).
SHIP_COUNTRIES = ("MY", "SG", "BN", "ID", "TH", "PH", "VN", "IN", "AE", "SA", "QA", "KW", "OM", "BH", "GB", "US", "AU")


def country_names():
    """{ISO 3166 code: the country's name in the current language} from CLDR (Babel, a
    dependency already: Django has no country list)."""
    return Locale.parse(get_language() or "en", sep="-").territories


def country_name(code):
    """The country's name in the current language; the code itself when CLDR has none."""
    return country_names().get(code, code) if code else ""


def ship_country_choices():
    """(code, name in the current language) sorted by name."""
    names = country_names()
    return sorted(((code, names.get(code, code)) for code in SHIP_COUNTRIES), key=lambda pair: pair[1])


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


class ShippingAddressForm(forms.Form):
    """Where a merchandise reward is shipped: asked on the redeem page, in the customer's
    language. The field names are Fulfilment's (`ship_*`), handed to the service as is."""

    ship_name = forms.CharField(label=_("Full name"), max_length=120)
    ship_line1 = forms.CharField(label=_("Address"), max_length=200)
    ship_line2 = forms.CharField(label=_("Address line 2 (optional)"), max_length=200, required=False)
    ship_city = forms.CharField(label=_("City"), max_length=100)
    ship_region = forms.CharField(label=_("State or region (optional)"), max_length=100, required=False)
    ship_postcode = forms.RegexField(
        label=_("Postcode"), max_length=20, regex=r"^[A-Za-z0-9][A-Za-z0-9 -]{1,18}[A-Za-z0-9]$",
        error_messages={"invalid": _("Enter a postcode of letters and digits.")},
    )  # fmt: skip
    ship_country = forms.ChoiceField(label=_("Country"))
    ship_phone = forms.RegexField(
        label=_("Phone for the courier"), max_length=32, regex=r"^\+?[0-9 ()-]{6,30}$",
        error_messages={"invalid": _("Enter a phone number of digits, spaces or dashes.")},
    )  # fmt: skip

    # (autocomplete token, input type) per field, for the template.
    AUTOCOMPLETE = {
        "ship_name": ("name", "text"),
        "ship_line1": ("address-line1", "text"),
        "ship_line2": ("address-line2", "text"),
        "ship_city": ("address-level2", "text"),
        "ship_region": ("address-level1", "text"),
        "ship_postcode": ("postal-code", "text"),
        "ship_country": ("country", "select"),
        "ship_phone": ("tel", "tel"),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ship_country"].choices = [("", _("Choose…")), *ship_country_choices()]

    def rows(self):
        return [(self[name], *self.AUTOCOMPLETE[name]) for name in self.AUTOCOMPLETE]

    def clean(self):
        data = super().clean()
        for name, value in list(data.items()):
            if isinstance(value, str):
                data[name] = " ".join(value.split())
        return data


class CharityForm(forms.Form):
    """The charity a donation reward goes to (the program's list)."""

    charity = forms.TypedChoiceField(label=_("Charity"), coerce=int, widget=forms.RadioSelect)

    def __init__(self, *args, charities=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["charity"].choices = [(charity.pk, charity.name) for charity in charities]


class ProductChoiceForm(forms.Form):
    """ "Recipient chooses": which of a gift-card reward's cards (provider products still
    offered at its value, rewards.provider_rewards.offered_products) the customer wants. A
    value outside that list is refused like any unknown choice."""

    product = forms.ChoiceField(
        label=_("Choose your gift card"),
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose one of the gift cards."),
            "invalid_choice": _("Choose one of the gift cards."),
        },
    )

    def __init__(self, *args, products=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.products = list(products)
        self.fields["product"].choices = [(product.product_id, product.name) for product in self.products]
