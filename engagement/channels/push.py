"""Web push subscriptions from the portal: the one door for storing and removing a browser's
PushSubscription. Subscribing gives push consent (source portal); removing the last one
withdraws it."""

from django.db import transaction

from engagement.channels import consent
from engagement.channels.models import Channel, ConsentSource, PushSubscription


class InvalidSubscription(ValueError):
    """The browser's PushSubscription JSON lacks an https endpoint or its keys."""


def parse_subscription(data):
    """(endpoint, p256dh, auth) from PushSubscription.toJSON(); raises InvalidSubscription."""
    if not isinstance(data, dict):
        raise InvalidSubscription("a JSON object is required")
    endpoint = data.get("endpoint")
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")) or len(endpoint) > 1000:
        raise InvalidSubscription("endpoint must be an http(s) URL")
    if (
        not isinstance(p256dh, str)
        or not isinstance(auth, str)
        or not (0 < len(p256dh) <= 200 and 0 < len(auth) <= 100)
    ):
        raise InvalidSubscription("keys.p256dh and keys.auth are required")
    return endpoint, p256dh, auth


def save_subscription(customer, data, user_agent=""):
    """Store (or refresh) the browser's subscription and give push consent. Idempotent by
    (customer, endpoint). Raises InvalidSubscription (nothing stored)."""
    endpoint, p256dh, auth = parse_subscription(data)
    with transaction.atomic():
        row, _created = PushSubscription.objects.update_or_create(
            customer=customer, endpoint=endpoint,
            defaults={"program_id": customer.program_id, "p256dh": p256dh, "auth": auth,
                      "user_agent": user_agent[:255], "expired_at": None},
        )  # fmt: skip
        consent.set_channel_consent(customer, Channel.PUSH, True, ConsentSource.PORTAL, detail="subscribed")
    return row


def remove_subscription(customer, endpoint):
    """Delete the customer's subscription for `endpoint`; withdraw push consent when none is
    left. Returns how many rows were deleted (0 when unknown: idempotent)."""
    with transaction.atomic():
        deleted, _ = PushSubscription.objects.filter(customer=customer, endpoint=str(endpoint)[:1000]).delete()
        if not PushSubscription.objects.filter(customer=customer, expired_at__isnull=True).exists():
            consent.set_channel_consent(customer, Channel.PUSH, False, ConsentSource.PORTAL, detail="unsubscribed")
    return deleted
