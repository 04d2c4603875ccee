"""Recording webhook events: the one door other apps use (contracts.md).

record_webhook_event(program, type, payload, *, idempotency_key=None) -> WebhookEvent
"""

import json
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from engagement.webhooks.models import EventType, WebhookDelivery, WebhookEvent, WebhookSubscription


def _jsonable(payload):
    # Decimals, datetimes and UUIDs become strings now, so the stored payload is exactly
    # what every delivery will send.
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def record_webhook_event(program, type, payload: dict, *, idempotency_key: str | None = None) -> WebhookEvent:
    """Record one webhook event and one pending delivery per matching active subscription.

    Writes in the CALLER's transaction (a rolled-back change records nothing) and enqueues
    delivery on commit (queue "webhooks"). With `idempotency_key` (unique per program) a
    repeated call returns the first event and creates nothing. Raises ValueError for a type
    not in API.md's list.
    """
    if type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {type!r}; expected one of {', '.join(EventType.values)}.")
    if idempotency_key is not None:
        existing = WebhookEvent.objects.filter(program=program, idempotency_key=idempotency_key).first()
        if existing:
            return existing
    with transaction.atomic():
        try:
            # A savepoint: a concurrent twin with the same key loses here without
            # breaking the caller's transaction.
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    program=program, type=type, payload=_jsonable(payload), idempotency_key=idempotency_key
                )
        except IntegrityError:
            if idempotency_key is None:
                raise
            return WebhookEvent.objects.get(program=program, idempotency_key=idempotency_key)
        deliveries = _create_deliveries(event)
    if deliveries:
        ids = [delivery.pk for delivery in deliveries]
        transaction.on_commit(lambda: enqueue_deliveries(ids))
    return event


def _create_deliveries(event):
    # Subscriptions per program are few: filter event types in Python (portable to SQLite,
    # where JSON "contains" is not available).
    subscriptions = [
        subscription
        for subscription in WebhookSubscription.objects.filter(
            program_id=event.program_id, status=WebhookSubscription.Status.ACTIVE
        )
        if subscription.wants(event.type)
    ]
    now = timezone.now()
    retry_until = now + timedelta(hours=settings.WEBHOOKS_RETRY_HOURS)
    return WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            program_id=event.program_id,
            event=event,
            subscription=subscription,
            next_attempt_at=now,
            retry_until=retry_until,
            queued_at=now,
            created_at=now,
        )
        for subscription in subscriptions
    )


def enqueue_deliveries(delivery_ids):
    """Send broker messages for these deliveries, a batch per task (call after commit)."""
    from engagement.webhooks.tasks import deliver_webhooks_task

    size = settings.WEBHOOKS_BATCH_SIZE
    for start in range(0, len(delivery_ids), size):
        deliver_webhooks_task.delay(list(delivery_ids[start : start + size]))
