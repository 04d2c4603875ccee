import threading
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from engagement.models import Customer, Event, IdempotencyRecord
from engagement.partner_api.idempotency import purge_expired_keys
from tests.conftest import make_partner_client, wait_for

EVENT = {"event_id": "e1", "type": "app_installed", "customer": "alice", "occurred_at": "2026-05-01T10:00:00Z"}


def test_same_key_same_body_replays_the_first_response(acme, acme_api):
    first = acme_api.post("/api/v1/events", EVENT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = acme_api.post("/api/v1/events", EVENT, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, first.json()) == (202, {"accepted": 1, "duplicates": 0})
    # Without the key the second call would say duplicates: 1; the replay returns the first answer.
    assert (second.status_code, second.json()) == (202, {"accepted": 1, "duplicates": 0})
    assert second["Idempotent-Replayed"] == "true"
    assert Event.objects.count() == 1


def test_same_key_different_body_is_422_and_changes_nothing(acme, acme_api):
    acme_api.post(
        "/api/v1/customers", {"external_id": "carol", "name": "Carol"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )

    response = acme_api.post(
        "/api/v1/customers", {"external_id": "carol", "name": "Mallory"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert Customer.objects.get(external_id="carol").name == "Carol"


def test_keys_are_scoped_to_the_program(acme, globex, partner_client):
    acme_response = partner_client(acme).post("/api/v1/events", EVENT, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    globex_response = partner_client(globex).post("/api/v1/events", EVENT, format="json", HTTP_IDEMPOTENCY_KEY="shared")

    assert acme_response.json() == globex_response.json() == {"accepted": 1, "duplicates": 0}
    assert Event.objects.filter(program=globex).count() == 1


def test_a_failed_request_releases_the_key(acme, acme_api):
    bad = acme_api.post("/api/v1/events", {**EVENT, "type": "nope"}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    fixed = acme_api.post("/api/v1/events", EVENT, format="json", HTTP_IDEMPOTENCY_KEY="k-3")

    assert bad.status_code == 400
    assert fixed.status_code == 202
    assert IdempotencyRecord.objects.get(key="k-3").state == "done"


def test_second_request_while_the_first_runs_is_409(transactional_db, acme, alice):
    # Given request A holding the key, blocked on alice's row lock held by this test
    body = {"external_id": "alice", "name": "Alice A."}
    results = {}

    def post(name):
        client = make_partner_client(acme, name)
        results[name] = client.post("/api/v1/customers", body, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
        connection.close()

    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=alice.pk)
        first = threading.Thread(target=post, args=("a",))
        first.start()
        wait_for(lambda: IdempotencyRecord.objects.filter(key="k-4").exists(), message="claim of request A")
        # When request B arrives with the same key while A is still running
        second = threading.Thread(target=post, args=("b",))
        second.start()
        second.join(timeout=30)
    first.join(timeout=30)

    # Then B is refused with 409, A completes, and a later retry replays A's answer
    assert results["b"].status_code == 409
    assert results["b"].json()["errors"][0]["code"] == "idempotency_key_in_use"
    assert results["a"].status_code == 200
    replay = make_partner_client(acme, "c").post("/api/v1/customers", body, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert (replay.status_code, replay.json()) == (200, results["a"].json())
    assert Customer.objects.get(pk=alice.pk).name == "Alice A."


def test_expired_keys_are_purged_and_recent_ones_kept(acme, settings):
    settings.IDEMPOTENCY_KEEP_HOURS = 48
    now = timezone.now()
    IdempotencyRecord.objects.create(
        program=acme, key="old", operation="POST /x", request_hash="h", created_at=now - timedelta(hours=49)
    )
    IdempotencyRecord.objects.create(
        program=acme, key="recent", operation="POST /x", request_hash="h", created_at=now - timedelta(hours=25)
    )

    assert purge_expired_keys(now) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["recent"]
