import pytest

from engagement.models import Customer, Event
from tests.conftest import wait_for

pytestmark = pytest.mark.worker


def test_real_worker_processes_an_ingested_batch(acme, acme_api, celery_worker):
    # Given a batch posted through the API (committed: transactional_db)
    batch = [
        {
            "event_id": f"p{i}",
            "type": "purchase",
            "customer": "alice",
            "occurred_at": "2026-03-01T10:00:00Z",
            "value": "10.00",
            "properties": {"order_id": f"o{i}"},
        }
        for i in range(3)
    ] + [
        {
            "event_id": "v1",
            "type": "page_view",
            "customer": "bob",
            "occurred_at": "2026-03-02T10:00:00Z",
            "properties": {"url": "/"},
        }
    ]

    response = acme_api.post("/api/v1/events", {"events": batch}, format="json")
    assert response.json() == {"accepted": 4, "duplicates": 0}

    # Then the worker process claims and aggregates them
    wait_for(lambda: not Event.objects.filter(processed_at__isnull=True).exists(), message="events processed")
    alice = Customer.objects.get(program=acme, external_id="alice")
    assert (alice.event_count, alice.purchase_count, str(alice.revenue)) == (3, 3, "30.00")
    assert Customer.objects.get(program=acme, external_id="bob").event_count == 1
