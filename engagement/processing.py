"""Processing of newly ingested events: claim them, update per-customer aggregates, and hand
them to the registered handlers (campaigns, incremental scoring) in the same transaction.

Claiming is a conditional UPDATE (`processed_at IS NULL`) with RETURNING, so a task delivered
twice, or two workers on overlapping ids, process each event exactly once. If anything fails
the transaction rolls back and the beat sweep picks the events up again
(process_stranded_events, which never loops on one bad batch).
"""

import contextlib
import gc
import logging
import threading
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from engagement import backlog, hooks
from engagement.models import Customer, CustomerEventCount, Event

log = logging.getLogger(__name__)
EVENTS = Event._meta.db_table
COUNTS = CustomerEventCount._meta.db_table
CUSTOMERS = Customer._meta.db_table
SWEEP_AGE = timedelta(minutes=2)
SWEEP_BATCH = 1000


def shard_queue(customer_id):
    """The queue processing a customer's events: `ingest` unsharded, else `ingest-<id mod N>`
    (settings.INGEST_SHARDS). One worker process per shard queue: then no two processing
    transactions ever lock the same customer, ledger account or campaign effect key."""
    shards = settings.INGEST_SHARDS
    return "ingest" if shards <= 1 else f"ingest-{customer_id % shards}"


def enqueue_processing(rows):
    """Enqueue process_events_task for `rows` of (event id, customer id): one task, or with
    INGEST_SHARDS > 1 one task per shard holding that shard's customers' events (in id
    order). Called on the commit of the events' insert; counts them in the ingest backlog
    first (engagement.backlog), so a worker's decrement never precedes it."""
    from engagement.tasks import process_events_task

    backlog.add(len(rows))
    by_queue = defaultdict(list)
    for event_id, customer_id in rows:
        by_queue[shard_queue(customer_id)].append(event_id)
    for queue, ids in sorted(by_queue.items()):
        process_events_task.apply_async((sorted(ids),), queue=queue)


def claim_events(event_ids, now):
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {EVENTS} SET processed_at = %s WHERE id = ANY(%s) AND processed_at IS NULL"
            " RETURNING id, program_id",
            [now, list(event_ids)],
        )
        return cursor.fetchall()


def update_aggregates(event_ids):
    """Add the claimed events to CustomerEventCount and the Customer aggregate columns."""
    params = [list(event_ids)]
    with connection.cursor() as cursor:
        # The batch's customers are locked first, in id order, so two workers processing
        # batches with overlapping customers queue up instead of deadlocking on the updates
        # below (whose row order is the hash aggregate's). FOR NO KEY UPDATE, the lock the
        # UPDATE takes anyway: it does not block an ingest's foreign-key checks.
        cursor.execute(
            f"""SELECT id FROM {CUSTOMERS} WHERE id IN (SELECT customer_id FROM {EVENTS} WHERE id = ANY(%s))
                ORDER BY id FOR NO KEY UPDATE""",
            params,
        )
        cursor.execute(
            f"""INSERT INTO {COUNTS} (customer_id, type, count, last_at)
                SELECT customer_id, type, COUNT(*), MAX(occurred_at) FROM {EVENTS}
                WHERE id = ANY(%s) GROUP BY customer_id, type
                ON CONFLICT (customer_id, type) DO UPDATE
                SET count = {COUNTS}.count + excluded.count,
                    last_at = GREATEST({COUNTS}.last_at, excluded.last_at)""",
            params,
        )
        cursor.execute(
            f"""UPDATE {CUSTOMERS} SET
                    event_count = {CUSTOMERS}.event_count + a.n,
                    purchase_count = {CUSTOMERS}.purchase_count + a.purchases,
                    revenue = {CUSTOMERS}.revenue + a.revenue,
                    first_seen_at = LEAST(COALESCE({CUSTOMERS}.first_seen_at, a.first_at), a.first_at),
                    last_seen_at = GREATEST(COALESCE({CUSTOMERS}.last_seen_at, a.last_at), a.last_at)
                FROM (SELECT customer_id, COUNT(*) AS n,
                             SUM(CASE WHEN type = 'purchase' THEN 1 ELSE 0 END) AS purchases,
                             COALESCE(SUM(CASE WHEN type = 'purchase' THEN value ELSE 0 END), 0) AS revenue,
                             MIN(occurred_at) AS first_at, MAX(occurred_at) AS last_at
                      FROM {EVENTS} WHERE id = ANY(%s) GROUP BY customer_id) AS a
                WHERE {CUSTOMERS}.id = a.customer_id""",
            params,
        )


_gc = {"holders": 0, "was_enabled": False}
_gc_lock = threading.Lock()


@contextlib.contextmanager
def collector_paused():
    """Automatic cyclic garbage collection off inside (nested and concurrent uses counted;
    the last one out turns it back on if it was on). A batch allocates tens of thousands of
    short-lived objects (rows, model instances, candidates); a collection promotes those still
    in use to the older generations, which then triggered a full collection of the worker's
    whole heap every 2-3 batches (about 100 ms each: 20-25 % of a 20-campaign batch's Python
    CPU, bench/campaigns.py). Reference counting still frees the batch's objects when it ends;
    the few cycles wait for the next collection after it."""
    with _gc_lock:
        _gc["holders"] += 1
        if _gc["holders"] == 1:
            _gc["was_enabled"] = gc.isenabled()
            gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc["holders"] -= 1
            if _gc["holders"] == 0 and _gc["was_enabled"]:
                gc.enable()


def process_events(event_ids, *, run_handlers=True):
    """Process the given events once each; returns how many this call processed.
    `run_handlers=False` only claims them and updates the aggregates (the sweep's last resort
    for an event whose handlers keep failing, see process_stranded_events)."""
    if not event_ids:
        return 0
    with collector_paused():
        return _process_events(event_ids, run_handlers)


def _process_events(event_ids, run_handlers):
    with transaction.atomic():
        claimed = claim_events(event_ids, timezone.now())
        if not claimed:
            return 0
        ids = [row[0] for row in claimed]
        # Out of the ingest backlog once this commits (robust: a Redis error is logged, and
        # the beat's reconcile corrects the counter).
        transaction.on_commit(lambda: backlog.processed(len(ids), time.time()), robust=True)
        update_aggregates(ids)
        by_program = {}
        for event_id, program_id in claimed:
            by_program.setdefault(program_id, []).append(event_id)
        if run_handlers:
            # One scope for the batch: rewards writes the grants of all handlers at its end.
            with hooks.batch_scope():
                for program_id, program_event_ids in by_program.items():
                    hooks.run_event_handlers(program_id, sorted(program_event_ids))
    return len(ids)


def process_stranded_events(now=None):
    """The recovery sweep: process events whose task was lost; returns how many.

    It can never loop on one bad batch: a batch that fails (anything but a transient
    database error, which propagates for a retry) is processed event by event, and an event
    that still fails alone is processed without its handlers and logged, so it is never
    picked up again and never holds back the events behind it. (Campaign failures do not get
    here: rewards.campaigns.engine isolates each campaign and moves a failing one to error.)
    """
    total = 0
    while ids := list_stranded_event_ids(now):
        done = _process_isolating_failures(ids)
        total += done
        if done == 0:
            break
    return total


def _process_isolating_failures(ids):
    try:
        return process_events(ids)
    except (OperationalError, InterfaceError):
        raise
    except Exception:  # noqa: BLE001 - bisected below, each failing event logged
        log.exception("processing a batch of %s stranded events failed; processing them one by one", len(ids))
    done = 0
    for event_id in ids:
        try:
            done += process_events([event_id])
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # noqa: BLE001 - logged; the event is kept, its aggregates counted
            log.exception("event %s fails its handlers; processed without them", event_id)
            done += process_events([event_id], run_handlers=False)
    return done


def list_stranded_event_ids(now=None, limit=SWEEP_BATCH):
    """Events received a while ago and still unprocessed: their task was lost."""
    cutoff = (now or timezone.now()) - SWEEP_AGE
    return list(
        Event.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("id", flat=True)[:limit]
    )
