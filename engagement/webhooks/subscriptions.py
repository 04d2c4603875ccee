"""Managing webhook subscriptions: create (secret shown once), rotate, pause, resume, delete."""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from engagement.outbound_http import check_public_url, is_loopback_host
from engagement.webhooks.events import enqueue_deliveries
from engagement.webhooks.models import EventType, WebhookDelivery, WebhookSubscription, new_secret


def validate_target_url(url):
    """https:// to a public address. Loopback targets (http or https) only when
    WEBHOOKS_ALLOW_HTTP_LOOPBACK is on (development and tests); private, link-local,
    multicast and reserved addresses never (SSRF; engagement.outbound_http). Raises
    ValidationError."""
    URLValidator(schemes=["http", "https"])(url or "")
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValidationError(_("Enter a full URL, such as https://example.com/hooks/ganjaran."), code="invalid")
    allow_loopback = settings.WEBHOOKS_ALLOW_HTTP_LOOPBACK
    check_public_url(url, allow_loopback=allow_loopback)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and allow_loopback and is_loopback_host(parts.hostname):
        return
    raise ValidationError(_("The target URL must use https."), code="https_required")


def validate_event_types(event_types):
    unknown = sorted(set(event_types or []) - set(EventType.values))
    if unknown:
        raise ValidationError(
            _("Unknown event types: %(types)s.") % {"types": ", ".join(unknown)}, code="invalid_choice"
        )


@dataclass(frozen=True)
class NewSecret:
    subscription: WebhookSubscription
    secret: str  # shown to the partner once, never again


def create_subscription(*, program, url, event_types=(), description=""):
    """Create an active subscription with a fresh secret; returns NewSecret (show it once).
    Raises ValidationError for a bad URL or event type. Not idempotent by itself (the API
    wraps it with Idempotency-Key)."""
    validate_target_url(url)
    validate_event_types(event_types)
    subscription = WebhookSubscription.objects.create(
        program=program, url=url, event_types=sorted(set(event_types or [])), description=description
    )
    return NewSecret(subscription, subscription.secret)


def rotate_secret(subscription):
    """Give the subscription a new secret; the old one keeps signing (a second signature)
    for WEBHOOKS_ROTATION_OVERLAP_HOURS so the partner can switch without dropping events."""
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = timezone.now() + timedelta(hours=settings.WEBHOOKS_ROTATION_OVERLAP_HOURS)
    subscription.secret = new_secret()
    subscription.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return NewSecret(subscription, subscription.secret)


def retire_previous_secret(subscription):
    """Stop signing with the old secret now (the partner has switched)."""
    subscription.previous_secret = ""
    subscription.previous_secret_expires_at = None
    subscription.save(update_fields=["previous_secret", "previous_secret_expires_at", "updated_at"])


def pause_subscription(subscription, reason=""):
    """Stop delivering; pending deliveries wait (no new ones are created while paused)."""
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        status=WebhookSubscription.Status.PAUSED, paused_at=timezone.now(), paused_reason=reason[:200]
    )


def resume_subscription(subscription):
    """Deliver again: resets the failure streak and enqueues waiting deliveries on commit."""
    now = timezone.now()
    with transaction.atomic():
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            status=WebhookSubscription.Status.ACTIVE,
            paused_at=None,
            paused_reason="",
            consecutive_failures=0,
            failing_since=None,
        )
        waiting = WebhookDelivery.objects.filter(subscription=subscription, status=WebhookDelivery.Status.PENDING)
        ids = list(waiting.values_list("pk", flat=True))
        waiting.update(
            next_attempt_at=now, queued_at=now, retry_until=now + timedelta(hours=settings.WEBHOOKS_RETRY_HOURS)
        )
        if ids:
            transaction.on_commit(lambda: enqueue_deliveries(ids))
    return len(ids)


def delete_subscription(subscription):
    """Delete the subscription with its deliveries and their attempts."""
    subscription.delete()


def list_subscriptions(program):
    return WebhookSubscription.objects.filter(program=program).order_by("id")


def get_subscription(program, subscription_id):
    """The program's subscription or None (another program's id is simply not found)."""
    return WebhookSubscription.objects.filter(program=program, pk=subscription_id).first()
