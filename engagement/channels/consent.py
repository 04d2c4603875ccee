"""Consent: the one door for what a customer agreed to receive, and its history.

Two dimensions: channels (the customer's `consent_<channel>` flags) and topics (offers,
surveys, account; on unless a TopicOptOut row turns one off). Every change writes a
ConsentChange row saying when, which way and how (portal, email link, SMS/WhatsApp keyword,
API, event, admin). Sending honours both (channels.policy). The preference page is reached
by a signed token carrying the customer id (no sign-in; no expiry, as old emails' links must
keep working; the signature cannot be forged without SECRET_KEY).
"""

import re

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from engagement.channels.models import Channel, ConsentChange, ConsentSource, Topic, TopicOptOut
from engagement.models import Customer, Event

SALT = "channels.preferences"
CHANNELS = tuple(Channel.values)

# Inbound SMS/WhatsApp keywords (the whole message, case-insensitive), as carriers use them.
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "berhenti", "henti", "إلغاء", "الغاء", "توقف"}
START_WORDS = {"start", "unstop", "subscribe", "mula", "ابدأ", "اشتراك"}


def set_channel_consent(customer, channel, granted, source, detail="", at=None):
    """Give or withdraw consent on `channel`; records a ConsentChange when it changes.

    Returns True when it changed. A conditional UPDATE, so two concurrent withdrawals
    record one change. Raises ValueError for an unknown channel.
    """
    if channel not in CHANNELS:
        raise ValueError(f"Unknown channel {channel!r}")
    field = f"consent_{channel}"
    with transaction.atomic():
        changed = (
            Customer.objects.filter(pk=customer.pk)
            .exclude(**{field: granted})
            .update(**{field: granted, "updated_at": timezone.now()})
        )
        if changed:
            _record(customer, granted, source, detail, at, channel=channel)
    setattr(customer, field, granted)
    return bool(changed)


def set_topic_consent(customer, topic, granted, source, detail="", at=None):
    """Turn a topic on or off for every channel; records a ConsentChange when it changes."""
    if topic not in Topic.values:
        raise ValueError(f"Unknown topic {topic!r}")
    with transaction.atomic():
        if granted:
            changed, _ = TopicOptOut.objects.filter(customer=customer, topic=topic).delete()
        else:
            _row, changed = TopicOptOut.objects.get_or_create(customer=customer, topic=topic)
        if changed:
            _record(customer, granted, source, detail, at, topic=topic)
    return bool(changed)


def record_profile_change(customer, before, source):
    """After a profile update (API, portal, admin): history rows for the consent flags that moved.

    `before` maps channel -> the flag before the update.
    """
    for channel, was in before.items():
        now = getattr(customer, f"consent_{channel}")
        if now != was:
            _record(customer, now, source, "", None, channel=channel)


def _record(customer, granted, source, detail, at, channel="", topic=""):
    ConsentChange.objects.create(
        program_id=customer.program_id, customer=customer, channel=channel, topic=topic, granted=granted,
        source=source, detail=detail[:255], at=at or timezone.now(),
    )  # fmt: skip


def topics_off(customer):
    return set(TopicOptOut.objects.filter(customer=customer).values_list("topic", flat=True))


def allows_topic(customer, topic):
    return not topic or not TopicOptOut.objects.filter(customer=customer, topic=topic).exists()


def get_preferences(customer):
    """{"channels": {channel: bool}, "topics": {topic: bool}} for the preference page."""
    off = topics_off(customer)
    return {
        "channels": {channel: bool(getattr(customer, f"consent_{channel}")) for channel in CHANNELS},
        "topics": {topic: topic not in off for topic in Topic.values},
    }


def save_preferences(customer, channels, topics, source):
    """Apply the preference page's choices (dicts of bools); one transaction. Returns changes."""
    with transaction.atomic():
        changes = sum(set_channel_consent(customer, c, bool(v), source) for c, v in channels.items())
        return changes + sum(set_topic_consent(customer, t, bool(v), source) for t, v in topics.items())


# --- links -------------------------------------------------------------------------------


def preferences_token(customer):
    # No timestamp: one stable link per customer, valid as long as SECRET_KEY is.
    return signing.Signer(salt=SALT).sign_object(customer.pk)


def customer_for_token(token):
    """The (not erased) customer a preference link names, or None if forged."""
    try:
        pk = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError):
        return None
    return Customer.objects.select_related("program").filter(pk=pk, erased_at__isnull=True).first()


def preferences_url(customer):
    """Absolute https URL of the customer's preference page (SITE_URL + the portal's path)."""
    # The page is served by the portal; reversed by name so that channels imports no higher app.
    return settings.SITE_URL + reverse("rewards_portal:preferences", args=[preferences_token(customer)])


def unsubscribe_url(customer):
    """Absolute URL for RFC 8058 one-click unsubscribe (POST withdraws email consent)."""
    return settings.SITE_URL + reverse("rewards_portal:unsubscribe", args=[preferences_token(customer)])


# --- inbound keywords and events -----------------------------------------------------------


def keyword_of(body):
    """ "stop", "start" or "" for an inbound message's text."""
    word = re.sub(r"[\s.!]+", " ", (body or "").strip().lower()).strip()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return ""


def apply_keyword(phone, channel, body, at=None):
    """STOP/START on SMS or WhatsApp from `phone`: consent on that channel for every customer
    with the phone (the sending number is shared by programs). Returns customers changed."""
    keyword = keyword_of(body)
    if not keyword or not phone:
        return 0
    source = ConsentSource.SMS_KEYWORD if channel == Channel.SMS else ConsentSource.WHATSAPP_KEYWORD
    changed = 0
    for customer in Customer.objects.filter(phone=phone, erased_at__isnull=True):
        changed += set_channel_consent(customer, channel, keyword == "start", source, detail=body.strip()[:40], at=at)
    return changed


def handle_events(program_id, event_ids):
    """engagement.hooks event handler: `email_unsubscribed` withdraws email consent."""
    rows = Event.objects.filter(pk__in=list(event_ids), type="email_unsubscribed").select_related("customer")
    for event in rows.order_by("id"):
        detail = f"event {event.event_id}"[:255]
        set_channel_consent(event.customer, Channel.EMAIL, False, ConsentSource.EVENT, detail, at=event.occurred_at)
