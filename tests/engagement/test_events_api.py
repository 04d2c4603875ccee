from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from engagement.models import Customer, CustomerEventCount, Event
from engagement.processing import process_events

URL = "/api/v1/events"


def event(event_id, type_="page_view", customer="alice", **extra):
    body = {
        "event_id": event_id,
        "type": type_,
        "customer": customer,
        "occurred_at": "2026-05-01T10:00:00+08:00",
        "properties": {"url": "/home"} if type_ == "page_view" else {},
    }
    body.update(extra)
    return body


def purchase(event_id, value="25.00", customer="alice", **extra):
    return event(event_id, "purchase", customer, value=value, properties={"order_id": f"o-{event_id}"}, **extra)


def test_single_event_is_stored_and_creates_the_customer(acme, acme_api):
    response = acme_api.post(URL, event("e1"), format="json")

    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    stored = Event.objects.get(program=acme, event_id="e1")
    assert stored.type == "page_view"
    assert stored.customer.external_id == "alice"
    assert stored.occurred_at == datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    assert stored.properties == {"url": "/home"}


def test_batch_counts_duplicates_within_and_across_batches(acme, acme_api):
    first = acme_api.post(URL, {"events": [event("e1"), event("e2"), event("e1")]}, format="json")
    again = acme_api.post(URL, {"events": [event("e2"), event("e3")]}, format="json")

    assert first.json() == {"accepted": 2, "duplicates": 1}
    assert again.json() == {"accepted": 1, "duplicates": 1}
    assert sorted(Event.objects.filter(program=acme).values_list("event_id", flat=True)) == ["e1", "e2", "e3"]


def test_invalid_batch_lists_every_bad_item_and_stores_nothing(acme, acme_api):
    future = (timezone.now() + timedelta(days=2)).isoformat()
    batch = [
        event("ok-1"),
        event("bad-type", type_="teleported"),
        {"event_id": "no-time", "type": "page_view", "customer": "alice", "properties": {"url": "/"}},
        purchase("neg", value="-1.00"),
        event("ok-2"),
        event("future", occurred_at=future),
        event("naive", occurred_at="2026-05-01T10:00:00"),
        {
            "event_id": "session",
            "type": "session",
            "customer": "bob",
            "occurred_at": "2026-05-01T10:00:00Z",
            "properties": {"duration_seconds": "long", "page_views": 2},
        },
        event("x" * 129),
    ]

    response = acme_api.post(URL, {"events": batch}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [
        ("events.1.type", "unknown_type"),
        ("events.2.occurred_at", "required"),
        ("events.3.value", "invalid"),
        ("events.5.occurred_at", "future"),
        ("events.6.occurred_at", "invalid"),
        ("events.7.properties.duration_seconds", "invalid_type"),
        ("events.7.properties.exit_page", "required"),
        ("events.8.event_id", "max_length"),
    ]
    assert Event.objects.count() == 0
    assert Customer.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"events": "nope"}, "events", "invalid"),
        ({"events": []}, "events", "empty"),
        ([1, 2], "events", "invalid"),
        (purchase("p", value=12.5), "value", "invalid_type"),
        (purchase("p", currency="USD"), "currency", "invalid"),
        (
            event("s", type_="survey_answered", properties={"survey": 1, "kind": "nps", "score": 9}),
            "type",
            "reserved_type",
        ),
        (event("p", properties={"url": 5}), "properties.url", "invalid_type"),
        (event("p", properties=[]), "properties", "invalid_type"),
        (event("p", customer=""), "customer", "required"),
        (event("p", occurred_at="yesterday"), "occurred_at", "invalid"),
    ],
)
def test_single_bad_event_names_the_field(acme_api, body, attr, code):
    response = acme_api.post(URL, body, format="json")

    assert response.status_code == 400
    assert [(e["attr"], e["code"]) for e in response.json()["errors"]] == [(attr, code)]
    assert Event.objects.count() == 0


def test_batch_over_the_limit_is_refused(acme_api):
    response = acme_api.post(URL, {"events": [event(f"e{i}") for i in range(1001)]}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "batch_too_large"
    assert Event.objects.count() == 0


def test_malformed_json_is_a_400_in_the_error_shape(acme_api):
    response = acme_api.post(URL, data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["type"] == "client_error"
    assert response.json()["errors"][0]["code"] == "parse_error"


def test_oversized_body_is_413(acme_api, settings):
    settings.API_MAX_BODY_BYTES = 2000
    response = acme_api.post(URL, {"events": [event(f"e{i}") for i in range(50)]}, format="json")

    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "payload_too_large"
    assert Event.objects.count() == 0


def test_history_of_any_past_date_is_accepted(acme_api):
    response = acme_api.post(URL, event("old", occurred_at="2003-02-01T00:00:00Z"), format="json")

    assert response.json() == {"accepted": 1, "duplicates": 0}


def test_processing_updates_aggregates_once_even_when_repeated(acme, acme_api):
    acme_api.post(
        URL,
        {
            "events": [
                purchase("p1", "10.00"),
                purchase("p2", "5.50"),
                event("v1"),
                purchase("b1", "7.00", customer="bob"),
            ]
        },
        format="json",
    )
    ids = list(Event.objects.values_list("id", flat=True))

    assert process_events(ids) == 4
    assert process_events(ids) == 0  # a task delivered twice changes nothing

    alice = Customer.objects.get(program=acme, external_id="alice")
    assert (alice.event_count, alice.purchase_count, str(alice.revenue)) == (3, 2, "15.50")
    assert alice.first_seen_at == alice.last_seen_at
    assert dict(CustomerEventCount.objects.filter(customer=alice).values_list("type", "count")) == {
        "purchase": 2,
        "page_view": 1,
    }
    assert Customer.objects.get(external_id="bob").revenue == 7


def test_revoked_key_is_refused(acme, partner_client):
    client = partner_client(acme)
    client.partner_key.revoke()

    response = client.post(URL, event("e1"), format="json")

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"
    assert Event.objects.count() == 0


def test_missing_key_is_refused(acme, client):
    response = client.post(URL, event("e1"), content_type="application/json")

    assert response.status_code == 401
    assert response.json()["type"] == "client_error"
