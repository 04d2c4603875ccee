"""The campaign builder in the admin: saving goes through lifecycle, so a form left open
cannot undo a status move made meanwhile (a budget pause)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.utils import timezone

from rewards.campaigns.models import Campaign, CampaignStatusChange
from tests.campaigns.admin_forms import form_data
from tests.campaigns.conftest import balance, ev, ingest, make_campaign


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def buy(customer, order, value="10"):
    return ev(customer, "purchase", value=value, order_id=str(order), at=timezone.now() - timedelta(minutes=1))


def test_a_form_opened_before_a_budget_pause_cannot_reactivate_the_campaign(admin_client, acme, alice, bob, carol):
    # Given an active campaign with a 100-point budget, and its change form open in the admin
    campaign = make_campaign(
        acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 40})], limits={"budget_points": 100}
    )
    url = f"/admin/campaigns/campaign/{campaign.pk}/change/"
    stale = form_data(admin_client.get(url).content.decode())
    assert (stale["seen_status"], stale["name"]) == ("active", "event campaign")

    # When three purchases spend the budget (the real ingest path pauses the campaign) ...
    ingest(acme, [buy(alice, 1), buy(bob, 1), buy(carol, 1)])
    campaign.refresh_from_db()
    assert (campaign.status, campaign.paused_reason) == ("paused", "budget_exhausted")

    # ... and the stale form is saved with a new name
    stale["name"] = "Renamed while paused"
    response = admin_client.post(url, stale, follow=True)

    # Then the change is saved, the campaign stays paused by its budget, and the user is told why
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status, campaign.paused_reason, campaign.spent_points) == (
        "Renamed while paused",
        "paused",
        "budget_exhausted",
        80,
    )
    assert list(CampaignStatusChange.objects.filter(campaign=campaign).values_list("from_status", "to_status")) == [
        ("draft", "active"),
        ("active", "paused"),
    ]
    assert [str(m) for m in get_messages(response.wsgi_request)][:1] == [
        "While this page was open, the campaign was paused because its budget ran out. "
        "Your changes are saved and it stays paused: raise the budget, then resume it."
    ]
    assert (balance(alice), balance(bob), balance(carol)) == (40, 40, 0)


def test_lowering_a_budget_below_what_was_spent_is_refused_and_changes_nothing(admin_client, acme, alice, bob):
    campaign = make_campaign(
        acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 40})], limits={"budget_points": 1000}
    )
    url = f"/admin/campaigns/campaign/{campaign.pk}/change/"
    ingest(acme, [buy(alice, 1), buy(bob, 1)])
    data = form_data(admin_client.get(url).content.decode())

    data.update(name="Cheaper", **{"budget_points": "50"})
    response = admin_client.post(url, data)

    assert response.status_code in (200, 302)
    campaign.refresh_from_db()
    assert (campaign.name, campaign.budget_points, campaign.status, campaign.spent_points) == (
        "event campaign",
        1000,
        "active",
        80,
    )


def test_saving_keeps_the_actions_rows_and_their_runs(admin_client, acme, alice):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"}, [("grant_points", {"points": 5})])
    ingest(acme, [buy(alice, 1)])
    action = campaign.actions.get()
    url = f"/admin/campaigns/campaign/{campaign.pk}/change/"
    data = form_data(admin_client.get(url).content.decode())

    data["name"] = "Still five"
    assert admin_client.post(url, data).status_code == 302

    assert list(Campaign.objects.get(pk=campaign.pk).actions.values_list("pk", "kind")) == [(action.pk, "grant_points")]
    assert action.runs.count() == 1
