"""Admin builder, stats, pause/resume/clone, simulate button, new-from-template; templates."""

import pytest
from django.contrib.auth import get_user_model

from rewards.campaigns import templates as campaign_templates
from rewards.campaigns.models import Campaign
from surveys.models import Survey
from tests.campaigns.conftest import ev, ingest, make_campaign
from tests.surveys.factories import make_survey


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def builder_post(acme, **overrides):
    data = {
        "program": acme.pk,
        "name": "Built",
        "description": "",
        "priority": 0,
        "audience": "all",
        "trigger_kind": "event",
        "event_type": "purchase",
        "conditions-TOTAL_FORMS": "0",
        "conditions-INITIAL_FORMS": "0",
        "actions-TOTAL_FORMS": "1",
        "actions-INITIAL_FORMS": "0",
        "actions-MIN_NUM_FORMS": "1",
        "actions-MAX_NUM_FORMS": "1000",
        "actions-0-position": "0",
        "actions-0-kind": "grant_points",
        "actions-0-points": "5",
        "actions-0-tier_multiplier": "on",
        "actions-0-delay_0": "",
        "actions-0-delay_1": "minutes",
        "actions-0-cancel_if_event_type": "",
    }
    data.update(overrides)
    return data


def test_builder_creates_a_campaign(admin_client, acme):
    response = admin_client.post("/admin/campaigns/campaign/add/", builder_post(acme))

    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.trigger_config, [a.config for a in campaign.actions.all()]) == (
        {"event_type": "purchase"},
        [{"points": 5}],
    )


def test_builder_says_what_is_wrong(admin_client, acme):
    response = admin_client.post(
        "/admin/campaigns/campaign/add/",
        builder_post(acme, min_value="-1000000000000000", **{"actions-0-points": "", "actions-0-percent": "0"}),
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Smallest value must be at least -999999999999.99 and at most 999999999999.99." in page
    assert "Percent of the event&#x27;s value must be more than 0 and at most 1000." in page
    assert Campaign.objects.count() == 0


def test_change_page_stats_pause_resume_clone_and_simulate(admin_client, acme, alice):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"})
    ingest(acme, [ev(alice, "purchase", value="10", order_id="1")])
    base = f"/admin/campaigns/campaign/{campaign.pk}"

    page = admin_client.get(f"{base}/change/").content.decode()
    assert "<th>qualified</th><td>1</td>" in page and "<th>points</th><td>10</td>" in page

    admin_client.post(f"{base}/status/paused/")
    assert Campaign.objects.get(pk=campaign.pk).status == "paused"
    admin_client.post(f"{base}/status/active/")
    assert Campaign.objects.get(pk=campaign.pk).status == "active"
    admin_client.post(f"{base}/clone/")
    assert list(Campaign.objects.order_by("id").values_list("name", "status")) == [
        ("event campaign", "active"),
        ("event campaign (copy)", "draft"),
    ]

    simulated = admin_client.post(
        f"{base}/simulate/", {"start": "2000-01-01 00:00:00", "end": "2100-01-01 00:00:00"}
    ).content.decode()
    assert "<th>Customers who would qualify</th><td>0</td>" in simulated  # alice already got it


def test_new_from_template_view(admin_client, acme):
    page = admin_client.get("/admin/campaigns/campaign/from-template/")
    assert page.status_code == 200

    missing = admin_client.post(
        "/admin/campaigns/campaign/from-template/", {"program": acme.pk, "template": "purchase_csat"}
    )
    assert "actions.0.config.survey" in missing.content.decode()

    make_survey(acme, Survey.Kind.CSAT)
    created = admin_client.post(
        "/admin/campaigns/campaign/from-template/", {"program": acme.pk, "template": "purchase_csat"}
    )
    assert created.status_code == 302
    assert Campaign.objects.get().template_key == "purchase_csat"


def test_every_template_makes_a_valid_campaign(acme):
    for kind in (Survey.Kind.NPS, Survey.Kind.CSAT, Survey.Kind.CUSTOM):
        make_survey(acme, kind)
    for key in campaign_templates.TEMPLATES:
        campaign = campaign_templates.create_from_template(acme, key)
        assert (campaign.status, campaign.template_key) == ("draft", key)
    assert Campaign.objects.count() == len(campaign_templates.TEMPLATES)
