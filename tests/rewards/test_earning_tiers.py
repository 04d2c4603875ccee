"""Base earn rule, refunds, referrals and tiers through the real processing pipeline."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.models import Customer, Event
from engagement.processing import process_events
from rewards import ledger, tiers
from rewards.models import Clawback, CustomerTier, PointsAccount, Referral, RewardsSettings
from rewards.referrals import get_referral_code, get_referral_stats
from tests.rewards.factories import make_tiers

pytestmark = pytest.mark.django_db


def send(program, *events):
    """Ingest and process events as the pipeline does (without the broker)."""
    result = record_events(program, list(events), enqueue=False)
    process_events(result.event_ids)


def event(event_id, type_, customer, value=None, when=None, **properties):
    return CleanEvent(
        event_id=event_id, type=type_, customer=customer, occurred_at=when or timezone.now(),
        value=Decimal(value) if value is not None else None, currency="MYR" if value is not None else "",
        properties=properties,
    )  # fmt: skip


def account(customer):
    row = PointsAccount.objects.get(customer=customer)
    return row.balance, row.pending


def test_purchase_earns_pending_points_then_released(acme, alice, assert_ledger_ok):
    RewardsSettings.objects.create(program=acme, return_window_days=14, points_per_currency_unit=Decimal("2"))
    send(acme, event("p1", "purchase", "alice", "45.70", order_id="o-1"))
    assert account(alice) == (0, 91)

    send(acme, event("p1", "purchase", "alice", "45.70", order_id="o-1"))  # a replay earns nothing
    assert account(alice) == (0, 91)

    with time_machine.travel(timezone.now() + timedelta(days=15)):
        ledger.release_pending_points()
    assert account(alice) == (91, 0)
    assert_ledger_ok()


def test_refund_cancels_pending_share(acme, alice, assert_ledger_ok):
    RewardsSettings.objects.create(program=acme, return_window_days=14)
    send(acme, event("p1", "purchase", "alice", "100.00", order_id="o-1"))
    send(acme, event("r1", "refund", "alice", "25.00", order_id="o-1"))
    assert account(alice) == (0, 75)
    clawback = Clawback.objects.get()
    assert (clawback.points_due, clawback.points_taken, clawback.points_unrecovered) == (25, 25, 0)
    assert_ledger_ok()


def test_refund_after_spending_records_unrecovered(acme, alice, assert_ledger_ok):
    RewardsSettings.objects.create(program=acme, return_window_days=0)
    send(acme, event("p1", "purchase", "alice", "100.00", order_id="o-1"))
    ledger.adjust_points(customer=alice, points=-80, reason="spent", actor="t", idempotency_key="s")
    send(acme, event("r1", "refund", "alice", "100.00", order_id="o-1"))
    clawback = Clawback.objects.get()
    assert (clawback.points_due, clawback.points_taken, clawback.points_unrecovered) == (100, 20, 80)
    assert account(alice) == (0, 0)
    assert_ledger_ok()


def test_tier_upgrade_at_once_and_multiplier(acme, alice):
    RewardsSettings.objects.create(program=acme, return_window_days=0)
    make_tiers(acme)
    send(acme, event("p1", "purchase", "alice", "600.00", order_id="o-1"))
    alice.refresh_from_db()
    assert alice.tier == "Silver"
    assert tiers.get_earn_multiplier(alice) == Decimal("1.25")
    assert Event.objects.filter(type="tier_changed", customer=alice).values_list("properties", flat=True)[0] == {
        "from": "",
        "to": "Silver",
    }
    send(acme, event("p2", "purchase", "alice", "100.00", order_id="o-2"))
    assert account(alice) == (725, 0)  # 600 + 100 x 1.25


def test_downgrade_waits_for_review_and_drops_one_tier(acme, alice):
    settings = RewardsSettings.objects.create(program=acme, tier_window_days=30, tier_review_months=3)
    make_tiers(acme)
    start = datetime(2026, 1, 10, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        ledger.grant_points(customer=alice, points=2500, reason="big", idempotency_key="big")
        tiers.recompute_tiers(acme)
    state = CustomerTier.objects.get(customer=alice)
    assert (state.tier.name, state.review_at) == ("Gold", date(2026, 5, 1))
    assert settings.tier_window_days == 30

    with time_machine.travel(start + timedelta(days=60), tick=False):  # points left the window
        tiers.recompute_tiers(acme)
        progress = tiers.get_tier_progress(alice)
    alice.refresh_from_db()
    assert alice.tier == "Gold"  # no downgrade before the review date
    assert progress["downgrade"]["to"].name == "Silver"
    assert progress["downgrade"]["on"] == date(2026, 5, 1)
    assert progress["downgrade"]["points_needed"] == 2000

    with time_machine.travel(datetime(2026, 5, 2, tzinfo=UTC), tick=False):
        tiers.recompute_tiers(acme)
    alice.refresh_from_db()
    state.refresh_from_db()
    assert (alice.tier, state.review_at) == ("Silver", date(2026, 9, 1))  # one tier down, new period


def test_referral_events_tie_referrer_and_referee(acme, alice, bob, assert_ledger_ok):
    RewardsSettings.objects.create(program=acme, referral_points=150)
    send(acme, event("ref1", "referral_sent", "alice", referred_customer="bob"))
    send(acme, event("ref2", "referral_converted", "alice", referred_customer="bob"))
    send(acme, event("ref3", "referral_converted", "alice", referred_customer="bob"))
    send(acme, event("ref4", "referral_converted", "alice", referred_customer="alice"))  # self: ignored

    referral = Referral.objects.get()
    assert (referral.referrer, referral.referee, referral.status) == (alice, bob, "converted")
    assert account(alice) == (150, 0)
    assert get_referral_stats(alice) == {"sent": 1, "converted": 1, "points": 150}
    code = get_referral_code(alice)
    assert get_referral_code(alice).code == code.code and len(code.code) == 8
    assert Customer.objects.get(pk=bob.pk).tier == ""
    assert_ledger_ok()
