from datetime import UTC, datetime

import time_machine

from engagement.models import Customer
from tests.factories import CustomerFactory

URL = "/api/v1/customers"


def test_post_creates_then_updates_by_external_id(acme, acme_api):
    created = acme_api.post(
        URL,
        {"external_id": "carol", "name": "Carol", "email": "carol@example.com", "locale": "ms", "consent_sms": True},
        format="json",
    )
    updated = acme_api.post(URL, {"external_id": "carol", "name": "Carol Tan"}, format="json")

    assert created.status_code == 201
    assert updated.status_code == 200
    carol = Customer.objects.get(program=acme, external_id="carol")
    assert (carol.name, carol.email, carol.locale, carol.consent_sms) == ("Carol Tan", "carol@example.com", "ms", True)
    assert updated.json()["name"] == "Carol Tan"


def test_post_with_bad_fields_lists_each_and_stores_nothing(acme_api):
    response = acme_api.post(
        URL,
        {
            "external_id": "x" * 129,
            "email": "not-an-email",
            "locale": "fr",
            "timezone": "Mars/Olympus",
            "attributes": [1],
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert sorted(e["attr"] for e in response.json()["errors"]) == [
        "attributes",
        "email",
        "external_id",
        "locale",
        "timezone",
    ]
    assert Customer.objects.count() == 0


def test_post_without_external_id_is_rejected(acme_api):
    response = acme_api.post(URL, {"name": "Nobody"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "required", "detail": "external_id is required.", "attr": "external_id"}
    ]


def test_list_filters_by_tier_search_and_updated_since(acme, acme_api):
    with time_machine.travel(datetime(2026, 1, 1, tzinfo=UTC)):
        CustomerFactory(program=acme, external_id="old-gold", tier="Gold", name="Olga")
    with time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC)):
        CustomerFactory(program=acme, external_id="new-gold", tier="Gold", name="Nadia")
        CustomerFactory(program=acme, external_id="new-silver", tier="Silver", name="Siti")

    def ids(query):
        return [c["external_id"] for c in acme_api.get(URL + query).json()["results"]]

    assert ids("?tier=Gold") == ["old-gold", "new-gold"]
    assert ids("?tier=Gold&updated_since=2026-02-01T00:00:00Z") == ["new-gold"]
    assert ids("?search=siti") == ["new-silver"]
    assert acme_api.get(URL + "?updated_since=soon").status_code == 400


def test_list_is_paginated(acme, acme_api):
    for n in range(7):
        CustomerFactory(program=acme, external_id=f"c{n}")

    page = acme_api.get(URL + "?page_size=3&page=3").json()

    assert page["count"] == 7
    assert [c["external_id"] for c in page["results"]] == ["c6"]


def test_read_and_patch(alice, acme_api):
    response = acme_api.patch(f"{URL}/alice", {"phone": "+60123456789", "attributes": {"vip": True}}, format="json")

    assert response.status_code == 200
    alice.refresh_from_db()
    assert (alice.phone, alice.attributes) == ("+60123456789", {"vip": True})
    assert acme_api.get(f"{URL}/alice").json()["phone"] == "+60123456789"


def test_delete_anonymises_but_keeps_the_row_and_totals(alice, acme_api):
    Customer.objects.filter(pk=alice.pk).update(revenue="120.50", event_count=9, consent_email=True)

    response = acme_api.delete(f"{URL}/alice")

    assert response.status_code == 204
    alice.refresh_from_db()
    assert (alice.name, alice.email, alice.phone, alice.attributes) == ("", "", "", {})
    assert (alice.consent_email, str(alice.revenue), alice.event_count) == (False, "120.50", 9)
    assert alice.erased_at is not None


def test_another_programs_customer_is_a_404(acme, globex, alice, partner_client):
    globex_api = partner_client(globex)

    assert globex_api.get(f"{URL}/alice").status_code == 404
    assert globex_api.patch(f"{URL}/alice", {"name": "Mallory"}, format="json").status_code == 404
    assert globex_api.delete(f"{URL}/alice").status_code == 404
    assert globex_api.get(URL).json()["results"] == []
    alice.refresh_from_db()
    assert (alice.name, alice.erased_at) == ("Alice", None)
    body = globex_api.get(f"{URL}/alice").json()
    assert body["type"] == "client_error" and body["errors"][0]["code"] == "not_found"


def test_rate_limit_answers_429_with_retry_after(acme_api, settings):
    settings.API_RATE_LIMIT = "3/min"

    statuses = [acme_api.get(URL).status_code for _ in range(4)]
    limited = acme_api.get(URL)

    assert statuses == [200, 200, 200, 429]
    assert int(limited["Retry-After"]) > 0
    assert limited.json()["errors"][0]["code"] == "throttled"


def test_list_filters_by_rfm_segment(acme, acme_api):
    from django.utils import timezone

    from engagement.models import CustomerScore

    champion = CustomerFactory(program=acme, external_id="champ")
    CustomerFactory(program=acme, external_id="plain")
    CustomerScore.objects.create(customer=champion, program=acme, segment="Champions", scored_at=timezone.now())

    response = acme_api.get(URL + "?segment=Champions")

    assert [c["external_id"] for c in response.json()["results"]] == ["champ"]
