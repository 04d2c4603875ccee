"""The partner API's hot path without a database query for the key: partner keys (with their
program) cached per process, kept exact by one global epoch, and the per-key request counter,
both in ONE Redis round trip per request.

Contract:
- A key found in the cache is used only if the epoch it was read under is still the current
  one. Every committed change to a partner key, a program, or a program's rewards or checkout
  settings or earning rules bumps the epoch (signals below; `bump()` by hand after a queryset
  `update()` of those tables), so a revoked key is refused on the next request in every
  process, and a request never sees a program's settings older than its own start.
- The epoch is a random token (not a counter), so a Redis restart or flush, which loses it,
  can never make an old entry current again: a missing epoch is replaced by a new token.
- A miss reads the epoch *before* the database, so a change committed in between leaves the
  entry under an epoch that is already stale (read again next time), never the reverse.
- The counter is a sliding window estimated from two fixed windows (this one and the one
  before, weighted by how much of it still overlaps): atomic across processes (INCR), O(1) in
  memory, unlike DRF's SimpleRateThrottle, which keeps every timestamp of the window in one
  cache value and loses counts between two processes' read and write.
Without Redis (the embedded setup) both live in this process, and a cached key is read again
after LOCAL_TTL seconds: a change made by another process (a manage.py command) has no epoch
to move there.
"""

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

EPOCH_KEY = "ganjaran:api:epoch"
# engagement.backlog's counter: read here, in the same round trip, for POST /events's admission.
BACKLOG_KEY = "ganjaran:ingest:backlog"
COUNTER_KEY = "ganjaran:api:rate:{ident}:{window}"
MAX_ENTRIES = 10_000  # distinct keys cached per process; beyond, the cache starts afresh
LOCAL_TTL = 5.0  # seconds, without Redis only

_lock = threading.Lock()
_entries: dict[str, tuple[str, Any, float]] = {}  # hashed key -> (epoch, PartnerKey with program, stored at)
_local_epoch = secrets.token_hex(8)  # without Redis
_local_counts: dict[str, int] = {}
_client = None


def _redis() -> Any:
    """One client per process (its pool is thread-safe and reconnects after a fork)."""
    global _client
    if not settings.REDIS_URL:
        return None
    if _client is None:
        import redis

        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return _client


@dataclass
class Counts:
    """Requests of one identity in the current window (this one included) and the one before."""

    current: int
    previous: int
    window_start: float
    duration: int
    backlog: int | None = None  # the ingest backlog (engagement.backlog), read in the same round trip

    def estimate(self, now: float) -> float:
        overlap = 1 - (now - self.window_start) / self.duration
        return self.previous * max(overlap, 0.0) + self.current


def _keys(ident: int, duration: int, now: float) -> tuple[str, str, int]:
    window = int(now // duration)
    return (
        COUNTER_KEY.format(ident=ident, window=f"{duration}:{window}"),
        COUNTER_KEY.format(ident=ident, window=f"{duration}:{window - 1}"),
        window * duration,
    )


def read_epoch() -> str:
    client = _redis()
    if client is None:
        return _local_epoch
    epoch = client.get(EPOCH_KEY)
    if epoch is None:
        # Lost (restart, flush) or never set: a new token; another process may win the race.
        client.set(EPOCH_KEY, secrets.token_hex(8), nx=True)
        epoch = client.get(EPOCH_KEY)
    return epoch.decode()


def epoch_and_count(ident: int, duration: int, now: float) -> tuple[str | None, Counts]:
    """The current epoch (None when Redis has none: then nothing cached is current), and the
    identity's counter after counting this request (with the ingest backlog, for POST /events)."""
    current_key, previous_key, start = _keys(ident, duration, now)
    client = _redis()
    if client is None:
        with _lock:
            if len(_local_counts) > MAX_ENTRIES:
                _local_counts.clear()
            _local_counts[current_key] = _local_counts.get(current_key, 0) + 1
            return _local_epoch, Counts(_local_counts[current_key], _local_counts.get(previous_key, 0), start, duration)
    pipe = client.pipeline(transaction=False)
    pipe.get(EPOCH_KEY)
    pipe.incr(current_key)
    pipe.expire(current_key, 2 * duration)
    pipe.get(previous_key)
    pipe.get(BACKLOG_KEY)
    epoch, current, _ok, previous, backlog = pipe.execute()
    counts = Counts(int(current), int(previous or 0), start, duration, max(int(backlog or 0), 0))
    return (epoch.decode() if epoch is not None else None), counts


def uncount(ident: int, duration: int, now: float) -> None:
    """Take back a request that was refused (429), so hammering does not extend the wait."""
    current_key, _previous, _start = _keys(ident, duration, now)
    client = _redis()
    if client is None:
        with _lock:  # the counts may have been cleared in between (MAX_ENTRIES)
            _local_counts[current_key] = max(_local_counts.get(current_key, 0) - 1, 0)
        return
    client.decr(current_key)


def get(hashed_key: str) -> tuple[str, Any] | None:
    """(epoch, key) cached for this hashed key, or None."""
    entry = _entries.get(hashed_key)
    if entry is None or (not settings.REDIS_URL and time.monotonic() - entry[2] > LOCAL_TTL):
        return None
    return entry[0], entry[1]


def put(hashed_key: str, epoch: str, key: Any) -> None:
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[hashed_key] = (epoch, key, time.monotonic())


def clear_local() -> None:
    with _lock:
        _entries.clear()
        _programs.clear()


def bump() -> None:
    """Invalidate every process's cached keys and programs (after a change was committed)."""
    global _local_epoch
    clear_local()
    client = _redis()
    if client is None:
        with _lock:
            _local_epoch = secrets.token_hex(8)
        return
    client.set(EPOCH_KEY, secrets.token_hex(8))


def changed(sender: Any = None, **kwargs: Any) -> None:
    """Signal receiver: this process forgets at once (a rollback only costs a miss), and every
    process once the change is committed (at once outside a transaction)."""
    clear_local()
    transaction.on_commit(bump)


def now() -> float:
    return time.time()


# --- Program-level rows of the customer portal, under the same epoch -----------------------
# Rows that change only through save()/delete() (admin, services), whose signals below bump
# the epoch: a program's rewards settings, tiers and catalogue items. Never per-customer
# state, and never a column written by a queryset update(): an item's stock, voucher codes
# and provider products (payouts.catalogue) are read live by rewards.catalogue.

_programs: dict[tuple[str, int], tuple[str, Any, float]] = {}  # (name, program id) -> (epoch, value, stored at)


def program_value(program: Any, name: str, epoch: str, load: Any) -> Any:
    """`load(program)` cached per process under `epoch`, which the caller read (once per
    request) before reading the database, as for keys. The value is shared by threads and
    requests: read-only."""
    value = cached_program_value(program.pk, name, epoch)
    if value is not None:
        return value
    value = load(program)
    with _lock:
        if len(_programs) >= MAX_ENTRIES:
            _programs.clear()
        _programs[(name, program.pk)] = (epoch, value, time.monotonic())
    return value


def cached_program_value(program_id: int, name: str, epoch: str) -> Any:
    """What program_value would return from this process's cache without loading, or None
    when it would load (a page that knows only the program's id uses it, else reads as before)."""
    entry = _programs.get((name, program_id))
    if entry is not None and entry[0] == epoch:
        if settings.REDIS_URL or time.monotonic() - entry[2] <= LOCAL_TTL:
            return entry[1]
    return None


def _connect_program_rows() -> None:
    """Tiers and catalogue items bump the epoch on every committed change (lazy senders: the
    apps may load after this module)."""
    from django.db.models.signals import post_delete, post_save

    for label in ("rewards.Tier", "rewards.RewardItem"):
        post_save.connect(changed, sender=label, dispatch_uid=f"keycache-{label}", weak=False)
        post_delete.connect(changed, sender=label, dispatch_uid=f"keycache-{label}-del", weak=False)


_connect_program_rows()
