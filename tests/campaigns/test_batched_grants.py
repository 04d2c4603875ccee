"""Grants of points are written set-based per pass (engine.ActionBatch): one bulk grant for
every campaign of a batch, with the same keys, results and webhooks as one grant at a time."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from engagement.ingest import record_events
from engagement.processing import process_events
from engagement.webhooks.models import WebhookDelivery, WebhookEvent
from rewards.campaigns import engine
from rewards.campaigns.models import ActionRun, CampaignEffect, PendingTrigger
from rewards.models import LedgerEntry, PointsAccount
from tests.campaigns.conftest import ago, ev, ingest, make_campaign
from tests.factories import CustomerFactory
from tests.webhooks.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_several_campaigns_in_one_batch_grant_with_exact_entries_runs_and_webhooks(acme, alice, bob):
    SubscriptionFactory(program=acme, event_types=["reward.granted"])
    big = make_campaign(
        acme, "event", {"event_type": "purchase", "min_value": "100"}, [("grant_points", {"points": 50})]
    )
    every = make_campaign(
        acme, "event", {"event_type": "purchase"}, [("grant_points", {"percent": "10", "reason": "Ten percent"})]
    )
    budgeted = make_campaign(
        acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 7})], limits={"budget_points": 1000}
    )

    ingest(acme, [ev(alice, "purchase", value="150", order_id="a1"), ev(bob, "purchase", value="40", order_id="b1")])

    entries = LedgerEntry.objects.filter(source_type="campaign").order_by("id")
    rows = [(e.customer.external_id, e.source_id, e.points, e.reason) for e in entries]
    assert sorted(rows) == sorted(
        [
            ("alice", str(big.pk), 50, "Campaign: event campaign"),
            ("alice", str(every.pk), 15, "Ten percent"),
            ("alice", str(budgeted.pk), 7, "Campaign: event campaign"),
            ("bob", str(every.pk), 4, "Ten percent"),
            ("bob", str(budgeted.pk), 7, "Campaign: event campaign"),
        ]
    )
    # the base earn rule (150 + 40, pending for the return window) plus the campaigns' points
    assert dict(PointsAccount.objects.values_list("customer__external_id", "balance")) == {"alice": 72, "bob": 11}
    runs = ActionRun.objects.filter(campaign__in=[big, every, budgeted]).order_by("id")
    assert {(r.status, r.detail, r.points) for r in runs} == {
        ("done", "50 points", 50),
        ("done", "15 points", 15),
        ("done", "7 points", 7),
        ("done", "4 points", 4),
    }
    for run in runs:
        entry = LedgerEntry.objects.get(pk=run.result["ledger_entry"])
        assert entry.idempotency_key == f"campaign-effect:{run.effect_id}:{run.action_id}"
        assert (entry.customer_id, entry.points) == (run.customer_id, run.points)
    granted = WebhookEvent.objects.filter(type="reward.granted")
    assert sorted(e.payload["ledger_entry"] for e in granted) == [e.pk for e in entries]
    assert {d.event_id for d in WebhookDelivery.objects.all()} == {e.pk for e in granted}
    budgeted.refresh_from_db()
    assert (budgeted.spent_points, budgeted.grants_count) == (14, 2)


def test_one_ledger_pass_for_the_whole_batch(acme):
    """The grants of all campaigns share one bulk grant: one lock of the accounts."""
    customers = [CustomerFactory(program=acme, external_id=f"q{n}") for n in range(6)]
    for points in (5, 6, 7):
        make_campaign(acme, "event", {"event_type": "social_like"}, [("grant_points", {"points": points})])
    ids = record_events(acme, [ev(c, "social_like", network="x") for c in customers], enqueue=False).event_ids
    from django.db import connection

    with CaptureQueriesContext(connection) as queries:
        process_events(ids)

    locks = [q["sql"] for q in queries if "rewards_pointsaccount" in q["sql"] and "FOR UPDATE" in q["sql"]]
    assert len(locks) == 1
    assert LedgerEntry.objects.filter(source_type="campaign").count() == 18
    assert sorted(PointsAccount.objects.values_list("balance", flat=True)) == [18] * 6


def test_replayed_pass_grants_nothing_more(acme, alice, bob):
    make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 25})])
    make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 5})])
    ids = ingest(acme, [ev(alice, "purchase", value="10", order_id="1"), ev(bob, "purchase", value="10", order_id="2")])

    with transaction.atomic():
        engine.handle_events(acme.pk, ids)

    assert sorted(
        LedgerEntry.objects.filter(source_type="campaign").values_list("customer__external_id", "points")
    ) == [("alice", 5), ("alice", 25), ("bob", 5), ("bob", 25)]
    assert ActionRun.objects.count() == 4


def test_emitted_webhooks_of_a_batch_are_one_bulk_write_with_their_keys(acme, alice, bob):
    SubscriptionFactory(program=acme)
    campaign = make_campaign(
        acme, "event", {"event_type": "app_uninstalled"}, [("emit_webhook", {"type": "survey.detractor"})]
    )
    ids = ingest(acme, [ev(alice, "app_uninstalled"), ev(bob, "app_uninstalled")])

    runs = list(ActionRun.objects.filter(campaign=campaign).order_by("customer_id"))
    assert [(r.status, r.detail) for r in runs] == [("done", "survey.detractor"), ("done", "survey.detractor")]
    for run in runs:
        event = WebhookEvent.objects.get(pk=run.result["webhook_event"])
        assert event.idempotency_key == f"campaign-effect:{run.effect_id}:{run.action_id}"
        assert (event.type, event.payload["campaign"], event.payload["occurrence"]) == (
            "survey.detractor",
            campaign.pk,
            run.effect.occurrence,
        )
        assert event.payload["customer"] == run.customer.external_id
    assert WebhookDelivery.objects.count() == 2

    with transaction.atomic():
        engine.handle_events(acme.pk, ids)
    assert WebhookEvent.objects.filter(type="survey.detractor").count() == 2


def test_the_effects_of_every_campaign_of_a_batch_are_one_insert_in_campaign_order(acme, alice, bob, carol):
    # Given: four campaigns on purchases evaluated in the order (-priority, id): a capped one
    # (max 1 grant, pauses), a once-per-customer one, one with no limit and a deferred trigger
    capped = make_campaign(
        acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 5})], limits={"max_grants": 1}
    )
    once = make_campaign(
        acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 3})], limits={"per_customer": 1}
    )
    first = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 2})], priority=9)
    cart = make_campaign(acme, "cart_abandoned", {"minutes": 15})
    # and a statement-level trigger counting the INSERT statements into the effects table
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE effect_inserts (n int)")
        cursor.execute(
            "CREATE FUNCTION count_effect_inserts() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN INSERT INTO effect_inserts VALUES (1); RETURN NULL; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER count_effect_inserts AFTER INSERT ON campaigns_campaigneffect"
            " FOR EACH STATEMENT EXECUTE FUNCTION count_effect_inserts()"
        )

    # When: one batch holds two purchases of alice, one of bob and carol's abandoned cart
    ingest(
        acme,
        [
            ev(alice, "purchase", value="10", order_id="a1", at=ago(minutes=3)),
            ev(alice, "purchase", value="20", order_id="a2", at=ago(minutes=2)),
            ev(bob, "purchase", value="30", order_id="b1", at=ago(minutes=1)),
            ev(carol, "cart_abandoned", cart_id="c1"),
        ],
    )

    # Then: one INSERT recorded the effects of the three campaigns, ids in campaign order
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM effect_inserts")
        assert cursor.fetchone()[0] == 1
    effects = CampaignEffect.objects.order_by("id")
    assert [(e.campaign_id, e.customer.external_id, e.status) for e in effects] == [
        (first.pk, "alice", "qualified"),
        (first.pk, "alice", "qualified"),
        (first.pk, "bob", "qualified"),
        (capped.pk, "alice", "qualified"),
        (capped.pk, "alice", "budget_exhausted"),
        (once.pk, "alice", "qualified"),
        (once.pk, "alice", "limited"),
        (once.pk, "bob", "qualified"),
    ]
    # the grants, in the same order, with their runs; the capped campaign paused
    entries = LedgerEntry.objects.filter(source_type="campaign").order_by("id")
    assert [(e.source_id, e.customer.external_id, e.points, e.balance_after) for e in entries] == [
        (str(first.pk), "alice", 2, 2),
        (str(first.pk), "alice", 2, 4),
        (str(first.pk), "bob", 2, 2),
        (str(capped.pk), "alice", 5, 9),
        (str(once.pk), "alice", 3, 12),
        (str(once.pk), "bob", 3, 5),
    ]
    runs = ActionRun.objects.order_by("id")
    assert [(r.campaign_id, r.effect_id, r.status, r.points) for r in runs] == [
        (e.campaign_id, e.pk, "done", p) for e, p in zip(effects.filter(status="qualified"), [2, 2, 2, 5, 3, 3])
    ]
    assert [r.result["ledger_entry"] for r in runs] == [e.pk for e in entries]
    capped.refresh_from_db()
    assert (capped.status, capped.grants_count) == ("paused", 1)
    assert list(PendingTrigger.objects.values_list("campaign_id", "customer__external_id")) == [(cart.pk, "carol")]


def test_grants_of_points_read_no_customer_row_other_actions_do(acme, alice, bob):
    # Given: a campaign granting points on purchases, one emitting a webhook on uninstalls
    SubscriptionFactory(program=acme)
    points = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 4})])
    hook = make_campaign(
        acme, "event", {"event_type": "app_uninstalled"}, [("emit_webhook", {"type": "survey.detractor"})]
    )
    ids = record_events(
        acme, [ev(alice, "purchase", value="10", order_id="a1"), ev(bob, "app_uninstalled")], enqueue=False
    ).event_ids

    # When: the batch is processed
    with CaptureQueriesContext(connection) as queries:
        process_events(ids)

    # Then: the campaigns read bob's row (for the payload) and not alice's (a grant needs her id)
    reads = [q["sql"] for q in queries if '"engagement_customer"."id" IN (SELECT unnest(' in q["sql"]]
    assert len(reads) == 1 and f"{{{bob.pk}}}" in reads[0]
    granted = LedgerEntry.objects.filter(source_type="campaign")
    assert list(granted.values_list("customer_id", "points", "balance_after")) == [(alice.pk, 4, 4)]
    assert PointsAccount.objects.get(customer=alice).balance == 4
    run = ActionRun.objects.get(campaign=hook)
    event = WebhookEvent.objects.get(pk=run.result["webhook_event"])
    assert (event.payload["customer"], event.payload["campaign"]) == ("bob", hook.pk)
    assert ActionRun.objects.get(campaign=points).result == {
        "ledger_entry": LedgerEntry.objects.get(source_type="campaign").pk
    }
