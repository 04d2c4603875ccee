"""Admission control of event ingestion: the backlog of accepted, unprocessed events, and the
refusal of `POST /api/v1/events` while it is over EVENTS_MAX_BACKLOG (docs/operations.md,
"Ingest backpressure").

The measure is ONE Redis counter for the whole installation, not one per program: every
program's events wait in the same processing queues (`ingest`, or `ingest-<k>` by customer),
so the wait of any event is the installation's backlog divided by the processing rate, and
that is what the setting bounds. It moves by O(1) commands per batch, never per request:
- +n when an ingest's transaction commits (enqueue_processing, the on-commit callback that
  enqueues the batch; the platform's own events count too, as they are processed too);
- -n when a processing transaction commits (process_events' on-commit callback), together
  with a per-minute count of processed events that estimates the processing rate for
  Retry-After;
- read by the partner API's authentication in the Redis pipeline it sends anyway (keycache:
  epoch and rate counter), so the check costs no extra round trip.
It self-heals: `reconcile()` (beat, every minute) sets it to the database's count of
unprocessed events (an index-only count over the partial index `event_unprocessed`, whose
size is the backlog itself, bounded by this very limit). A worker that died between its
commit and its -n, a Redis flush, or events processed without an enqueue (tests, scripts)
leave it wrong for at most a minute, never refusing ingestion for ever. A command lost
between the database read and the SET shifts it by at most the batches in flight then.

Without Redis (the embedded `make demo`) there is no counter and no admission control:
processing runs eagerly inside the request there, so no backlog can build up.
"""

import logging
import math
from typing import Any

from django.conf import settings
from django.db import connection

from engagement.partner_api import keycache

log = logging.getLogger(__name__)

KEY = keycache.BACKLOG_KEY
PROCESSED_KEY = "ganjaran:ingest:processed:{minute}"  # events processed in that minute (rate)
RATE_WINDOW = 60  # seconds per processed-count key
MAX_RETRY_AFTER = 60  # seconds; a longer wait is re-announced by the next refusal
STALLED_RETRY_AFTER = 30  # seconds, when nothing was processed in the last two minutes


def _redis() -> Any:
    # The partner API's client (one per process, thread-safe pool); None without Redis.
    return keycache._redis()


def limit() -> int:
    """EVENTS_MAX_BACKLOG, or 0 (no admission control) without Redis."""
    return settings.EVENTS_MAX_BACKLOG if settings.REDIS_URL else 0


def add(count: int) -> None:
    """Count `count` events accepted (their ingest committed). Never raises: a lost command
    only shifts the counter until the next reconcile()."""
    client = _redis()
    if client is None or count <= 0:
        return
    try:
        client.incrby(KEY, count)
    except Exception:  # noqa: BLE001 - Redis trouble must not fail an ingest that committed
        log.warning("could not count %s accepted events in the ingest backlog", count, exc_info=True)


def processed(count: int, now: float) -> None:
    """Count `count` events processed (their processing committed): the backlog goes down,
    and this minute's processed count (the rate estimate) up. One round trip; never raises."""
    client = _redis()
    if client is None or count <= 0:
        return
    minute_key = PROCESSED_KEY.format(minute=int(now // RATE_WINDOW))
    try:
        pipe = client.pipeline(transaction=False)
        pipe.decrby(KEY, count)
        pipe.incrby(minute_key, count)
        pipe.expire(minute_key, 3 * RATE_WINDOW)
        pipe.execute()
    except Exception:  # noqa: BLE001 - the processing committed; reconcile() corrects the count
        log.warning("could not count %s processed events in the ingest backlog", count, exc_info=True)


def read() -> int:
    """The backlog as counted (0 when unknown). The API reads it from the authentication's
    pipeline instead (keycache.Counts.backlog); this is for everything else."""
    client = _redis()
    if client is None:
        return 0
    return parse(client.get(KEY))


def parse(raw: bytes | None) -> int:
    return max(int(raw), 0) if raw is not None else 0


def count_unprocessed() -> int:
    """The database's count of accepted, unprocessed events (the partial index
    `event_unprocessed` holds exactly those rows)."""
    from engagement.models import Event

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {Event._meta.db_table} WHERE processed_at IS NULL")
        return int(cursor.fetchone()[0])


def reconcile() -> dict[str, int]:
    """Set the counter to the database's count; returns {"counted": before, "actual": after}
    (beat, every minute; engagement.tasks.reconcile_ingest_backlog_task)."""
    client = _redis()
    if client is None:
        return {"counted": 0, "actual": 0}
    actual = count_unprocessed()
    before = client.getset(KEY, actual)
    counted = int(before) if before is not None else 0
    if counted != actual:
        log.info("ingest backlog counter was %s, the database holds %s unprocessed events", counted, actual)
    return {"counted": counted, "actual": actual}


def processing_rate(now: float) -> float:
    """Events processed per second over the last full minute and this one so far (0 when none)."""
    client = _redis()
    if client is None:
        return 0.0
    minute = int(now // RATE_WINDOW)
    current, previous = client.mget(PROCESSED_KEY.format(minute=minute), PROCESSED_KEY.format(minute=minute - 1))
    seconds = RATE_WINDOW + (now - minute * RATE_WINDOW)
    return (int(current or 0) + int(previous or 0)) / seconds


def refusal(counted: int | None, now: float) -> int | None:
    """None when a POST /events may be stored, else the seconds to wait (Retry-After): the
    backlog is over EVENTS_MAX_BACKLOG. `counted` is the backlog read by the authentication's
    Redis round trip (keycache.Counts.backlog); None (not read there) costs one GET here."""
    max_backlog = limit()
    if not max_backlog:
        return None
    current = read() if counted is None else counted
    if current <= max_backlog:
        return None
    return retry_after(current, max_backlog, now)


def retry_after(backlog: int, max_backlog: int, now: float) -> int:
    """Seconds until the backlog is estimated back under the limit at the recent processing
    rate, between 1 and MAX_RETRY_AFTER; STALLED_RETRY_AFTER when nothing was processed lately."""
    rate = processing_rate(now)
    if rate <= 0:
        return STALLED_RETRY_AFTER
    return min(max(math.ceil((backlog - max_backlog) / rate), 1), MAX_RETRY_AFTER)
