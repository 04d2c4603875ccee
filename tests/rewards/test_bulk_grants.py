"""Set-based writes used by campaign batches: rewards.ledger.bulk_grant with notify=True and
engagement.webhooks.events.record_webhook_events (one insert of events, one of deliveries,
one on_commit for the whole batch)."""

import pytest
from django.db import transaction

from engagement.webhooks.events import record_webhook_event, record_webhook_events
from engagement.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from rewards import ledger
from rewards.models import LedgerEntry, PointsAccount, PointsLot
from tests.webhooks.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def balances():
    return dict(PointsAccount.objects.values_list("customer__external_id", "balance"))


# --- record_webhook_events -------------------------------------------------------------------


def test_bulk_record_makes_one_event_per_payload_and_deliveries_per_matching_subscription(
    acme, globex, django_capture_on_commit_callbacks
):
    everything = SubscriptionFactory(program=acme)
    rewards_only = SubscriptionFactory(program=acme, event_types=["reward.granted"])
    SubscriptionFactory(program=acme, event_types=["payout.failed"])
    SubscriptionFactory(program=acme, status=WebhookSubscription.Status.PAUSED)
    SubscriptionFactory(program=globex)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events = record_webhook_events(acme, "reward.granted", [{"customer": "alice", "points": 5}, {"points": 7}])

    assert [e.payload for e in events] == [{"customer": "alice", "points": 5}, {"points": 7}]
    assert all(e.pk and e.type == "reward.granted" and e.event_id.startswith("evt_") for e in events)
    for event in events:
        assert sorted(event.deliveries.values_list("subscription", flat=True)) == sorted(
            [everything.pk, rewards_only.pk]
        )
    assert WebhookDelivery.objects.count() == 4
    # the whole batch is enqueued by one callback on commit
    assert len(callbacks) == 1


def test_bulk_record_keys_return_existing_events_and_create_nothing_for_them(acme):
    SubscriptionFactory(program=acme)
    first = record_webhook_event(acme, "tier.changed", {"to": "gold"}, idempotency_key="k1")

    events = record_webhook_events(
        acme, "tier.changed", [{"to": "gold"}, {"to": "silver"}, {"to": "x"}], idempotency_keys=["k1", "k2", "k2"]
    )

    assert events[0].pk == first.pk
    assert events[1] is events[2]  # a key repeated within one call: one event
    assert events[1].payload == {"to": "silver"}
    assert WebhookEvent.objects.count() == 2
    assert WebhookDelivery.objects.count() == 2
    again = record_webhook_events(acme, "tier.changed", [{}, {}], idempotency_keys=["k1", "k2"])
    assert [e.pk for e in again] == [first.pk, events[1].pk]
    assert WebhookEvent.objects.count() == 2


def test_bulk_record_payloads_are_stored_as_json_values(acme):
    from datetime import UTC, datetime
    from decimal import Decimal

    (event,) = record_webhook_events(
        acme, "payout.succeeded", [{"amount": Decimal("12.50"), "at": datetime(2026, 3, 1, 10, 0, tzinfo=UTC)}]
    )

    event.refresh_from_db()
    assert event.payload == {"amount": "12.50", "at": "2026-03-01T10:00:00Z"}


def test_bulk_record_refuses_unknown_type_or_mismatched_keys_and_stores_nothing(acme):
    SubscriptionFactory(program=acme)
    with pytest.raises(ValueError):
        record_webhook_events(acme, "reward.invented", [{}])
    with pytest.raises(ValueError):
        record_webhook_events(acme, "reward.granted", [{}, {}], idempotency_keys=["only-one"])

    assert record_webhook_events(acme, "reward.granted", []) == []
    assert WebhookEvent.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0


def test_bulk_record_in_a_rolled_back_transaction_records_nothing(acme):
    SubscriptionFactory(program=acme)

    with pytest.raises(RuntimeError), transaction.atomic():
        record_webhook_events(acme, "reward.granted", [{"points": 1}, {"points": 2}])
        raise RuntimeError("caller fails")

    assert WebhookEvent.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0


# --- bulk_grant with notify ------------------------------------------------------------------


def test_bulk_grant_credits_several_accounts_in_one_pass_with_running_balances(acme, alice, bob, assert_ledger_ok):
    SubscriptionFactory(program=acme)
    grants = [
        ledger.Grant(alice, 100, "Campaign A", "g-1", source=("campaign", 1)),
        ledger.Grant(bob, 30, "Campaign A", "g-2", source=("campaign", 1)),
        ledger.Grant(alice, 50, "Campaign B", "g-3", source=("campaign", 2)),
    ]

    entries = ledger.bulk_grant(acme, grants, notify=True)

    assert [(e.customer_id, e.points, e.balance_after) for e in entries] == [
        (alice.pk, 100, 100),
        (bob.pk, 30, 30),
        (alice.pk, 50, 150),
    ]
    assert balances() == {"alice": 150, "bob": 30}
    assert sorted(PointsLot.objects.values_list("points", "remaining")) == [(30, 30), (50, 50), (100, 100)]
    granted = WebhookEvent.objects.filter(type="reward.granted").order_by("id")
    assert [e.payload for e in granted] == [
        {"customer": "alice", "kind": "points", "points": 100, "pending": False, "reason": "Campaign A",
         "ledger_entry": entries[0].pk, "balance": 100},
        {"customer": "bob", "kind": "points", "points": 30, "pending": False, "reason": "Campaign A",
         "ledger_entry": entries[1].pk, "balance": 30},
        {"customer": "alice", "kind": "points", "points": 50, "pending": False, "reason": "Campaign B",
         "ledger_entry": entries[2].pk, "balance": 150},
    ]  # fmt: skip
    assert [e.idempotency_key for e in granted] == [f"reward.granted:ledger:{e.pk}" for e in entries]
    assert WebhookDelivery.objects.count() == 3
    assert_ledger_ok()


def test_bulk_grant_repeated_grants_nothing_more(acme, alice, bob, assert_ledger_ok):
    grants = [ledger.Grant(alice, 10, "x", "r-1"), ledger.Grant(bob, 20, "x", "r-2")]
    first = ledger.bulk_grant(acme, grants, notify=True)

    again = ledger.bulk_grant(acme, [ledger.Grant(alice, 99, "y", "r-1"), ledger.Grant(bob, 99, "y", "r-2")])

    assert [e.pk for e in again] == [e.pk for e in first]
    assert balances() == {"alice": 10, "bob": 20}
    assert LedgerEntry.objects.count() == 2
    assert WebhookEvent.objects.filter(type="reward.granted").count() == 2
    assert_ledger_ok()


def test_bulk_grant_with_a_bad_grant_refuses_the_whole_batch(acme, alice, bob):
    from rewards.errors import InvalidPoints

    with pytest.raises(InvalidPoints):
        ledger.bulk_grant(acme, [ledger.Grant(alice, 10, "x", "b-1"), ledger.Grant(bob, 0, "x", "b-2")], notify=True)

    assert LedgerEntry.objects.count() == 0
    assert PointsAccount.objects.filter(balance__gt=0).count() == 0
    assert WebhookEvent.objects.count() == 0
