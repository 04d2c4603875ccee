"""Delivering webhooks: claim a due delivery, POST it signed, record the attempt, schedule the
retry or finish it; and the beat sweep that makes a lost broker message or a dead worker cost
latency, never a delivery.

A delivery row is the queue (healthchecks style): a worker owns it only after winning the
conditional UPDATE pending -> in_flight, so two messages for one delivery never POST twice
concurrently. Broker messages carry only ids and are hints; the rows are the truth.
"""

import json
import logging
import random
import time
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from engagement import outbound_http
from engagement.webhooks import signing
from engagement.webhooks.events import enqueue_deliveries
from engagement.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
EXCERPT_CHARS = 500
SWEEP_LIMIT = 5000
USER_AGENT = "Ganjaran-Webhooks/1.0"


def backoff_seconds(attempt_number, delivery_id):
    """Delay after failed attempt `attempt_number` (1-based): BASE * 2**(n-1) capped at MAX,
    plus 0-25 % jitter (so failing deliveries don't retry in lock-step). The jitter is
    seeded by (delivery, attempt), so a schedule can be reproduced when debugging."""
    base = min(
        settings.WEBHOOKS_BACKOFF_BASE_SECONDS * 2 ** (attempt_number - 1), settings.WEBHOOKS_BACKOFF_MAX_SECONDS
    )
    jitter = random.Random(f"{delivery_id}:{attempt_number}").uniform(0, base * 0.25)
    return round(base + jitter, 3)  # whole milliseconds: stored exactly


def build_body(event):
    """The JSON body of an event: identical bytes for every attempt and subscription."""
    document = {
        "id": event.event_id,
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "program": event.program.slug,
        "data": event.payload,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is not a delivery: the 3xx is recorded as a failed attempt.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def post(url, body, headers, timeout):
    """POST once; return (status_code or None, response excerpt, error text, duration ms).

    Direct connections (no proxies from the environment), no redirects, and only to a public
    address resolved and checked at this attempt (loopback when WEBHOOKS_ALLOW_HTTP_LOOPBACK):
    a target re-pointed at an inner address after it was saved is refused, not reached."""
    opener = outbound_http.build_opener(_NoRedirect, allow_loopback=settings.WEBHOOKS_ALLOW_HTTP_LOOPBACK)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.monotonic()
    status_code, excerpt, error = None, "", ""
    try:
        with opener.open(request, timeout=timeout) as response:
            status_code = response.status
            excerpt = response.read(4096).decode("utf-8", "replace")[:EXCERPT_CHARS]
    except urllib.error.HTTPError as exc:
        status_code = exc.code
        excerpt = exc.read(4096).decode("utf-8", "replace")[:EXCERPT_CHARS]
        exc.close()
    except TimeoutError:
        error = f"timeout after {timeout:g} s"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, outbound_http.BlockedAddress):
            error = "address not allowed"
        else:
            error = "timeout" if isinstance(exc.reason, TimeoutError) else f"connection error: {exc.reason}"
    except OSError as exc:  # reset by peer, bad status line, ...
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return status_code, excerpt, error[:500], duration_ms


def attempt_delivery(delivery_id):
    """Claim delivery `delivery_id` if it is pending and due, POST it once, record the attempt.

    Returns the WebhookAttempt, or None when the delivery is not ours to attempt (gone, not
    due, already claimed or finished, subscription paused) — so duplicate or stale broker
    messages are harmless. Never raises for an HTTP failure: that is a recorded attempt.
    """
    now = timezone.now()
    delivery = (
        WebhookDelivery.objects.select_related("event__program", "subscription")
        .filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now)
        .first()
    )
    if delivery is None or delivery.subscription.status != WebhookSubscription.Status.ACTIVE:
        return None
    # The claim: only one worker turns this row in_flight (conditional UPDATE on status).
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now).update(
        status=Status.IN_FLIGHT, claimed_at=now
    )
    if not claimed:
        return None
    subscription = delivery.subscription
    body = build_body(delivery.event)
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.EVENT_ID_HEADER: delivery.event.event_id,
        signing.EVENT_TYPE_HEADER: delivery.event.type,
        signing.TIMESTAMP_HEADER: timestamp,
        signing.SIGNATURE_HEADER: signing.sign(subscription.signing_secrets(now), timestamp, body),
        signing.ATTEMPT_HEADER: str(delivery.attempt_count + 1),
    }
    outcome = post(subscription.url, body, headers, settings.WEBHOOKS_TIMEOUT_SECONDS)
    return _record_attempt(delivery_id, now, outcome)


def _record_attempt(delivery_id, claimed_at, outcome):
    status_code, excerpt, error, duration_ms = outcome
    succeeded = status_code is not None and 200 <= status_code < 300
    now = timezone.now()
    with transaction.atomic():
        # Lock the row: serialises with the sweep and with a subscription being deleted.
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return None
        number = delivery.attempt_count + 1
        attempt = WebhookAttempt.objects.create(
            delivery=delivery,
            program_id=delivery.program_id,
            number=number,
            started_at=claimed_at,
            duration_ms=duration_ms,
            status_code=status_code,
            succeeded=succeeded,
            response_excerpt=excerpt,
            error=error,
        )
        changes = {"attempt_count": number, "last_status_code": status_code, "last_error": error, "claimed_at": None}
        if succeeded:
            changes.update(status=Status.DELIVERED, delivered_at=now)
        elif now >= delivery.retry_until:
            changes.update(status=Status.FAILED)
        else:
            changes.update(
                status=Status.PENDING,
                next_attempt_at=now + timedelta(seconds=backoff_seconds(number, delivery_id)),
                queued_at=None,  # no broker message: beat releases it when due
            )
        # Only if our claim still stands (the sweep may have handed the row back meanwhile).
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.IN_FLIGHT, claimed_at=claimed_at).update(**changes)
        _update_subscription_health(delivery.subscription_id, succeeded, now)
    return attempt


def _update_subscription_health(subscription_id, succeeded, now):
    subscriptions = WebhookSubscription.objects.filter(pk=subscription_id)
    if succeeded:
        subscriptions.update(consecutive_failures=0, failing_since=None)
        return
    subscriptions.update(
        consecutive_failures=F("consecutive_failures") + 1, failing_since=Coalesce("failing_since", now)
    )
    # Pause a subscription that keeps failing; conditional on status so it happens once.
    paused = subscriptions.filter(
        status=WebhookSubscription.Status.ACTIVE,
        consecutive_failures__gte=settings.WEBHOOKS_PAUSE_AFTER_FAILURES,
        failing_since__lte=now - timedelta(hours=settings.WEBHOOKS_PAUSE_AFTER_HOURS),
    ).update(
        status=WebhookSubscription.Status.PAUSED,
        paused_at=now,
        paused_reason="Paused automatically: deliveries kept failing.",
    )
    if paused:
        from engagement.webhooks.notifications import notify_subscription_paused

        transaction.on_commit(lambda: notify_subscription_paused(subscription_id))


def sweep_deliveries():
    """Beat, every minute. 1) Hand back deliveries in flight past WEBHOOKS_CLAIM_TIMEOUT_SECONDS
    (their worker died mid-attempt). 2) Enqueue pending deliveries that are due and have no
    recent broker message: retries whose backoff has passed, and deliveries whose message
    was lost. Returns {"reclaimed": n, "enqueued": [delivery ids]}."""
    now = timezone.now()
    reclaimed = WebhookDelivery.objects.filter(
        status=Status.IN_FLIGHT, claimed_at__lt=now - timedelta(seconds=settings.WEBHOOKS_CLAIM_TIMEOUT_SECONDS)
    ).update(status=Status.PENDING, claimed_at=None, queued_at=None, next_attempt_at=now)
    not_recently_queued = Q(queued_at__isnull=True) | Q(
        queued_at__lt=now - timedelta(seconds=settings.WEBHOOKS_REQUEUE_AFTER_SECONDS)
    )
    due = WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now).filter(not_recently_queued)
    ids = list(
        due.filter(subscription__status=WebhookSubscription.Status.ACTIVE)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    if ids:
        with transaction.atomic():
            due.filter(pk__in=ids).update(queued_at=now)
            transaction.on_commit(lambda: enqueue_deliveries(ids))
    if reclaimed or ids:
        logger.info("webhook sweep: reclaimed %s, enqueued %s", reclaimed, len(ids))
    return {"reclaimed": reclaimed, "enqueued": ids}


def resend_deliveries(delivery_ids):
    """Deliver these again (admin "re-send"): back to pending, due now, with a fresh retry
    window, enqueued on commit. Deliveries in flight are left alone. Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.filter(pk__in=list(delivery_ids)).exclude(status=Status.IN_FLIGHT)
        ids = list(deliveries.values_list("pk", flat=True))
        WebhookDelivery.objects.filter(pk__in=ids).exclude(status=Status.IN_FLIGHT).update(
            status=Status.PENDING,
            next_attempt_at=now,
            retry_until=now + timedelta(hours=settings.WEBHOOKS_RETRY_HOURS),
            queued_at=now,
            claimed_at=None,
            delivered_at=None,
        )
        if ids:
            transaction.on_commit(lambda: enqueue_deliveries(ids))
    return len(ids)
