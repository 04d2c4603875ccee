"""GET/POST /campaigns, GET/PATCH /campaigns/{id}, POST /campaigns/{id}/simulate."""

from datetime import timedelta

from django.utils import timezone

from rewards.campaigns.models import Campaign, CampaignAction
from tests.campaigns.conftest import ev, ingest, make_campaign

BODY = {
    "name": "Big spenders",
    "status": "active",
    "trigger": {"kind": "event", "config": {"event_type": "purchase", "min_value": "100"}},
    "conditions": [{"field": "consent.email", "op": "eq", "value": True}],
    "actions": [{"kind": "grant_points", "config": {"points": 50}}],
    "limits": {"per_customer": 1, "budget_points": 5000},
}


def test_create_read_list(acme_api, acme):
    created = acme_api.post("/api/v1/campaigns", BODY, format="json")

    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["status"], body["trigger"], body["limits"]["budget_points"]) == (
        "Big spenders",
        "active",
        BODY["trigger"],
        5000,
    )
    assert [a["kind"] for a in body["actions"]] == ["grant_points"]
    assert acme_api.get(f"/api/v1/campaigns/{body['id']}").json()["id"] == body["id"]
    listed = acme_api.get("/api/v1/campaigns?status=active").json()
    assert [c["id"] for c in listed["results"]] == [body["id"]]


def test_validation_lists_every_problem_and_stores_nothing(acme_api):
    bad = {
        **BODY,
        "trigger": {"kind": "event", "config": {"event_type": "purchase", "min_value": "lots"}},
        "conditions": [{"field": "shoe_size", "op": "eq", "value": 9}],
        "actions": [{"kind": "grant_points", "config": {}}, {"kind": "send_survey", "config": {"survey": 999}}],
    }

    response = acme_api.post("/api/v1/campaigns", bad, format="json")

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert sorted(e["attr"] for e in response.json()["errors"]) == [
        "actions.0.config",
        "actions.1.config.survey",
        "conditions.0.field",
        "trigger.config.min_value",
    ]
    assert Campaign.objects.count() == 0 and CampaignAction.objects.count() == 0


def test_post_is_idempotent(acme_api):
    first = acme_api.post("/api/v1/campaigns", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = acme_api.post("/api/v1/campaigns", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert Campaign.objects.count() == 1


def test_patch_pause_resume_and_bad_transition(acme_api, acme):
    campaign = make_campaign(acme, "event", {"event_type": "purchase"})
    url = f"/api/v1/campaigns/{campaign.pk}"

    assert acme_api.patch(url, {"status": "paused", "priority": 5}, format="json").json()["status"] == "paused"
    assert acme_api.patch(url, {"status": "active"}, format="json").json()["status"] == "active"
    changed = acme_api.patch(url, {"actions": [{"kind": "grant_points", "config": {"points": 99}}]}, format="json")
    assert [a["config"] for a in changed.json()["actions"]] == [{"points": 99}]
    refused = acme_api.patch(url, {"status": "draft"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["attr"] == "status"
    campaign.refresh_from_db()
    assert (campaign.status, campaign.priority) == ("active", 5)


def test_another_programs_campaign_is_a_404(acme_api, globex):
    other = make_campaign(globex, "event", {"event_type": "purchase"})

    assert acme_api.get(f"/api/v1/campaigns/{other.pk}").status_code == 404
    assert acme_api.patch(f"/api/v1/campaigns/{other.pk}", {"name": "x"}, format="json").status_code == 404
    assert acme_api.post(f"/api/v1/campaigns/{other.pk}/simulate", {}, format="json").status_code == 404
    other.refresh_from_db()
    assert other.name == "event campaign"


def test_simulate_endpoint(acme_api, acme, alice, bob):
    campaign = make_campaign(acme, "event", {"event_type": "purchase", "min_value": "100"}, status="draft")
    ingest(acme, [ev(alice, "purchase", value="120", order_id="1"), ev(bob, "purchase", value="20", order_id="2")])
    now = timezone.now()

    response = acme_api.post(
        f"/api/v1/campaigns/{campaign.pk}/simulate",
        {"start": (now - timedelta(days=1)).isoformat(), "end": (now + timedelta(minutes=1)).isoformat()},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["customers"], body["qualified"], body["points"], body["money"]) == (1, 1, 10, "0.00")
    assert [s["customer"] for s in body["sample"]] == ["alice"]
    assert (
        acme_api.post(
            f"/api/v1/campaigns/{campaign.pk}/simulate",
            {"start": now.isoformat(), "end": now.isoformat()},
            format="json",
        ).json()["errors"][0]["attr"]
        == "end"
    )
