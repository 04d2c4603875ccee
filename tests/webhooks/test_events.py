import pytest
from django.db import transaction

from engagement.webhooks.events import record_webhook_event
from engagement.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from tests.webhooks.factories import SubscriptionFactory


def test_record_creates_one_pending_delivery_per_matching_active_subscription(
    acme, globex, django_capture_on_commit_callbacks
):
    # Given subscriptions: all types, only payouts, paused, and one of another program
    everything = SubscriptionFactory(program=acme)
    payouts_only = SubscriptionFactory(program=acme, event_types=["payout.failed", "payout.succeeded"])
    SubscriptionFactory(program=acme, status=WebhookSubscription.Status.PAUSED)
    SubscriptionFactory(program=globex)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        reward = record_webhook_event(acme, "reward.granted", {"customer": "alice", "points": 50})
        payout = record_webhook_event(acme, "payout.failed", {"payout": 7})

    assert reward.event_id.startswith("evt_") and len(reward.event_id) == 36
    assert reward.payload == {"customer": "alice", "points": 50}
    assert list(reward.deliveries.values_list("subscription", "status")) == [(everything.pk, "pending")]
    assert sorted(payout.deliveries.values_list("subscription", flat=True)) == [everything.pk, payouts_only.pk]
    # delivery is enqueued only on commit: one callback per recorded event
    assert len(callbacks) == 2


def test_payload_is_stored_as_json_values(acme):
    from datetime import UTC, datetime
    from decimal import Decimal

    event = record_webhook_event(
        acme, "payout.succeeded", {"amount": Decimal("12.50"), "at": datetime(2026, 3, 1, 10, 0, tzinfo=UTC)}
    )

    event.refresh_from_db()
    assert event.payload == {"amount": "12.50", "at": "2026-03-01T10:00:00Z"}


def test_idempotency_key_returns_the_first_event_and_creates_nothing_more(acme):
    SubscriptionFactory(program=acme)
    first = record_webhook_event(acme, "tier.changed", {"to": "gold"}, idempotency_key="tier:alice:1")

    again = record_webhook_event(acme, "tier.changed", {"to": "gold"}, idempotency_key="tier:alice:1")

    assert again.pk == first.pk
    assert WebhookEvent.objects.count() == 1
    assert WebhookDelivery.objects.count() == 1


def test_the_same_idempotency_key_in_two_programs_makes_two_events(acme, globex):
    record_webhook_event(acme, "tier.changed", {}, idempotency_key="k")
    record_webhook_event(globex, "tier.changed", {}, idempotency_key="k")

    assert WebhookEvent.objects.count() == 2


def test_unknown_type_is_refused_and_nothing_is_stored(acme):
    SubscriptionFactory(program=acme)

    with pytest.raises(ValueError, match="Unknown webhook event type 'reward.gifted'"):
        record_webhook_event(acme, "reward.gifted", {})

    assert WebhookEvent.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_records_no_event_and_sends_nothing(receiver):
    from tests.factories import ProgramFactory

    acme = ProgramFactory(slug="acme")
    SubscriptionFactory(program=acme, url=receiver.url())

    # When the caller's change fails after recording the event
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            record_webhook_event(acme, "reward.granted", {"customer": "alice"})
            raise RuntimeError("the grant failed")

    # Then nothing was recorded and no request reached the receiver
    assert WebhookEvent.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0
    assert receiver.received == []
