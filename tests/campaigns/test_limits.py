"""Per-customer caps, budgets in points and money, total grants, self-pausing."""

from datetime import timedelta
from decimal import Decimal

from engagement.webhooks.models import WebhookEvent
from rewards.campaigns import lifecycle
from rewards.campaigns.models import ActionRun, Campaign, CampaignEffect
from tests.campaigns.conftest import ago, balance, ev, ingest, make_campaign


def buy(customer, n, at=None):
    return ev(customer, "purchase", value="10.00", order_id=f"{customer.external_id}-{n}", at=at)


def statuses(campaign):
    return sorted(CampaignEffect.objects.filter(campaign=campaign).values_list("customer__external_id", "status"))


def test_once_ever(acme, alice):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"}, limits={"per_customer": 1})
    ingest(acme, [buy(alice, 1), buy(alice, 2)])
    ingest(acme, [buy(alice, 3)])

    assert statuses(campaign) == [("alice", "limited"), ("alice", "limited"), ("alice", "qualified")]
    assert balance(alice) == 10


def test_n_per_period(acme, alice):
    campaign = make_campaign(
        acme, "event", {"event_type": "purchase"}, limits={"per_customer": 2, "per_customer_period_days": 7}
    )
    ingest(acme, [buy(alice, i, at=ago(days=20, hours=-i)) for i in range(3)])  # 3 in one week: 2 count
    ingest(acme, [buy(alice, 10 + i, at=ago(days=2, hours=-i)) for i in range(3)])  # a new week: 2 more

    assert sorted(CampaignEffect.objects.filter(campaign=campaign).values_list("status", flat=True)) == [
        "limited",
        "limited",
        "qualified",
        "qualified",
        "qualified",
        "qualified",
    ]
    assert balance(alice) == 40


def test_points_budget_exhaustion_pauses_the_campaign_and_records_the_webhook(acme, alice, bob, carol):
    campaign = make_campaign(
        acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 40})], limits={"budget_points": 100}
    )
    ingest(acme, [buy(alice, 1), buy(bob, 1), buy(carol, 1)])

    campaign.refresh_from_db()
    assert (campaign.status, campaign.paused_reason, campaign.spent_points) == ("paused", "budget_exhausted", 80)
    assert statuses(campaign) == [("alice", "qualified"), ("bob", "qualified"), ("carol", "budget_exhausted")]
    assert (balance(alice), balance(bob), balance(carol)) == (40, 40, 0)
    event = WebhookEvent.objects.get(type="campaign.budget_exhausted")
    assert (event.payload["campaign"], event.payload["spent_points"], event.payload["budget_points"]) == (
        campaign.pk,
        80,
        100,
    )

    # paused: later purchases do nothing
    ingest(acme, [buy(alice, 2)])
    assert CampaignEffect.objects.filter(campaign=campaign).count() == 3


def test_resume_needs_a_bigger_budget(acme, alice, bob):
    campaign = make_campaign(
        acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 60})], limits={"budget_points": 100}
    )
    ingest(acme, [buy(alice, 1), buy(bob, 1)])
    campaign.refresh_from_db()
    assert campaign.status == "paused"

    lifecycle.update_campaign(campaign, {"limits": {"budget_points": 200}})
    campaign.refresh_from_db()
    lifecycle.resume(campaign)
    ingest(acme, [buy(bob, 2)])

    campaign.refresh_from_db()
    assert (campaign.status, campaign.spent_points, balance(bob)) == ("active", 120, 60)


def test_money_budget_on_payouts(acme, alice, bob):
    campaign = make_campaign(
        acme,
        "event",
        {"event_type": "purchase"},
        [("create_payout", {"amount": "6.00", "method": "voucher"})],
        limits={"budget_money": "10.00"},
    )
    ingest(acme, [buy(alice, 1), buy(bob, 1)])

    campaign.refresh_from_db()
    assert (campaign.status, campaign.spent_money) == ("paused", Decimal("6.00"))
    assert list(
        ActionRun.objects.filter(campaign=campaign).order_by("customer_id").values_list("status", flat=True)
    ) == [
        "done",
        "budget_exhausted",
    ]


def test_max_grants(acme, alice, bob, carol):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"}, limits={"max_grants": 2})
    ingest(acme, [buy(alice, 1), buy(bob, 1), buy(carol, 1)])

    campaign.refresh_from_db()
    assert (campaign.status, campaign.grants_count) == ("paused", 2)
    assert [s for _, s in statuses(campaign)] == ["qualified", "qualified", "budget_exhausted"]


def test_delayed_action_charges_the_budget_when_it_runs(acme, alice, bob):
    from django.utils import timezone

    from rewards.campaigns import scheduling

    campaign = make_campaign(
        acme,
        "event",
        {"event_type": "purchase"},
        [{"kind": "grant_points", "config": {"points": 70}, "delay_minutes": 5}],
        limits={"budget_points": 100},
    )
    ingest(acme, [buy(alice, 1), buy(bob, 1)])
    assert Campaign.objects.get(pk=campaign.pk).spent_points == 0

    scheduling.release_due_actions(now=timezone.now() + timedelta(minutes=6))

    campaign.refresh_from_db()
    assert (campaign.status, campaign.spent_points) == ("paused", 70)
    assert sorted(ActionRun.objects.values_list("status", flat=True)) == ["budget_exhausted", "done"]


def test_the_limits_of_every_campaign_in_a_batch_are_read_by_one_statement(acme, alice, bob):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    once = make_campaign(acme, "event", {"event_type": "purchase"}, limits={"per_customer": 1}, name="once")
    weekly = make_campaign(
        acme,
        "event",
        {"event_type": "purchase"},
        limits={"per_customer": 2, "per_customer_period_days": 7},
        name="weekly",
    )
    free = make_campaign(acme, "event", {"event_type": "purchase"}, name="free")
    # given: alice already won both limited campaigns 10 days ago (outside weekly's week)
    ingest(acme, [buy(alice, 0, at=ago(days=10))])

    with CaptureQueriesContext(connection) as queries:
        ingest(acme, [buy(alice, i, at=ago(hours=5 - i)) for i in range(1, 4)] + [buy(bob, 1, at=ago(hours=1))])

    usage_reads = [q for q in queries.captured_queries if "AS l(campaign_id, since)" in q["sql"]]
    assert len(usage_reads) == 1
    assert statuses(once) == [("alice", "limited")] * 3 + [("alice", "qualified"), ("bob", "qualified")]
    assert statuses(weekly) == [("alice", "limited")] + [("alice", "qualified")] * 3 + [("bob", "qualified")]
    assert statuses(free) == [("alice", "qualified")] * 4 + [("bob", "qualified")]
    assert (balance(alice), balance(bob)) == (10 + 30 + 40, 30)
