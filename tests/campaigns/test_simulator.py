"""The simulator predicts exactly what the campaign then does, and changes nothing."""

from datetime import timedelta
from decimal import Decimal

from django.apps import apps
from django.db.models import Sum
from django.utils import timezone

from engagement.ingest import record_events
from engagement.processing import process_events
from rewards.campaigns.models import ActionRun, CampaignEffect
from rewards.campaigns.simulator import simulate
from tests.campaigns.conftest import ev, make_campaign
from tests.factories import CustomerFactory


def row_counts():
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_simulation_matches_the_real_run_and_writes_nothing(acme):
    customers = [CustomerFactory(program=acme, external_id=f"s-{n}") for n in range(12)]
    start = timezone.now() - timedelta(days=10)
    events = []
    for n, customer in enumerate(customers):
        for k in range(n % 4 + 1):
            value = Decimal(40 + 17 * n + 9 * k)
            events.append(
                ev(customer, "purchase", value=value, order_id=f"{n}-{k}", at=start + timedelta(hours=n * 5 + k))
            )
    stored = record_events(acme, events, enqueue=False).event_ids  # stored, not yet processed
    campaign = make_campaign(
        acme,
        "event",
        {"event_type": "purchase", "min_value": "60"},
        [
            ("grant_points", {"percent": "10", "rounding": "half_up"}),
            ("create_payout", {"amount": "2.50", "method": "voucher"}),
            ("send_message", {"template_key": "win_back", "channels": ["email"]}),
        ],
        limits={"per_customer": 2, "budget_points": 150},
    )
    before = row_counts()

    report = simulate(campaign, start, timezone.now())

    assert row_counts() == before
    # when: the campaign runs over the same events for real
    process_events(stored)

    effects = CampaignEffect.objects.filter(campaign=campaign)
    done = ActionRun.objects.filter(campaign=campaign, status="done")
    assert report["qualified"] == effects.filter(status="qualified").count()
    assert report["limited"] == effects.filter(status="limited").count()
    assert report["over_budget"] == effects.filter(status="budget_exhausted").count()
    assert report["customers"] == effects.filter(status="qualified").values("customer").distinct().count()
    assert report["points"] == done.aggregate(s=Sum("points"))["s"]
    assert report["money"] == done.aggregate(s=Sum("money"))["s"]
    assert report["actions"]["grant_points"] == done.filter(kind="grant_points").count()
    assert report["actions"]["send_message"] == done.filter(kind="send_message").count()
    assert (report["qualified"], report["over_budget"]) == (12, 7)  # the budget ran out, as predicted
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    first = report["sample"][0]
    run = done.get(kind="grant_points", effect__occurrence=first["occurrence"])
    assert (first["customer"], first["points"]) == (run.customer.external_id, run.points)
