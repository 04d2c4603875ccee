"""One campaign cannot stall a program's event processing (issue 13): a campaign that raises
during a batch is rolled back alone, moved to `error` with the error recorded and a
campaign.failed webhook queued, while the base processing and every other campaign commit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from engagement import hooks
from engagement.ingest import record_events
from engagement.models import Customer, Event
from engagement.processing import process_stranded_events
from engagement.webhooks.models import WebhookDelivery, WebhookEvent
from rewards.campaigns.models import Campaign, CampaignAction, CampaignStatusChange
from tests.campaigns.conftest import balance, ev, ingest, make_campaign
from tests.webhooks.factories import SubscriptionFactory

POISONS = {
    # What issue 13 found accepted by the API; stored here behind validation's back.
    "min_value NaN": ({"event_type": "purchase", "min_value": "NaN"}, {"points": 10}),
    "percent 1e999999": ({"event_type": "purchase"}, {"percent": "1e999999"}),
}


def poison_campaign(program, name):
    trigger_config, action_config = POISONS[name]
    campaign = Campaign.objects.create(
        program=program, name="Poison", status="active", trigger_kind="event", trigger_config=trigger_config
    )
    CampaignAction.objects.create(campaign=campaign, kind="grant_points", config=action_config)
    return campaign


@pytest.mark.parametrize("poison", sorted(POISONS))
def test_a_failing_campaign_goes_to_error_and_the_batch_commits(acme, alice, bob, poison):
    # Given a poison campaign that raises on purchases, a good one, and a partner subscribed
    bad = poison_campaign(acme, poison)
    good = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 7})], priority=-1)
    subscription = SubscriptionFactory(program=acme, event_types=["campaign.failed"])

    # When a batch with both customers' purchases is processed
    ids = ingest(acme, [ev(alice, "purchase", value=50), ev(bob, "purchase", value=70)])

    # Then base processing and the good campaign's grants committed
    assert Event.objects.filter(id__in=ids, processed_at__isnull=True).count() == 0
    assert list(Customer.objects.filter(pk__in=[alice.pk, bob.pk]).order_by("pk").values_list("purchase_count")) == [
        (1,),
        (1,),
    ]
    assert (balance(alice), balance(bob)) == (7, 7)
    assert good.effects.count() == 2
    # and the poison campaign is in error, with nothing of it kept
    bad.refresh_from_db()
    assert bad.status == "error"
    assert bad.last_error and bad.last_error_at is not None
    assert bad.effects.count() == 0 and bad.runs.count() == 0
    assert list(CampaignStatusChange.objects.filter(campaign=bad).values_list("from_status", "to_status")) == [
        ("active", "error")
    ]
    # and campaign.failed was recorded, its delivery queued for the subscriber
    event = WebhookEvent.objects.get(type="campaign.failed")
    assert event.payload == {
        "campaign": bad.pk,
        "name": "Poison",
        "status": "error",
        "error": bad.last_error,
        "failed_at": bad.last_error_at.isoformat(),
    }
    assert list(WebhookDelivery.objects.filter(event=event).values_list("subscription_id", "status")) == [
        (subscription.pk, "pending")
    ]


def test_a_campaign_in_error_is_no_longer_evaluated(acme, alice):
    bad = poison_campaign(acme, "min_value NaN")
    good = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 7})])
    ingest(acme, [ev(alice, "purchase", value=50)])

    ingest(acme, [ev(alice, "purchase", value=60)])

    assert balance(alice) == 14
    assert good.effects.count() == 2
    assert CampaignStatusChange.objects.filter(campaign=bad).count() == 1
    assert WebhookEvent.objects.filter(type="campaign.failed").count() == 1


def _strand(program, events):
    ids = record_events(program, events, enqueue=False).event_ids
    Event.objects.filter(id__in=ids).update(received_at=timezone.now() - timedelta(minutes=10))
    return ids


def test_the_sweep_processes_a_batch_holding_a_poison_campaigns_events(acme, alice, bob):
    poison_campaign(acme, "min_value NaN")
    make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 7})])
    ids = _strand(acme, [ev(alice, "purchase", value=50), ev(bob, "purchase", value=70)])

    assert process_stranded_events() == 2

    assert Event.objects.filter(id__in=ids, processed_at__isnull=True).count() == 0
    assert (balance(alice), balance(bob)) == (7, 7)


@pytest.fixture
def handler_failing_for_bob(bob):
    """The campaigns event handler, made to fail on bob's events (registered in its slot)."""
    original = dict(hooks.event_handlers())["campaigns"]

    def handler(program_id, event_ids):
        if Event.objects.filter(id__in=event_ids, customer=bob).exists():
            raise RuntimeError("bob's events break this handler")
        original(program_id, event_ids)

    hooks.register_event_handler("campaigns", handler)
    yield handler
    hooks.register_event_handler("campaigns", original)


def test_the_sweep_never_loops_on_a_batch_whose_handlers_fail(acme, alice, bob, handler_failing_for_bob):
    # Given stranded events where one (bob's) makes a handler raise every time
    make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 7})])
    ids = _strand(acme, [ev(alice, "purchase", value=50), ev(bob, "purchase", value=70)])

    # When the sweep runs (twice, as beat would)
    first, second = process_stranded_events(), process_stranded_events()

    # Then every event is processed once; alice's got its campaign grant, bob's only its aggregates
    assert (first, second) == (2, 0)
    assert Event.objects.filter(id__in=ids, processed_at__isnull=True).count() == 0
    assert (balance(alice), balance(bob)) == (7, 0)
    assert Customer.objects.get(pk=bob.pk).purchase_count == 1


def test_the_admin_shows_the_error(acme, alice, admin_client):
    bad = poison_campaign(acme, "min_value NaN")
    ingest(acme, [ev(alice, "purchase", value=50)])
    bad.refresh_from_db()

    listing = admin_client.get("/admin/campaigns/campaign/?status__exact=error").content.decode()
    page = admin_client.get(f"/admin/campaigns/campaign/{bad.pk}/change/").content.decode()

    assert f"/admin/campaigns/campaign/{bad.pk}/change/" in listing
    assert "Error (paused: its evaluation failed)" in listing
    assert bad.last_error.split(":")[0] in page
    assert "Last error" in page


def test_the_api_shows_the_error_and_a_campaign_in_error_can_be_ended(acme, alice, acme_api):
    bad = poison_campaign(acme, "min_value NaN")
    ingest(acme, [ev(alice, "purchase", value=50)])
    bad.refresh_from_db()

    shown = acme_api.get(f"/api/v1/campaigns/{bad.pk}").json()
    listed = acme_api.get("/api/v1/campaigns?status=error").json()
    ended = acme_api.patch(f"/api/v1/campaigns/{bad.pk}", {"status": "ended"}, format="json")

    assert (shown["status"], shown["last_error"]) == ("error", bad.last_error)
    assert [c["id"] for c in listed["results"]] == [bad.pk]
    assert (ended.status_code, ended.json()["status"]) == (200, "ended")


def _savepoints(program, customer, campaigns):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(campaigns):
        make_campaign(program, "event", {"event_type": "purchase"}, name=f"plain {n}")
    with CaptureQueriesContext(connection) as queries:
        ingest(program, [ev(customer, "purchase", value=50)])
    return sum(1 for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT"))


def test_the_campaigns_of_a_batch_share_one_savepoint(acme, alice, bob):
    # given both customers' first purchases (their first batch creates their accounts)
    ingest(acme, [ev(alice, "purchase", value=50), ev(bob, "purchase", value=50)])
    # 3 campaigns, then 3 more: the batch with 6 takes no more savepoints than with 3
    assert _savepoints(acme, alice, 3) == _savepoints(acme, bob, 3)
    assert (balance(alice), balance(bob)) == (30, 60)


def test_a_failure_after_a_budgeted_campaign_leaves_its_budget_counted_once(acme, alice, bob):
    # Given a budgeted campaign evaluated first, and a poison one failing at its action
    good = make_campaign(
        acme,
        "event",
        {"event_type": "purchase"},
        [("grant_points", {"points": 7})],
        limits={"budget_points": 100},
        priority=10,
    )
    bad = poison_campaign(acme, "percent 1e999999")

    # When a batch is processed (evaluated together, rolled back, then one by one)
    ingest(acme, [ev(alice, "purchase", value=50), ev(bob, "purchase", value=70)])

    # Then the good campaign's budget holds its two grants once, and it is still active
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, good.spent_points, good.grants_count) == ("active", 14, 2)
    assert (balance(alice), balance(bob)) == (7, 7)
    assert (bad.status, bad.effects.count()) == ("error", 0)
