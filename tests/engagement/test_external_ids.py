"""One rule for external ids (issue 13, item 8): an id that could never be addressed is
refused at creation; every id that is accepted can be read, changed, exported and erased."""

from urllib.parse import quote

import pytest

from engagement.models import Customer, Event

EVENT = {"event_id": "e1", "type": "page_view", "occurred_at": "2026-01-05T10:00:00Z", "properties": {"url": "/"}}


@pytest.mark.parametrize("external_id", ["a/b", "/", "a/", ".", ".."])
def test_creating_a_customer_with_an_unaddressable_id_is_a_400(acme, acme_api, external_id):
    response = acme_api.post("/api/v1/customers", {"external_id": external_id, "name": "A B"}, format="json")

    assert response.status_code == 400
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [("invalid_external_id", "external_id")]
    assert Customer.objects.count() == 0


def test_an_event_for_an_unaddressable_id_is_a_400_and_creates_nobody(acme, acme_api):
    response = acme_api.post("/api/v1/events", {**EVENT, "customer": "a/b"}, format="json")

    assert response.status_code == 400
    assert [(e["code"], e["attr"]) for e in response.json()["errors"]] == [
        ("invalid_external_id", "customer")
    ]  # a single event: no index
    assert (Customer.objects.count(), Event.objects.count()) == (0, 0)


@pytest.mark.parametrize("external_id", ["a b", "a?b", "a#b", "a%2Fb", "a\\b", "ünï", "a.b", "...", "+60 12"])
def test_every_accepted_id_can_be_read_changed_exported_and_erased(acme, acme_api, external_id):
    created = acme_api.post("/api/v1/customers", {"external_id": external_id, "name": "A B"}, format="json")
    url = f"/api/v1/customers/{quote(external_id, safe='')}"

    read = acme_api.get(url)
    changed = acme_api.patch(url, {"name": "C D"}, format="json")
    exported = acme_api.get(f"{url}/export")
    erased = acme_api.delete(url)

    assert [r.status_code for r in (created, read, changed, exported, erased)] == [201, 200, 200, 200, 204]
    assert (read.json()["external_id"], changed.json()["name"]) == (external_id, "C D")
    assert exported.json()["customer"]["external_id"] == external_id
    customer = Customer.objects.get()
    assert (customer.external_id, customer.name, customer.erased_at is not None) == (external_id, "", True)
