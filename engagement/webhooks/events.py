"""Recording webhook events: the one door other apps use (event types in
engagement.webhooks.models.EventType, payloads in docs/webhooks.md).

record_webhook_event(program, type, payload, *, idempotency_key=None) -> WebhookEvent
record_webhook_events(program, type, payloads, *, idempotency_keys=None) -> list[WebhookEvent]
record_webhook_events_from_query(program, type, rows_sql, params) -> int
"""

import json
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from engagement.bulk import bulk_insert, server_side_cursor
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


def record_webhook_events(program, type, payloads, *, idempotency_keys=None) -> list:
    """Record many events of one type at once: the set-based twin of record_webhook_event.

    Same contract per item (caller's transaction, delivery enqueued on commit, a key already
    used returns the existing event and creates nothing, ValueError for an unknown type), in
    a constant number of queries: one lookup of the keys, one insert of the events, one of
    the deliveries, and one on_commit for all of them. Returns the events in input order.
    If a concurrent transaction inserts one of the keys first, falls back to one call each.
    """
    if type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {type!r}; expected one of {', '.join(EventType.values)}.")
    payloads = list(payloads)
    keys = list(idempotency_keys) if idempotency_keys is not None else [None] * len(payloads)
    if len(keys) != len(payloads):
        raise ValueError("idempotency_keys must have one key (or None) per payload.")
    if not payloads:
        return []
    wanted = {key for key in keys if key is not None}
    found = {}
    if wanted:
        found = {e.idempotency_key: e for e in WebhookEvent.objects.filter(program=program, idempotency_key__in=wanted)}
    out, new = [], []
    for payload, key in zip(payloads, keys, strict=True):
        if key is not None and key in found:
            out.append(found[key])
            continue
        event = WebhookEvent(program=program, type=type, payload=_jsonable(payload), idempotency_key=key)
        if key is not None:
            found[key] = event  # a key repeated within the call: one event
        out.append(event)
        new.append(event)
    if not new:
        return out
    try:
        with transaction.atomic():
            bulk_insert(new)
            deliveries = _create_deliveries_for(program.pk, type, new)
    except IntegrityError:
        if not wanted:
            raise
        # A concurrent twin committed one of the keys: the one-by-one path resolves each.
        return [
            record_webhook_event(program, type, payload, idempotency_key=key)
            for payload, key in zip(payloads, keys, strict=True)
        ]
    if deliveries:
        ids = [delivery.pk for delivery in deliveries]
        transaction.on_commit(lambda: enqueue_deliveries(ids))
    return out


def record_webhook_events_from_query(program, type, rows_sql: str, params: list) -> int:
    """Record one event of `type` per row of `rows_sql`, a SELECT of two columns, `payload`
    (jsonb, exactly what every delivery will send) and `idempotency_key` (text or NULL), whose
    row order is the events' id order; `params` are its parameters (server-side binding: %s,
    or %b for a binary array). The set-based door for a hot path whose payloads are columns
    the database already holds (reward.granted for a processing batch's ledger entries):
    one statement inserts the events and their deliveries, with no Python object per event.

    Same contract as record_webhook_events otherwise: the caller's transaction, deliveries
    (one per matching active subscription) enqueued on commit, ValueError for an unknown
    type; a key already recorded, or repeated in the rows, records nothing more for it.
    Returns the number of events inserted."""
    if type not in EventType.values:
        raise ValueError(f"Unknown webhook event type {type!r}; expected one of {', '.join(EventType.values)}.")
    subscriptions = [
        subscription.pk
        for subscription in WebhookSubscription.objects.filter(
            program_id=program.pk, status=WebhookSubscription.Status.ACTIVE
        )
        if subscription.wants(type)
    ]
    now = timezone.now()
    events, deliveries = WebhookEvent._meta.db_table, WebhookDelivery._meta.db_table
    # event_id as new_event_id makes it: "evt_" and a random UUID's 32 hex digits.
    insert_events = f"""INSERT INTO {events} (event_id, program_id, type, payload, idempotency_key, created_at)
        SELECT 'evt_' || replace(CAST(gen_random_uuid() AS text), '-', ''), %s, %s, r.payload, r.idempotency_key, %s
        FROM ({rows_sql}) AS r
        ON CONFLICT (program_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING id"""
    head = [program.pk, type, now, *params]
    with connection.wrap_database_errors, server_side_cursor() as cursor:
        if not subscriptions:
            cursor.execute(insert_events, head)
            return cursor.rowcount
        retry_until = now + timedelta(hours=settings.WEBHOOKS_RETRY_HOURS)
        cursor.execute(
            f"""WITH new AS ({insert_events})
                INSERT INTO {deliveries} (program_id, event_id, subscription_id, status, attempt_count,
                    next_attempt_at, retry_until, queued_at, last_error, created_at, updated_at)
                SELECT %s, new.id, s.id, %s, 0, %s, %s, %s, '', %s, %s
                FROM new CROSS JOIN unnest(%b::bigint[]) WITH ORDINALITY AS s(id, n)
                ORDER BY new.id, s.n
                RETURNING id, event_id""",
            [
                *head,
                program.pk,
                WebhookDelivery.Status.PENDING,
                now,
                retry_until,
                now,
                now,
                now,
                subscriptions,
            ],  # fmt: skip
        )
        rows = cursor.fetchall()
    ids = [row[0] for row in rows]
    transaction.on_commit(lambda: enqueue_deliveries(ids))
    return len({row[1] for row in rows})


def _create_deliveries(event):
    return _create_deliveries_for(event.program_id, event.type, [event])


def _create_deliveries_for(program_id, type, events):
    # Subscriptions per program are few: filter event types in Python (portable to SQLite,
    # where JSON "contains" is not available).
    subscriptions = [
        subscription
        for subscription in WebhookSubscription.objects.filter(
            program_id=program_id, status=WebhookSubscription.Status.ACTIVE
        )
        if subscription.wants(type)
    ]
    if not subscriptions:
        return []
    now = timezone.now()
    retry_until = now + timedelta(hours=settings.WEBHOOKS_RETRY_HOURS)
    return WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            program_id=program_id,
            event=event,
            subscription=subscription,
            next_attempt_at=now,
            retry_until=retry_until,
            queued_at=now,
            created_at=now,
        )
        for event in events
        for subscription in subscriptions
    )


def enqueue_deliveries(delivery_ids):
    """Send broker messages for these deliveries, a batch per task (call after commit)."""
    from engagement.webhooks.tasks import deliver_webhooks_task

    size = settings.WEBHOOKS_BATCH_SIZE
    for start in range(0, len(delivery_ids), size):
        deliver_webhooks_task.delay(list(delivery_ids[start : start + size]))
