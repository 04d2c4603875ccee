"""One bulk ledger write per processing batch (rewards.grant_batch): the earn rule, referrals
and campaigns queue their grants and the end of the batch writes them all, with the same
entries, balances, keys and webhooks as one write per handler."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engagement.ingest import record_events
from engagement.processing import process_events
from engagement.webhooks.models import WebhookEvent
from rewards.campaigns.models import ActionRun
from rewards.models import Clawback, LedgerEntry, PointsAccount, RewardsSettings
from tests.campaigns.conftest import ev, make_campaign
from tests.factories import CustomerFactory
from tests.rewards.factories import make_tiers
from tests.webhooks.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def process(program, events):
    """Store `events` as one ingest batch and process them as one processing batch."""
    ids = record_events(program, events, enqueue=False).event_ids
    with CaptureQueriesContext(connection) as queries:
        process_events(ids)
    return [q["sql"] for q in queries]


def account_locks(sql):
    return [s for s in sql if "rewards_pointsaccount" in s and "FOR UPDATE" in s]


def ledger_rows(program):
    entries = LedgerEntry.objects.filter(program=program).select_related("customer").order_by("id")
    return [
        (e.customer.external_id, e.kind, e.idempotency_key.split(":")[0], e.points, e.balance_after) for e in entries
    ]


def test_earn_rule_referral_and_campaign_share_one_bulk_write(acme, alice, bob, assert_ledger_ok):
    # Given: spendable purchases, a referral reward and a campaign on purchases, a subscriber
    RewardsSettings.objects.create(program=acme, return_window_days=0, referral_points=150)
    SubscriptionFactory(program=acme, event_types=["reward.granted"])
    campaign = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 10})])

    # When: one batch holds a purchase each and alice's referral of bob
    sql = process(
        acme,
        [
            ev(alice, "purchase", value="40", order_id="a1"),
            ev(bob, "purchase", value="25", order_id="b1"),
            ev(alice, "referral_converted", referred_customer="bob"),
        ],
    )

    # Then: one bulk_grant: one lock pass of the accounts, one lookup of the keys
    assert len(account_locks(sql)) == 1
    assert len([s for s in sql if s.startswith("SELECT id FROM rewards_ledgerentry") and "idempotency_key" in s]) == 1
    # in the order of the handlers' writes before: earn rule, referral, campaign
    assert ledger_rows(acme) == [
        ("alice", "earn", "earn", 40, 40),
        ("bob", "earn", "earn", 25, 25),
        ("alice", "earn", "referral", 150, 190),
        ("alice", "earn", "campaign-effect", 10, 200),
        ("bob", "earn", "campaign-effect", 10, 35),
    ]
    assert dict(PointsAccount.objects.values_list("customer__external_id", "balance")) == {"alice": 200, "bob": 35}
    # reward.granted for the referral and the campaign's grants, none for the earn rule
    granted = WebhookEvent.objects.filter(type="reward.granted").order_by("id")
    assert [(e.payload["customer"], e.payload["points"], e.payload["balance"]) for e in granted] == [
        ("alice", 150, 190),
        ("alice", 10, 200),
        ("bob", 10, 35),
    ]
    runs = ActionRun.objects.filter(campaign=campaign).order_by("customer_id")
    assert [(r.status, r.points, LedgerEntry.objects.get(pk=r.result["ledger_entry"]).points) for r in runs] == [
        ("done", 10, 10),
        ("done", 10, 10),
    ]
    assert_ledger_ok()


def test_tier_reached_by_grants_still_queued_multiplies_the_campaign_grant(acme, alice, assert_ledger_ok):
    """The order-dependent case: the tier recompute (after the earn rule and referrals)
    reads points the batch has not written yet, and the campaigns after it read that tier."""
    RewardsSettings.objects.create(program=acme, return_window_days=0, referral_points=450)
    make_tiers(acme)  # Silver from 500 points, x1.25
    make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 100})])
    silver_only = make_campaign(
        acme,
        "event",
        {"event_type": "purchase"},
        [("grant_points", {"points": 8, "tier_multiplier": False})],
        audience={"kind": "tier", "values": ["Silver"]},
        name="silver only",
    )

    # 100 from the purchase + 450 from the referral: Silver only when both count
    sql = process(
        acme,
        [ev(alice, "purchase", value="100", order_id="a1"), ev(alice, "referral_converted", referred_customer="zed")],
    )

    alice.refresh_from_db()
    assert alice.tier == "Silver"
    assert ledger_rows(acme) == [
        ("alice", "earn", "earn", 100, 100),
        ("alice", "earn", "referral", 450, 550),
        ("alice", "earn", "campaign-effect", 125, 675),  # 100 x 1.25: the tier of this very batch
        ("alice", "earn", "campaign-effect", 8, 683),
    ]
    assert ActionRun.objects.get(campaign=silver_only).status == "done"
    assert len(account_locks(sql)) == 1
    assert_ledger_ok()


def test_points_already_in_the_ledger_are_not_counted_twice_for_the_tier(acme, alice):
    RewardsSettings.objects.create(program=acme, return_window_days=0, referral_points=450)
    make_tiers(acme)
    process(acme, [ev(alice, "referral_converted", referred_customer="zed")])  # 450, no tier yet
    alice.refresh_from_db()
    assert alice.tier == ""

    # the same referral again (its key is used: nothing more) and a purchase of 40: 490 < 500
    process(
        acme,
        [ev(alice, "purchase", value="40", order_id="a1"), ev(alice, "referral_converted", referred_customer="zed")],
    )

    alice.refresh_from_db()
    assert alice.tier == "Bronze"
    assert PointsAccount.objects.get(customer=alice).balance == 490


def test_refund_in_the_batch_of_its_purchase_sees_the_earned_points(acme, alice, assert_ledger_ok):
    RewardsSettings.objects.create(program=acme, return_window_days=14)

    process(acme, [ev(alice, "purchase", value="100", order_id="o-1"), ev(alice, "refund", value="25", order_id="o-1")])

    account = PointsAccount.objects.get(customer=alice)
    assert (account.balance, account.pending) == (0, 75)
    clawback = Clawback.objects.get()
    assert (clawback.points_due, clawback.points_taken, clawback.points_unrecovered) == (25, 25, 0)
    assert_ledger_ok()


def test_a_grant_failing_alone_does_not_block_the_others(acme, alice, bob):
    """The fallback after a failed bulk write: each grant alone in its savepoint; the bad one
    is recorded on its run (cost refunded to the budget), the others are written once."""
    carol = CustomerFactory(program=acme, external_id="carol")
    RewardsSettings.objects.create(program=acme, return_window_days=0)
    SubscriptionFactory(program=acme, event_types=["reward.granted"])
    campaign = make_campaign(
        acme, "event", {"event_type": "social_like"}, [("grant_points", {"points": 10})], limits={"budget_points": 1000}
    )
    # bob's balance is at the top of bigint: 10 more cannot be stored (DataError, not transient)
    PointsAccount.objects.create(program=acme, customer=bob, balance=2**63 - 5)

    process(
        acme,
        [
            ev(alice, "purchase", value="30", order_id="a1"),
            ev(alice, "social_like", network="x"),
            ev(bob, "social_like", network="x"),
            ev(carol, "social_like", network="x"),
        ],
    )

    assert ledger_rows(acme) == [
        ("alice", "earn", "earn", 30, 30),
        ("alice", "earn", "campaign-effect", 10, 40),
        ("carol", "earn", "campaign-effect", 10, 10),
    ]
    assert dict(PointsAccount.objects.values_list("customer__external_id", "balance")) == {
        "alice": 40,
        "bob": 2**63 - 5,
        "carol": 10,
    }
    runs = {r.customer.external_id: r for r in ActionRun.objects.filter(campaign=campaign).select_related("customer")}
    assert {name: (r.status, r.points) for name, r in runs.items()} == {
        "alice": ("done", 10),
        "bob": ("failed", 0),
        "carol": ("done", 10),
    }
    assert runs["bob"].detail.startswith("DataError: ")
    campaign.refresh_from_db()
    assert (campaign.spent_points, campaign.grants_count) == (20, 3)
    granted = WebhookEvent.objects.filter(type="reward.granted").order_by("id")
    assert [(e.payload["customer"], e.payload["points"]) for e in granted] == [("alice", 10), ("carol", 10)]


def test_outside_a_processing_batch_handlers_write_at_once(acme, alice):
    from engagement.models import Event
    from rewards import earning

    RewardsSettings.objects.create(program=acme, return_window_days=0)
    ids = record_events(acme, [ev(alice, "purchase", value="12", order_id="a1")], enqueue=False).event_ids

    earning.handle_events(acme.pk, ids)

    assert PointsAccount.objects.get(customer=alice).balance == 12
    assert Event.objects.filter(pk__in=ids, processed_at__isnull=True).count() == 1
    assert Decimal(LedgerEntry.objects.get().points) == 12


# --- bulk_grant itself: one statement for entries and lots, two for the account locks -------


def test_bulk_grant_writes_every_column_of_entries_and_lots(acme, alice, bob):
    from datetime import UTC, datetime, timedelta

    from django.contrib.auth import get_user_model

    from rewards import activity, ledger
    from rewards.models import PointsLot

    RewardsSettings.objects.create(program=acme, points_validity_days=0)
    staff = get_user_model().objects.create_user("ops", password="x")
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    later = now + timedelta(days=14)
    grants = [
        ledger.Grant(alice, 30, activity.referral("zed"), "k-1", actor=staff, source=("order", 7), pending_until=later),
        ledger.Grant(bob, 5, "Goodwill", "k-2", actor="support", expires_at=now + timedelta(days=40)),
        ledger.Grant(alice, 9, "Twice", "k-1"),  # the same key again in the call: one entry
    ]

    entries = ledger.bulk_grant(acme, grants, now=now)

    assert [e.pk for e in entries] == [entries[0].pk, entries[1].pk, entries[0].pk]
    stored = list(LedgerEntry.objects.order_by("id"))
    assert [(e.pk, e.idempotency_key) for e in stored] == [(entries[0].pk, "k-1"), (entries[1].pk, "k-2")]
    columns = [f.attname for f in LedgerEntry._meta.concrete_fields]
    for returned, row in zip(entries[:2], stored, strict=True):
        assert [getattr(returned, c) for c in columns] == [getattr(row, c) for c in columns]
    first, second = stored
    assert (first.kind, first.points, first.pending_points, first.balance_after) == ("earn", 0, 30, 0)
    assert (first.reason, first.message_code, first.message_params) == ("Referral: zed", "referral", {})
    assert (first.actor_id, first.actor_label, first.source_type, first.source_id) == (staff.pk, "ops", "order", "7")
    assert (first.expires_at, first.pending_until, first.created_at) == (None, later, now)
    assert (second.points, second.pending_points, second.balance_after, second.actor_id) == (5, 0, 5, None)
    # expiry rounded up to the end of its month in the program's time zone (UTC+8)
    assert (second.actor_label, second.message_code) == ("support", "")
    assert second.expires_at == datetime(2026, 4, 30, 15, 59, 59, tzinfo=UTC)
    lots = [
        (lot.entry_id, lot.status, lot.points, lot.remaining, lot.available_at)
        for lot in PointsLot.objects.order_by("id")
    ]
    assert lots == [(first.pk, "pending", 30, 30, later), (second.pk, "available", 5, 5, now)]
    assert dict(PointsAccount.objects.values_list("customer__external_id", "pending")) == {"alice": 30, "bob": 0}


def test_lock_accounts_creates_only_the_missing_accounts_without_burning_ids(acme, alice, bob):
    from rewards import ledger

    carol = CustomerFactory(program=acme, external_id="carol")
    first = ledger.get_account(bob)

    with CaptureQueriesContext(connection) as queries:
        accounts = ledger.lock_accounts([carol, alice, bob, alice])

    assert len(queries) == 2
    assert {c: a.pk for c, a in accounts.items()} == {alice.pk: first.pk + 1, bob.pk: first.pk, carol.pk: first.pk + 2}
    assert sorted(PointsAccount.objects.values_list("customer_id", "balance", "pending")) == sorted(
        [(alice.pk, 0, 0), (bob.pk, 0, 0), (carol.pk, 0, 0)]
    )
    again = ledger.lock_accounts([alice, bob, carol])  # nothing missing: no sequence value drawn
    assert {a.pk for a in again.values()} == {first.pk, first.pk + 1, first.pk + 2}
    dave = CustomerFactory(program=acme, external_id="dave")
    assert ledger.lock_accounts([dave])[dave.pk].pk == first.pk + 3
