from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from engagement.webhooks import signing
from engagement.webhooks.events import record_webhook_event
from engagement.webhooks.models import WebhookDelivery, WebhookEvent
from engagement.webhooks.signing import verify_signature
from engagement.webhooks.tasks import sweep_webhook_deliveries_task
from tests.conftest import wait_for
from tests.factories import ProgramFactory
from tests.webhooks.factories import SubscriptionFactory

pytestmark = pytest.mark.worker


def test_real_worker_delivers_a_recorded_event_on_commit(celery_worker, receiver):
    acme = ProgramFactory(slug="acme", name="Acme")
    subscription = SubscriptionFactory(program=acme, url=receiver.url())

    # When a change records an event and commits
    with transaction.atomic():
        event = record_webhook_event(acme, "redemption.completed", {"redemption": 11})

    # Then the worker process claims the delivery and POSTs it, signed
    wait_for(lambda: WebhookDelivery.objects.filter(status="delivered").exists(), message="delivered")
    [got] = receiver.received
    assert got.header(signing.EVENT_ID_HEADER) == event.event_id
    assert verify_signature(
        subscription.secret, got.body, got.header(signing.TIMESTAMP_HEADER), got.header(signing.SIGNATURE_HEADER)
    )
    assert WebhookDelivery.objects.get().attempts.count() == 1


def test_real_worker_sweep_delivers_what_a_lost_message_left_behind(celery_worker, receiver):
    acme = ProgramFactory(slug="acme", name="Acme")
    subscription = SubscriptionFactory(program=acme, url=receiver.url())
    # Given a delivery whose broker message was lost ten minutes ago (no message exists)
    now = timezone.now()
    event = WebhookEvent.objects.create(program=acme, type="payout.failed", payload={"payout": 3})
    WebhookDelivery.objects.create(
        program=acme,
        event=event,
        subscription=subscription,
        next_attempt_at=now - timedelta(minutes=10),
        retry_until=now + timedelta(hours=24),
        queued_at=now - timedelta(minutes=10),
    )

    # When beat runs the sweep
    sweep_webhook_deliveries_task.delay()

    # Then the delivery is made, once
    wait_for(lambda: WebhookDelivery.objects.filter(status="delivered").exists(), message="delivered by sweep")
    assert [r.header(signing.EVENT_ID_HEADER) for r in receiver.received] == [event.event_id]
