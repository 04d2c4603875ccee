"""Property-based: whatever JSON a partner sends to the ingest and customers endpoints, the
answer is a 2xx or a 4xx in the one error shape, and a 4xx stores nothing."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engagement.models import Customer, Event

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

field_values = st.one_of(
    json_values,
    st.sampled_from(
        [
            "",
            "\x00",
            "2026-02-30T00:00:00Z",
            "2026-05-01T10:00:00+99:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "1e999",
            "NaN",
            "-0.001",
            "12.345",
            "x" * 300,
        ]
    ),
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": field_values,
        "type": st.sampled_from(["purchase", "session", "page_view", "custom.x", "nope"]) | field_values,
        "customer": field_values,
        "occurred_at": field_values,
        "value": field_values,
        "currency": field_values,
        "properties": field_values
        | st.fixed_dictionaries(
            {}, optional={"order_id": field_values, "url": field_values, "duration_seconds": field_values}
        ),
    },
)
bodies = event_like | st.fixed_dictionaries({"events": st.lists(event_like, max_size=5)}) | json_values

NO_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def assert_error_shape(response):
    body = response.json()
    assert body["type"] in {"validation_error", "client_error"}
    assert all({"code", "detail", "attr"} <= set(error) for error in body["errors"])


@settings(max_examples=150, deadline=None, suppress_health_check=NO_HEALTH)
@given(body=bodies)
def test_events_endpoint_never_answers_500(acme_api, body):
    before = Event.objects.count(), Customer.objects.count()

    response = acme_api.post("/api/v1/events", data=json.dumps(body), content_type="application/json")

    assert response.status_code in (202, 400), response.content
    if response.status_code == 400:
        assert_error_shape(response)
        assert (Event.objects.count(), Customer.objects.count()) == before


@settings(max_examples=100, deadline=None, suppress_health_check=NO_HEALTH)
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "external_id": field_values,
            "name": field_values,
            "email": field_values,
            "locale": field_values,
            "timezone": field_values,
            "birth_date": field_values,
            "attributes": field_values,
            "consent_sms": field_values,
        },
    )
)
def test_customers_endpoint_never_answers_500(acme_api, body):
    before = Customer.objects.count()

    response = acme_api.post("/api/v1/customers", data=json.dumps(body), content_type="application/json")

    assert response.status_code in (200, 201, 400), response.content
    if response.status_code == 400:
        assert_error_shape(response)
        assert Customer.objects.count() == before


def test_nan_and_nul_are_refused(acme_api):
    nan = acme_api.post("/api/v1/events", data='{"event_id": "a", "value": NaN}', content_type="application/json")
    nul = acme_api.post(
        "/api/v1/events",
        {"event_id": "a\x00", "type": "app_installed", "customer": "c", "occurred_at": "2026-01-01T00:00:00Z"},
        format="json",
    )

    assert (nan.status_code, nan.json()["errors"][0]["code"]) == (400, "parse_error")
    assert (nul.status_code, nul.json()["errors"][0]["code"]) == (400, "null_characters_not_allowed")
