"""No rule can hold a number that poisons evaluation (issue 13): non-finite and out-of-range
numbers are refused by the API and the admin alike (one validator, rewards.campaigns.validation),
with a 400 naming the field, and nothing is stored."""

import json

import pytest

from rewards.campaigns.models import Campaign, CampaignAction
from tests.campaigns.conftest import make_campaign
from tests.campaigns.test_admin_and_templates import builder_post

BODY = {
    "name": "Big spenders",
    "status": "active",
    "trigger": {"kind": "event", "config": {"event_type": "purchase", "min_value": "100"}},
    "actions": [{"kind": "grant_points", "config": {"points": 50}}],
}


def _with(path, value):
    body = json.loads(json.dumps(BODY))
    target = body
    *parents, last = path
    for key in parents:
        target = target[key]
    target[last] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "attr"),
    [
        (("trigger", "config", "min_value"), "NaN", "trigger.config.min_value"),
        (("trigger", "config", "min_value"), "1e999999", "trigger.config.min_value"),
        (("trigger", "config", "max_value"), "-Infinity", "trigger.config.max_value"),
        (("actions", 0, "config"), {"points": 10**30}, "actions.0.config.points"),
        (("actions", 0, "config"), {"percent": "1e999999"}, "actions.0.config.percent"),
        (("actions", 0, "config"), {"percent": "NaN"}, "actions.0.config.percent"),
        (("actions", 0, "config"), {"points": 5, "max_points": 10**30}, "actions.0.config.max_points"),
        (("actions", 0, "config"), {"amount": "Infinity"}, "actions.0.config.amount"),
        (("actions", 0, "delay_minutes"), 10**12, "actions.0.delay_minutes"),
        (("trigger",), {"kind": "nth_event", "config": {"event_type": "purchase", "n": 10**30}}, "trigger.config.n"),
        (("trigger",), {"kind": "inactivity", "config": {"days": 10**9}}, "trigger.config.days"),
        (("conditions",), [{"field": "revenue", "op": "gt", "value": "NaN"}], "conditions.0.value"),
        (("conditions",), [{"field": "event_count", "op": "gte", "value": "1e999999"}], "conditions.0.value"),
        (("limits",), {"budget_points": 10**30}, "limits.budget_points"),
        (("limits",), {"max_grants": 10**12}, "limits.max_grants"),
        (("limits",), {"per_customer": 10**12}, "limits.per_customer"),
        (("priority",), 10**30, "priority"),
    ],
)
def test_api_refuses_poison_numbers_naming_the_field(acme_api, path, value, attr):
    if path[:2] == ("actions", 0) and path[-1] == "config" and "amount" in value:
        body = _with(("actions", 0), {"kind": "create_payout", "config": value})
    else:
        body = _with(path, value)

    response = acme_api.post("/api/v1/campaigns", body, format="json")

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert [e["attr"] for e in response.json()["errors"]] == [attr]
    assert Campaign.objects.count() == 0 and CampaignAction.objects.count() == 0


def test_api_refuses_a_json_number_that_overflows_to_infinity(acme_api):
    # Python's JSON parser reads 1e999 as float("inf"); it must not reach a query.
    raw = json.dumps(_with(("trigger", "config", "min_value"), 12345)).replace("12345", "1e999")

    response = acme_api.post("/api/v1/campaigns", raw, content_type="application/json")

    assert response.status_code == 400
    # The JSON parser refuses it before any validator (engagement.partner_api.parsers).
    assert [(e["attr"], e["detail"]) for e in response.json()["errors"]] == [
        ("trigger.config.min_value", "Numbers must be finite.")
    ]
    assert Campaign.objects.count() == 0


def test_patch_refuses_a_poison_number_and_changes_nothing(acme, acme_api):
    campaign = make_campaign(acme, "event", {"event_type": "purchase", "min_value": "100"})

    response = acme_api.patch(
        f"/api/v1/campaigns/{campaign.pk}",
        {"trigger": {"kind": "event", "config": {"event_type": "purchase", "min_value": "NaN"}}},
        format="json",
    )

    assert response.status_code == 400
    assert [e["attr"] for e in response.json()["errors"]] == ["trigger.config.min_value"]
    campaign.refresh_from_db()
    assert campaign.trigger_config == {"event_type": "purchase", "min_value": "100"}


def test_admin_refuses_the_same_numbers_naming_its_fields_by_their_labels(admin_client, acme):
    response = admin_client.post(
        "/admin/campaigns/campaign/add/",
        builder_post(
            acme,
            min_value="NaN",
            budget_points=str(10**15),
            **{"actions-0-points": "", "actions-0-percent": "1001"},
        ),
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    action = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert (form.errors["min_value"], form.errors["budget_points"], action.errors["percent"]) == (
        ["Enter a number."],
        ["Points budget must be a whole number from 1 to 1000000000000, or empty."],
        ["Percent of the event's value must be more than 0 and at most 1000."],
    )
    assert Campaign.objects.count() == 0
