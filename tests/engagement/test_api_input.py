"""No input gets a 500: deep JSON, NUL bytes, lone surrogates, out-of-range times and unknown
paths all answer a 4xx in the one error shape, and nothing is stored."""

import json

import pytest

from engagement.models import Customer, Event, IdempotencyRecord
from rewards.campaigns.models import Campaign
from rewards.models import LedgerEntry

WRITE_ENDPOINTS = [
    "/api/v1/events",
    "/api/v1/customers",
    "/api/v1/points/grants",
    "/api/v1/points/adjustments",
    "/api/v1/redemptions",
    "/api/v1/payouts",
    "/api/v1/campaigns",
    "/api/v1/webhooks",
]


def stored():
    return (
        Event.objects.count(),
        Customer.objects.count(),
        LedgerEntry.objects.count(),
        Campaign.objects.count(),
        IdempotencyRecord.objects.count(),
    )


def error(code, detail, attr, error_type="validation_error"):
    return {"type": error_type, "errors": [{"code": code, "detail": detail, "attr": attr}]}


@pytest.mark.parametrize("url", WRITE_ENDPOINTS)
def test_json_nested_2000_levels_is_a_400_on_every_write_endpoint(acme_api, alice, url):
    before = stored()
    body = '{"a":' * 2000 + "1" + "}" * 2000

    response = acme_api.post(url, data=body, content_type="application/json", headers={"Idempotency-Key": "k1"})

    assert response.status_code == 400
    assert response.json() == error(
        "too_deep", "JSON nested deeper than 32 levels is not accepted.", None, "client_error"
    )
    assert stored() == before


def test_json_just_past_the_depth_limit_names_where(acme_api):
    nested = 1
    for _ in range(30):  # events(1) + item(2) + properties(3) + x(4): 34 levels in all
        nested = [nested]
    body = {"events": [{"properties": {"x": nested}}]}

    response = acme_api.post("/api/v1/events", data=json.dumps(body), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "too_deep"
    assert response.json()["errors"][0]["attr"].startswith("events.0.properties.x.0.0.")
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "code", "detail", "attr"),
    [
        (
            '{"external_id": "\\ud800x"}',
            "surrogate_characters_not_allowed",
            "Lone surrogate characters (\\ud800-\\udfff) are not allowed.",
            "external_id",
        ),
        (
            '{"external_id": "carol", "attributes": {"a\\u0000b": 1}}',
            "null_characters_not_allowed",
            "NUL (\\u0000) characters are not allowed.",
            "attributes.a\x00b",
        ),
        ('{"external_id": "carol", "attributes": {"n": 1e999}}', "invalid", "Numbers must be finite.", "attributes.n"),
    ],
)
def test_bad_text_and_numbers_in_a_body_are_400(acme_api, body, code, detail, attr):
    response = acme_api.post("/api/v1/customers", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == error(code, detail, attr)
    assert Customer.objects.count() == 0


def test_a_lone_surrogate_as_an_event_customer_stores_nothing(acme_api):
    body = '{"event_id": "e1", "type": "app_installed", "customer": "\\ud800x", "occurred_at": "2026-01-01T00:00:00Z"}'

    response = acme_api.post("/api/v1/events", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "customer"
    assert (Event.objects.count(), Customer.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("path", "attr"),
    [
        ("/api/v1/customers?search=a%00b", "search"),
        ("/api/v1/surveys?kind=%00", "kind"),
        ("/api/v1/payouts?customer=%00", "customer"),
        ("/api/v1/campaigns?status=%00", "status"),
        ("/api/v1/customers/alice/ledger?kind=%00", "kind"),
        ("/api/v1/customers/a%00b", "path"),
        ("/api/v1/metrics?segment=%00", "segment"),
    ],
)
def test_nul_in_query_or_path_is_a_400(acme_api, alice, path, attr):
    response = acme_api.get(path)

    assert response.status_code == 400
    assert response.json() == error(
        "null_characters_not_allowed", "NUL (\\u0000) characters are not allowed.", attr, "client_error"
    )


def test_nul_in_a_header_is_a_400_and_claims_no_idempotency_key(acme_api, alice):
    response = acme_api.post(
        "/api/v1/points/grants",
        {"customer": "alice", "points": 10, "reason": "x"},
        format="json",
        headers={"Idempotency-Key": "a\x00b"},
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "Idempotency-Key"
    assert (LedgerEntry.objects.count(), IdempotencyRecord.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("updated_since=0000-01-01T00:00:00Z", "invalid"),
        ("updated_since=0001-01-01T00:00:00%2B14:00", "out_of_range"),
        ("updated_since=9999-12-31T23:59:59-14:00", "out_of_range"),
        ("updated_since=2026-02-30T00:00:00Z", "invalid"),
        ("updated_since=2706-12-05T18:03:24%2B23:58", "out_of_range"),
    ],
)
def test_out_of_range_times_in_a_query_are_400(acme_api, query, code):
    response = acme_api.get(f"/api/v1/customers?{query}")

    assert response.status_code == 400
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [(code, "updated_since")]


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59+00:00", "2030-01-01T00:00:00+23:58"])
def test_a_grant_expiring_out_of_range_is_a_400_and_grants_nothing(acme_api, alice, expires_at):
    response = acme_api.post(
        "/api/v1/points/grants",
        {"customer": "alice", "points": 10, "reason": "x", "expires_at": expires_at},
        format="json",
        headers={"Idempotency-Key": "g1"},
    )

    assert response.status_code == 400
    assert response.json() == error(
        "out_of_range", "The time must be in the years 1900 to 2999, with a UTC offset of at most 14:59.", "expires_at"
    )
    assert (LedgerEntry.objects.count(), IdempotencyRecord.objects.count()) == (0, 0)


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/customers/alice/nope", "/api/v1/customers/"])
def test_unknown_api_paths_answer_the_error_shape(acme_api, alice, path):
    response = acme_api.get(path)

    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json() == error(
        "not_found", "No such API path. See /api/schema/ for the paths.", None, "client_error"
    )


def test_a_missing_object_keeps_its_message_and_code(acme_api):
    response = acme_api.get("/api/v1/customers/nobody")

    assert response.status_code == 404
    assert response.json() == error("not_found", "No customer 'nobody' in this program.", None, "client_error")
