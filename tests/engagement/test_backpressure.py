"""Ingest backpressure (engagement.backlog): POST /events answers 429 `ingest_backlog` with
Retry-After and stores nothing while the backlog of accepted, unprocessed events is over
EVENTS_MAX_BACKLOG; the counter follows ingestion and processing commits, and the beat's
reconciliation resets it from the database."""

from datetime import UTC, datetime

import pytest

from engagement import backlog
from engagement.beat import SCHEDULE
from engagement.event_schema import CleanEvent
from engagement.ingest import record_events
from engagement.models import Customer, Event, IdempotencyRecord
from engagement.partner_api import keycache
from engagement.processing import process_events
from engagement.tasks import reconcile_ingest_backlog_task

URL = "/api/v1/events"
DETAIL = (
    "Too many events are waiting to be processed; nothing was stored. "
    "Send the same batch again (same event_ids) after Retry-After seconds."
)


def event(event_id, customer="alice"):
    return {
        "event_id": event_id,
        "type": "page_view",
        "customer": customer,
        "occurred_at": "2026-05-01T10:00:00+08:00",
        "properties": {"url": "/home"},
    }


def clean(event_id, customer="alice"):
    at = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
    return CleanEvent(event_id, "page_view", customer, at, None, "", {"url": "/home"})


def set_counter(value):
    keycache._redis().set(backlog.KEY, value)


def counter():
    raw = keycache._redis().get(backlog.KEY)
    return None if raw is None else int(raw)


@pytest.fixture
def limit_of_5(settings):
    settings.EVENTS_MAX_BACKLOG = 5


def test_over_the_limit_the_batch_is_refused_with_429_retry_after_and_nothing_stored(acme, acme_api, limit_of_5):
    set_counter(6)

    response = acme_api.post(URL, {"events": [event("e1"), event("e2", "carol")]}, format="json")

    assert response.status_code == 429
    # Nothing processed in the last two minutes (no rate to estimate from): 30 s.
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "ingest_backlog", "detail": DETAIL + " Expected available in 30 seconds.", "attr": None}],
    }
    assert Event.objects.count() == 0
    assert not Customer.objects.filter(external_id="carol").exists()
    assert counter() == 6


def test_a_refused_request_keeps_no_idempotency_key_and_the_same_batch_is_accepted_later(
    acme, acme_api, limit_of_5, django_capture_on_commit_callbacks
):
    batch = {"events": [event("e1"), event("e2")]}
    set_counter(6)

    refused = acme_api.post(URL, batch, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert refused.status_code == 429
    assert IdempotencyRecord.objects.count() == 0

    set_counter(5)  # processing caught up to the limit: admitted again
    with django_capture_on_commit_callbacks(execute=True):
        accepted = acme_api.post(URL, batch, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert accepted.status_code == 202
    assert accepted.json() == {"accepted": 2, "duplicates": 0}
    assert counter() == 7  # the 2 accepted events, counted on commit

    set_counter(0)
    again = acme_api.post(URL, batch, format="json")
    assert again.status_code == 202
    assert again.json() == {"accepted": 0, "duplicates": 2}  # a resend stores nothing twice
    assert sorted(Event.objects.values_list("event_id", flat=True)) == ["e1", "e2"]


def test_under_or_at_the_limit_events_are_accepted(acme, acme_api, limit_of_5):
    set_counter(5)

    response = acme_api.post(URL, event("e1"), format="json")

    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert Event.objects.filter(program=acme, event_id="e1").count() == 1


def test_limit_0_disables_admission_control(acme, acme_api, settings):
    settings.EVENTS_MAX_BACKLOG = 0
    set_counter(10**9)

    response = acme_api.post(URL, event("e1"), format="json")

    assert response.status_code == 202
    assert Event.objects.count() == 1


def test_without_redis_there_is_no_admission_control(settings):
    settings.REDIS_URL = ""
    settings.EVENTS_MAX_BACKLOG = 5

    assert backlog.limit() == 0
    assert backlog.refusal(10**9, 0.0) is None


def test_other_endpoints_are_never_refused(acme, alice, acme_api, limit_of_5):
    set_counter(10**6)

    assert acme_api.get("/api/v1/customers").status_code == 200
    assert acme_api.get("/api/v1/customers/alice").status_code == 200
    assert acme_api.get("/api/v1/customers/alice/balance").status_code == 200
    created = acme_api.post("/api/v1/customers", {"external_id": "dave", "name": "Dave"}, format="json")
    assert created.status_code == 201
    assert acme_api.post(URL, event("e1"), format="json").status_code == 429


def test_the_counter_goes_up_when_the_ingest_commits_and_down_when_processing_commits(
    acme, acme_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        acme_api.post(URL, {"events": [event("e1"), event("e2"), event("e3", "bob")]}, format="json")
    assert counter() == 3
    ids = sorted(Event.objects.values_list("id", flat=True))

    with django_capture_on_commit_callbacks(execute=False) as pending:
        assert process_events(ids[:2]) == 2
    assert counter() == 3  # not before the processing commits
    for callback in pending:
        callback()
    assert counter() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert process_events(ids) == 1  # the 2 already processed are not counted again
    assert counter() == 0
    client = keycache._redis()
    assert sum(int(client.get(key)) for key in client.keys("ganjaran:ingest:processed:*")) == 3  # the rate


def test_the_api_reads_the_backlog_in_the_authentications_round_trip(acme, acme_api):
    set_counter(42)

    _epoch, counts = keycache.epoch_and_count(acme_api.partner_key.pk, 60, keycache.now())

    assert counts.backlog == 42
    set_counter(-3)  # a counter drifted below zero reads as empty
    assert keycache.epoch_and_count(acme_api.partner_key.pk, 60, keycache.now())[1].backlog == 0


def test_reconciliation_resets_a_drifted_counter_from_the_database(acme, alice, bob):
    ids = record_events(acme, [clean("e1"), clean("e2"), clean("e3", "bob")], enqueue=False).event_ids
    process_events(ids[:1])
    set_counter(500)  # e.g. a worker died after its commit, before its decrement

    assert backlog.reconcile() == {"counted": 500, "actual": 2}
    assert counter() == 2
    assert backlog.reconcile() == {"counted": 2, "actual": 2}


def test_a_lost_counter_is_rebuilt_and_a_stuck_one_cannot_refuse_ingestion_for_ever(acme, acme_api, limit_of_5):
    set_counter(100)  # no unprocessed event is stored: the counter is wrong
    assert acme_api.post(URL, event("e1"), format="json").status_code == 429

    assert reconcile_ingest_backlog_task() == {"counted": 100, "actual": 0}

    assert acme_api.post(URL, event("e1"), format="json").status_code == 202
    keycache._redis().delete(backlog.KEY)
    assert reconcile_ingest_backlog_task() == {"counted": 0, "actual": 1}
    assert counter() == 1


def test_reconciliation_runs_every_minute_off_the_ingest_queues():
    entry = SCHEDULE["engagement-reconcile-ingest-backlog"]

    assert entry == {"task": "engagement.tasks.reconcile_ingest_backlog_task", "schedule": 60.0}
    # The default queue (no queue of its own), not a backlogged `ingest` one.
    assert getattr(reconcile_ingest_backlog_task, "queue", None) is None


@pytest.mark.parametrize(
    ("processed_now", "processed_before", "backlog_now", "expected"),
    [
        (0, 0, 9_000, 30),  # nothing processed lately: workers stalled or busy on one batch
        (1_200, 0, 5_100, 5),  # 1,200 in 60 s = 20/s; 100 over the limit -> 5 s
        (600, 600, 5_001, 1),  # at least 1 s
        (60, 0, 50_000, 60),  # at most 60 s: the next refusal tells again
    ],
)
def test_retry_after_is_the_excess_over_the_recent_processing_rate(
    processed_now, processed_before, backlog_now, expected
):
    minute = 29_000_000
    client = keycache._redis()
    client.set(backlog.PROCESSED_KEY.format(minute=minute), processed_now)
    client.set(backlog.PROCESSED_KEY.format(minute=minute - 1), processed_before)

    # `now` at the start of `minute`: the rate is over the 60 s of the minute before.
    assert backlog.retry_after(backlog_now, 5_000, minute * 60.0) == expected


def test_the_schema_documents_the_refusal_on_post_events(acme_api):
    schema = acme_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    refused = schema["paths"]["/api/v1/events"]["post"]["responses"]["429"]
    assert "`ingest_backlog`" in refused["description"]
    assert "same event_ids" in refused["description"]
    assert refused["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert refused["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    other = schema["paths"]["/api/v1/customers"]["post"]["responses"]["429"]
    assert other["description"] == "Rate limit of the key exceeded; retry after Retry-After seconds."
