"""The customer of every event exists (migration 0014: triggers checking once per INSERT
statement instead of a foreign key checking once per row): an event naming a customer that
is not there is refused with nothing stored, and a customer still named by events cannot be
deleted except through the ORM, which deletes the events first."""

import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from engagement import ingest
from engagement.event_schema import CleanEvent
from engagement.models import Customer, Event, EventKey
from tests.db_sessions import other_session_dsn

MISSING = 987_654_321


def page_view(event_id, customer):
    return CleanEvent(
        event_id=event_id,
        type="page_view",
        customer=customer,
        occurred_at=datetime(2026, 3, 1, 10, tzinfo=UTC),
        value=None,
        currency="",
        properties={"url": "/home"},
    )


def test_a_batch_naming_a_missing_customer_is_refused_whole(acme, alice):
    # given a batch whose second event names a customer id that does not exist
    # (as if deleted between the lookup and the insert)
    events = [page_view("e1", "alice"), page_view("e2", "ghost")]
    customers = {"alice": alice.pk, "ghost": MISSING}

    # when it is inserted, then the whole statement fails and nothing is stored
    with pytest.raises(IntegrityError) as refused:
        with transaction.atomic():
            ingest._insert_events(acme, events, customers, timezone.now())
    assert refused.value.__cause__.sqlstate == "23503"
    assert f"Key (customer_id)=({MISSING}) is not present" in str(refused.value.__cause__.diag.message_detail)
    assert Event.objects.count() == 0
    assert EventKey.objects.count() == 0


def test_record_events_stores_a_batch_of_known_and_new_customers(acme, alice):
    result = ingest.record_events(acme, [page_view("e1", "alice"), page_view("e2", "carol")], enqueue=False)

    assert (result.accepted, result.duplicates) == (2, 0)
    carol = Customer.objects.get(program=acme, external_id="carol")
    assert sorted(Event.objects.values_list("event_id", "customer_id")) == [("e1", alice.pk), ("e2", carol.pk)]


def test_an_orm_event_for_a_missing_customer_is_refused(acme):
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Event.objects.create(
                program=acme, customer_id=MISSING, event_id="e1", type="page_view", occurred_at=timezone.now()
            )
    assert Event.objects.count() == 0


def test_moving_an_event_to_a_missing_customer_is_refused(acme, alice):
    ingest.record_events(acme, [page_view("e1", "alice")], enqueue=False)

    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Event.objects.filter(event_id="e1").update(customer_id=MISSING)
    assert list(Event.objects.values_list("customer_id", flat=True)) == [alice.pk]


def test_a_customer_named_by_events_cannot_be_deleted_behind_the_orm(acme, alice, bob):
    ingest.record_events(acme, [page_view("e1", "alice")], enqueue=False)

    with pytest.raises(IntegrityError) as refused:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM engagement_customer WHERE id IN (%s, %s)", [alice.pk, bob.pk])
    assert refused.value.__cause__.sqlstate == "23503"
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"alice", "bob"}
    assert Event.objects.count() == 1


def test_the_orm_deletes_a_customer_with_its_events(acme, alice, bob):
    ingest.record_events(acme, [page_view("e1", "alice"), page_view("e2", "bob")], enqueue=False)

    alice.delete()

    assert list(Event.objects.values_list("event_id", flat=True)) == ["e2"]
    # The key outlives the event: the id is still a duplicate.
    assert ingest.record_events(acme, [page_view("e1", "bob")], enqueue=False).duplicates == 1


def test_a_deletion_racing_an_ingest_waits_for_it_then_is_refused(transactional_db, acme, alice):
    # given an ingest transaction that has inserted alice's event, not committed yet
    outcome = {}

    def delete_alice():
        # Another session deletes as the ORM would: her events first (none visible yet), then her.
        with psycopg.connect(other_session_dsn()) as other:
            try:
                with other.transaction():
                    other.execute("DELETE FROM engagement_event WHERE customer_id = %s", [alice.pk])
                    other.execute("DELETE FROM engagement_customer WHERE id = %s", [alice.pk])
                outcome["result"] = "deleted"
            except psycopg.errors.ForeignKeyViolation:
                outcome["result"] = "refused"

    with transaction.atomic():
        ingest.record_events(acme, [page_view("e1", "alice")], enqueue=False)
        deleter = threading.Thread(target=delete_alice)
        deleter.start()
        # when the deletion is waiting for the lock the insert took on alice's row
        for _ in range(100):
            with connection.cursor() as cursor:
                # (pg_stat_activity is read once per transaction unless its snapshot is cleared)
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                if cursor.fetchone()[0]:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the deletion never waited for the lock the ingest took")
    deleter.join(10)

    # then, once the ingest commits, the deletion sees her event and is refused
    assert outcome == {"result": "refused"}
    assert Customer.objects.filter(pk=alice.pk).exists()
    assert list(Event.objects.values_list("event_id", "customer_id")) == [("e1", alice.pk)]
