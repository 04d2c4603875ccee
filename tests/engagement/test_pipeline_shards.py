"""Processing partitioned by customer (settings.INGEST_SHARDS): batches are split per shard
queue, and two workers processing the shards at once write exactly the ledger one worker
writes for the same events."""

import base64
import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from django.db import connection

from engagement.ingest import record_events
from engagement.models import Customer, Event
from engagement.processing import enqueue_processing, process_events, shard_queue
from rewards.models import LedgerEntry, PointsAccount
from tests.campaigns.conftest import ev, make_campaign
from tests.factories import CustomerFactory, ProgramFactory

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _queued(queue):
    """The event-id lists of the process_events_task messages waiting in `queue` (Redis),
    removing them."""
    from config.celery import app

    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        raw = client.lrange(queue, 0, -1)
        client.delete(queue)
    out = []
    for message in raw:
        message = json.loads(message)
        assert message["headers"]["task"] == "engagement.tasks.process_events_task"
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append(args[0])
    return out


def test_shard_queue_is_ingest_unsharded_and_the_customer_modulo_n_sharded(settings):
    settings.INGEST_SHARDS = 1
    assert [shard_queue(n) for n in (1, 2, 7)] == ["ingest", "ingest", "ingest"]
    settings.INGEST_SHARDS = 3
    assert [shard_queue(n) for n in (3, 4, 5, 6)] == ["ingest-0", "ingest-1", "ingest-2", "ingest-0"]


def test_an_ingested_batch_is_split_into_one_task_per_shard(acme, settings, django_capture_on_commit_callbacks):
    settings.INGEST_SHARDS = 2
    customers = [CustomerFactory(program=acme, external_id=f"s{n}") for n in range(6)]
    for queue in ("ingest", "ingest-0", "ingest-1"):
        _queued(queue)
    events = [ev(c, "page_view", at=START + timedelta(minutes=n), url="/") for n, c in enumerate(customers * 2)]

    with django_capture_on_commit_callbacks(execute=True):
        ids = record_events(acme, events).event_ids

    owner = dict(Event.objects.filter(id__in=ids).values_list("id", "customer_id"))
    even = sorted(i for i in ids if owner[i] % 2 == 0)
    odd = sorted(i for i in ids if owner[i] % 2 == 1)
    assert len(even) + len(odd) == 12 and even and odd
    assert _queued("ingest-0") == [even]
    assert _queued("ingest-1") == [odd]
    assert _queued("ingest") == []


def test_unsharded_a_batch_is_one_task_on_ingest(acme, settings):
    settings.INGEST_SHARDS = 1
    _queued("ingest")
    enqueue_processing([(5, 1), (3, 2), (4, 3)])
    assert _queued("ingest") == [[3, 4, 5]]


def _program_with_events(slug):
    """A program, 12 customers, 3 campaigns (per-event, 3rd purchase, capped per customer)
    and 120 stored, unprocessed events; returns (program, {shard k: event ids})."""
    program = ProgramFactory(name=slug, slug=slug, currency="MYR")
    customers = [CustomerFactory(program=program, external_id=f"k{n}") for n in range(12)]
    make_campaign(
        program, "event", {"event_type": "purchase", "min_value": "20"}, [("grant_points", {"percent": "10"})]
    )
    make_campaign(program, "nth_event", {"event_type": "purchase", "n": 3}, [("grant_points", {"points": 50})])
    make_campaign(
        program, "event", {"event_type": "page_view"}, [("grant_points", {"points": 2})], limits={"per_customer": 2}
    )
    events = []
    for n in range(120):
        customer = customers[(n * 7) % 12]
        if n % 3:
            events.append(
                ev(
                    customer,
                    "purchase",
                    at=START + timedelta(minutes=n),
                    value=10 + n,
                    order_id=f"o{n}",
                    event_id=f"{slug}-{n}",
                )
            )
        else:
            events.append(ev(customer, "page_view", at=START + timedelta(minutes=n), url="/", event_id=f"{slug}-{n}"))
    ids = record_events(program, events, enqueue=False).event_ids
    shards = {}
    for event_id, customer_id in Event.objects.filter(id__in=ids).values_list("id", "customer_id"):
        shards.setdefault(customer_id % 2, []).append(event_id)
    return program, {k: sorted(v) for k, v in shards.items()}


def _ledger(program):
    """Per customer: the multiset of (kind, points, pending, source_type, reason), and balances."""
    entries = Counter(
        LedgerEntry.objects.filter(program=program).values_list(
            "customer__external_id", "kind", "points", "pending_points", "source_type", "reason"
        )
    )
    balances = dict(PointsAccount.objects.filter(program=program).values_list("customer__external_id", "balance"))
    return entries, balances


def test_two_workers_processing_the_shards_at_once_write_the_ledger_of_one(transactional_db):
    one, one_shards = _program_with_events("one-worker")
    two, two_shards = _program_with_events("two-workers")

    # one worker: every event in one call
    assert process_events(sorted(i for ids in one_shards.values() for i in ids)) == 120

    # two workers: one thread (its own database connection) per shard, started together
    barrier, done, errors = threading.Barrier(2), {}, []

    def worker(k):
        try:
            barrier.wait()
            done[k] = process_events(two_shards[k])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert done[0] + done[1] == 120 and done[0] and done[1]
    one_entries, one_balances = _ledger(one)
    two_entries, two_balances = _ledger(two)
    assert two_entries == one_entries
    assert two_balances == one_balances
    # the rules did fire. Customer k<c> gets events n = 7c mod 12 (+ 12, 24...): purchases for
    # 8 customers (74 of at least 20, a 3rd purchase each), page views only for the other 4
    # (capped at 2 each).
    campaign = [e for e in one_entries.elements() if e[4] == "campaign"]
    assert len(campaign) == 74 + 8 + 4 * 2
    assert set(Customer.objects.filter(program=two).values_list("event_count", flat=True)) == {10}
