import pytest
from django.db import transaction

from engagement.webhooks.events import record_webhook_event, record_webhook_events_from_query
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


# --- record_webhook_events_from_query: payloads built by the database -------------------------

ROWS = """SELECT jsonb_build_object('n', n) AS payload, k AS idempotency_key
          FROM unnest(%b::bigint[], %b::text[]) WITH ORDINALITY AS u(n, k, i) ORDER BY i"""


def test_events_from_a_query_get_deliveries_in_one_statement(acme, globex, django_capture_on_commit_callbacks):
    # Given subscriptions: all types, only payouts, paused, and one of another program, and a
    # key already recorded
    everything = SubscriptionFactory(program=acme)
    SubscriptionFactory(program=acme, event_types=["payout.failed"])
    SubscriptionFactory(program=acme, status=WebhookSubscription.Status.PAUSED)
    SubscriptionFactory(program=globex)
    old = record_webhook_event(acme, "reward.granted", {"n": 0}, idempotency_key="k-0")

    # When four rows are recorded: one with that key, one key twice, one without a key
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        inserted = record_webhook_events_from_query(
            acme, "reward.granted", ROWS, [[10, 11, 12, 13, 14], ["k-0", "k-1", "k-2", "k-1", None]]
        )

    # Then three events are new, in row order, each with one delivery to the subscription that
    # wants reward.granted, enqueued on commit; the recorded key kept its first event
    new = list(WebhookEvent.objects.exclude(pk=old.pk).order_by("id"))
    assert inserted == 3
    assert [(e.payload, e.idempotency_key, e.type) for e in new] == [
        ({"n": 11}, "k-1", "reward.granted"),
        ({"n": 12}, "k-2", "reward.granted"),
        ({"n": 14}, None, "reward.granted"),
    ]
    assert all(e.event_id.startswith("evt_") and len(e.event_id) == 36 for e in new)
    assert len({e.event_id for e in new}) == 3
    deliveries = WebhookDelivery.objects.exclude(event=old).order_by("id")
    assert [(d.event_id, d.subscription_id, d.status) for d in deliveries] == [
        (e.pk, everything.pk, "pending") for e in new
    ]
    assert WebhookEvent.objects.get(pk=old.pk).payload == {"n": 0}
    assert len(callbacks) == 1


def test_events_from_a_query_without_subscriptions_and_with_an_unknown_type(acme):
    assert record_webhook_events_from_query(acme, "reward.granted", ROWS, [[1], [None]]) == 1
    assert WebhookDelivery.objects.count() == 0
    with pytest.raises(ValueError, match="Unknown webhook event type 'reward.given'"):
        record_webhook_events_from_query(acme, "reward.given", ROWS, [[2], [None]])
    assert WebhookEvent.objects.count() == 1
