"""Readable, translated names of event types for staff pages (the campaign builder and its
"What it does" sentence). English names are the type with spaces, so English text is unchanged;
a type not listed here (custom.*) is shown as its own name."""

from django.utils.translation import gettext_lazy as _

LABELS = {
    "app_installed": _("app installed"),
    "app_uninstalled": _("app uninstalled"),
    "cart_abandoned": _("cart abandoned"),
    "cart_updated": _("cart updated"),
    "email_bounced": _("email bounced"),
    "email_clicked": _("email clicked"),
    "email_converted": _("email converted"),
    "email_opened": _("email opened"),
    "email_sent": _("email sent"),
    "email_unsubscribed": _("email unsubscribed"),
    "event_attended": _("event attended"),
    "event_interaction": _("event interaction"),
    "event_registered": _("event registered"),
    "page_view": _("page view"),
    "purchase": _("purchase"),
    "referral_converted": _("referral converted"),
    "referral_sent": _("referral sent"),
    "refund": _("refund"),
    "session": _("session"),
    "social_click": _("social click"),
    "social_comment": _("social comment"),
    "social_like": _("social like"),
    "social_share": _("social share"),
    "survey_answered": _("survey answered"),
    "ticket_opened": _("ticket opened"),
    "ticket_resolved": _("ticket resolved"),
    "tier_changed": _("tier changed"),
}


def event_label(event_type):
    """The event type's name in the active language ("?" for none)."""
    if not event_type:
        return "?"
    label = LABELS.get(event_type)
    return str(label) if label is not None else event_type.removeprefix("custom.").replace("_", " ")
