"""Grants of points are written set-based per pass (engine.ActionBatch): one bulk grant for
every campaign of a batch, with the same keys, results and webhooks as one grant at a time."""

import pytest
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from engagement.ingest import record_events
from engagement.processing import process_events
from engagement.webhooks.models import WebhookDelivery, WebhookEvent
from rewards.campaigns import engine
from rewards.campaigns.models import ActionRun
from rewards.models import LedgerEntry, PointsAccount
from tests.campaigns.conftest import ev, ingest, make_campaign
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
