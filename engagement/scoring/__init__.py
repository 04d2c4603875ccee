"""Per-customer scores (METRICS.md section 9), computed set-based for a whole program.

One statement of SQL per re-score, no per-customer Python loop (the SQL is built in
engagement.scoring.sql):
1. the scored rows, one per customer of the program: the decayed weighted event sum, RFM
   inputs over the lookback, last event and the median gap between consecutive events, then
   the ranks (percentile rank for the engagement score, tie-aware quintiles for R, F and M),
   the named segment, the churn risk, and the stored values (old_*), as a CTE;
2. data-modifying CTEs reading its new and changed rows (filtered once, in the CTE `w`; a
   nightly pass: the ~70 % whose churn risk drifted; a steady one: few): ScoreTransition
   rows (INSERT … SELECT … RETURNING id), the CustomerScore UPDATE of the changed rows and INSERT of the new ones, and the day's
   CustomerScoreSnapshot rows of the customers whose state changed (engagement.scoring.history:
   the history is kept on change; a churn risk that only drifts with time needs no row).
Then engagement.hooks.run_transition_handlers, all in one transaction.

Definitions (documented in docs/engagement.md):
- engagement_score = 100 × PERCENT_RANK() of the raw score within the program (share of the
  other customers with a lower raw score); customers without events have raw score 0.
- R, F, M = 1 + ⌊5 × (RANK() − 1) / n⌋ over the n customers with ≥1 purchase in the lookback
  (ties share a score; 5 = best; recency: a later last purchase is better). Customers without
  a purchase in the lookback have no R/F/M and the segment "Others".
- churn_risk = days since last event / (2 × median gap in days, at least 1 day), clipped to
  0..1. One event only: days since it / churn_horizon_days. No event at all: 1.

Which events are read again. A decayed sum decays as a whole:
Σ w·½^((as_of − t)/h) = ½^((as_of − s)/h) · Σ w·½^((s − t)/h), so a stored raw score (as of
its scored_at s) stays exact for any later pass while the customer's events are the same.
Events are append-only and processing counts them into Customer.event_count and
last_seen_at, so they are the same when the stored event_count and last_event_at equal those,
every event is before as_of and processed, and the weights, half-life and RFM lookback are
those the row was computed with (weights_key). Only the other customers' events are read again ("fresh"
customers); the RFM inputs, whose lookback window moves, come from the purchases alone
(a covering index). Historic snapshots read all events as of that day's end.
RFM inputs from the stored ones. A customer whose events are those of their stored row had,
as of its scored_at s, exactly the stored purchases in the lookback [s − L, s) (a purchase at
the lookback start is in it); as of a later pass t they have those minus the purchases in
[s − L, t − L). So a live pass as of no earlier than every stored row, and while every
buyer's row is younger than one lookback, reads only those purchases (a nightly pass: a day
of them) instead of the lookback's. They are read from HISTORY, so purchases that retention
rolled up are taken off too; L is in weights_key, so a changed lookback reads every customer
again; a live pass counts the lookback in UTC days (as_of in UTC), so that every row's
[s − L, s) is the one its pass read. A pass back in time, a buyer's row older than one
lookback and a historic snapshot aggregate the lookback's purchases.
The re-score after new events (rescore_customers) is this same full pass at that instant, so
it gives what a full pass gives: ranking only the queued customers against the others' stored
values did not (during an import the others' events were not scored yet, and their ranks never
moved when the queued customers' did).
Scoring of one program is serialised by a PostgreSQL advisory lock.
"""

import json
import zlib
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from engagement import hooks
from engagement.models import Event, Program, ScoringQueueEntry
from engagement.scoring import history
from engagement.scoring.sql import (
    CUSTOMERS,
    SCORES,
    SHOWN,
    WRITTEN_COLUMNS,
    flags_sql,
    score_writes_sql,
    scores_sql,
    snapshots_sql,
    stale_sql,
    transitions_sql,
)

__all__ = [
    "SHOWN",
    "ScoringResult",
    "claim_queued_customers",
    "list_queued_program_ids",
    "local_date",
    "local_day_end",
    "queue_customers_for_events",
    "rescore_customers",
    "rescore_program",
    "rescore_queued",
    "snapshot_scores",
    "weights_key",
]

EVENTS = Event._meta.db_table
QUEUE = ScoringQueueEntry._meta.db_table
CUSTOMER_COUNT = f"(SELECT COUNT(*) FROM {CUSTOMERS} WHERE program_id = %(program)s)"
ADVISORY_LOCK_BASE = 7_310_000_000  # + program id: one scoring pass per program at a time
QUEUE_BATCH = 5000
SCORING_WORK_MEM = "256MB"
# Above this share of fresh customers a re-score aggregates the program's events in one scan
# (a hash join) instead of reading each fresh customer's events through the customer index.
SCAN_ALL_SHARE = 0.2


@dataclass(frozen=True)
class ScoringResult:
    customers: int
    transitions: int
    # CustomerScore rows inserted or updated: only those whose shown values changed.
    scores_written: int = 0


def _dt(value):
    return connection.ops.adapt_datetimefield_value(value)


def _fresh_customers(cursor, params, everyone):
    """A full pass: (the customers whose events must be read again, whether to read them in
    one scan of the program's events, whether the others' RFM inputs come from their stored
    ones). See "Which events are read again" and "RFM inputs from the stored ones" in the
    module docstring; `everyone` for a pass as of another time than now (snapshots).
    Sets %(expiring_from)s and %(lookback_seconds)s for engagement.scoring.sql._expiring_sql."""
    stale = "TRUE" if everyone else stale_sql()
    cursor.execute(
        f"""SELECT COUNT(*), COALESCE(array_agg(c.id) FILTER (WHERE {stale}), '{{}}'), MAX(s.scored_at),
                MIN(s.scored_at) FILTER (WHERE s.frequency > 0)
            FROM {CUSTOMERS} c LEFT JOIN {SCORES} s ON s.customer_id = c.id WHERE c.program_id = %(program)s""",
        params,
    )
    total, ids, latest, earliest_buyer = cursor.fetchone()
    lookback = params["as_of"] - params["lookback_start"]
    # Only forward in time (a pass as of before a stored row would bring purchases back into
    # the lookback), and only while the purchases that left it are fewer than those in it.
    expiring = not everyone and latest is not None and latest <= params["as_of"]
    expiring = expiring and (earliest_buyer is None or params["as_of"] - earliest_buyer < lookback)
    params["expiring_from"] = (earliest_buyer or params["as_of"]) - lookback
    params["lookback_seconds"] = lookback.total_seconds()
    return ids, len(ids) > SCAN_ALL_SHARE * total, expiring


def local_day_end(program, day):
    """The UTC instant at which `day` ends in the program's time zone."""
    tz = zoneinfo.ZoneInfo(program.timezone)
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def local_date(program, instant):
    return instant.astimezone(zoneinfo.ZoneInfo(program.timezone)).date()


def weights_key(program):
    """A fingerprint of what a stored row's values depend on besides the events: the score
    weights and the half-life (the raw score), and the RFM lookback (the stored purchases
    that later passes take off, "RFM inputs from the stored ones"). A row computed with other
    ones is read again from the events."""
    weights = sorted((type_, float(weight)) for type_, weight in program.get_score_weights().items())
    payload = json.dumps([weights, float(program.score_half_life_days), program.rfm_lookback_days])
    return zlib.crc32(payload.encode()) & 0x7FFFFFFF


def _write_in_one_statement(cursor, program, params, *, incremental, everyone, write_current, snapshots):
    """Score and write in ONE statement: the scored rows are a CTE that the data-modifying
    CTEs (transitions, scores, snapshots) read, so nothing is written to a temporary table,
    analysed and read back. A full pass scores only targets, so its statements carry no
    target filter (whose selectivity the planner could only guess).
    Returns (customers scored, transition ids, score rows written)."""
    targets = "n.is_target = 1" if incremental else "TRUE"
    scan_all = expiring = False
    if not incremental:
        params["fresh"], scan_all, expiring = _fresh_customers(cursor, params, everyone)
    scored = scores_sql(program, params, incremental, scan_all, expiring)
    # Not MATERIALIZED: a live pass reads it once (into `w`), so it is not stored whole
    # (100,000 rows of ~430 bytes); OFFSET 0 keeps each flag computed once per row.
    ctes = [f"n AS (SELECT n.*, {flags_sql('n')} FROM ({scored}) n OFFSET 0)"]
    transitions, written = "NULL", "0"
    first_of_day, all_rows = snapshots
    if write_current:
        # The rows any write reads: new ones and changed ones (a moved band, segment or state
        # is a changed shown value), with the columns the writes read. Filtered once: in the
        # steady state few rows, so the writes do not each scan all the scored rows again.
        ctes.append(
            f"""w AS MATERIALIZED (SELECT {", ".join(f"n.{c}" for c in WRITTEN_COLUMNS)} FROM n
                WHERE {targets} AND (n.old_customer_id IS NULL OR n.score_changed))"""
        )
        moved, insert_transitions = transitions_sql("w", "TRUE")
        update, insert_scores = score_writes_sql("w", "TRUE")
        ctes += [
            f"moved AS MATERIALIZED ({moved})",
            f"recorded AS ({insert_transitions})",
            f"updated AS ({update})",
            f"inserted AS ({insert_scores})",
        ]
        transitions = "(SELECT array_agg(id) FROM recorded)"
        written = "(SELECT COUNT(*) FROM updated) + (SELECT COUNT(*) FROM inserted)"
    # A full pass scores each of the program's customers: counted from the customers in this
    # same statement (one snapshot), so that `n` is not read a second time.
    scored_count = f"(SELECT COUNT(*) FROM n WHERE {targets})" if incremental else CUSTOMER_COUNT
    every_snapshot = all_rows or not write_current
    source, where = ("n", targets) if every_snapshot else ("w", "TRUE")
    snapshot_rows = snapshots_sql(source, where, first_of_day=first_of_day, everyone=every_snapshot)
    ctes.append(f"snapshots AS ({snapshot_rows})")
    cursor.execute(
        f"WITH {', '.join(ctes)} SELECT {scored_count}, {transitions}, {written}",
        params,
    )
    scored, transition_ids, written = cursor.fetchone()
    return scored, sorted(transition_ids or []), written


def _run(program, *, as_of, day, customer_ids=None, write_current=True, now=None):
    """Score as of `as_of` and write the results; see module docstring."""
    now = now or timezone.now()
    if write_current:  # the lookback in UTC days: "RFM inputs from the stored ones"
        as_of = as_of.astimezone(UTC)
    incremental = customer_ids is not None
    params = {
        "program": program.id,
        "as_of": _dt(as_of),
        "now": _dt(now),
        "day": connection.ops.adapt_datefield_value(day),
        "lookback_start": _dt(as_of - timedelta(days=program.rfm_lookback_days)),
        "half_life": float(max(program.score_half_life_days, 1)),
        "horizon": float(max(program.churn_horizon_days, 1)),
        "weights_key": weights_key(program),
    }
    if incremental:
        params["fresh"] = list(customer_ids)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_BASE + program.id])
        # The aggregates and the sorts must not spill to disk (the server default is 4 MB);
        # this transaction only.
        cursor.execute(f"SET LOCAL work_mem = '{SCORING_WORK_MEM}'")
        options = {"incremental": incremental, "write_current": write_current}
        options["snapshots"] = history.snapshot_mode(cursor, params)
        if not write_current:
            history.carry_to_next_day(cursor, params)
        # A historic snapshot reads every event as of that day's end: stored rows are as of now.
        scored, transition_ids, written = _write_in_one_statement(
            cursor, program, params, everyone=not write_current, **options
        )
        history.record_day(cursor, params, live=write_current)
        if transition_ids:
            hooks.run_transition_handlers(program.id, transition_ids)
    return ScoringResult(customers=scored, transitions=len(transition_ids), scores_written=written)


def rescore_program(program, *, now=None):
    """Re-score every customer of `program` as of now: CustomerScore, today's snapshot and
    transitions, in one transaction (transition handlers run inside it). Idempotent: a
    second run records no transitions unless time moved a customer into another band."""
    now = now or timezone.now()
    return _run(program, as_of=now, day=local_date(program, now), now=now)


def rescore_customers(program, customer_ids, *, now=None):
    """Re-score after `customer_ids` had new events, as of now: the full pass at that instant,
    which reads again only the events of customers whose stored row is stale (these, and any
    other with new events) and writes only the rows that changed, so every customer gets what a
    full pass gives."""
    if not customer_ids:
        return ScoringResult(0, 0)
    now = now or timezone.now()
    return _run(program, as_of=now, day=local_date(program, now), now=now)


def snapshot_scores(program, day):
    """Rebuild the score snapshot of `day` from the events before that day's end (program
    time zone). Touches neither CustomerScore nor transitions."""
    return _run(program, as_of=local_day_end(program, day), day=day, write_current=False)


def queue_customers_for_events(program_id, event_ids):
    """Event handler (engagement.hooks): queue the customers of newly processed events for
    the incremental re-score. Set-based; runs inside the processing transaction."""
    if not event_ids:
        return
    params = {"ids": list(event_ids), "now": _dt(timezone.now())}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {QUEUE} (customer_id, program_id, queued_at)
                SELECT DISTINCT customer_id, program_id, CAST(%(now)s AS timestamptz) FROM {EVENTS}
                WHERE id = ANY(%(ids)s)
                ON CONFLICT (customer_id) DO NOTHING""",
            params,
        )


def claim_queued_customers(program_id, limit=QUEUE_BATCH):
    """Take up to `limit` (None: all) queued customers of a program off the queue (in the
    caller's transaction, so a failed re-score puts them back). SKIP LOCKED lets workers share."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""DELETE FROM {QUEUE} WHERE customer_id IN (
                    SELECT customer_id FROM {QUEUE} WHERE program_id = %s ORDER BY queued_at LIMIT %s FOR UPDATE SKIP LOCKED)
                RETURNING customer_id""",
            [program_id, limit],
        )
        return sorted(row[0] for row in cursor.fetchall())


def rescore_queued(program_id):
    """Re-score after the queued customers' new events; returns how many were taken off the
    queue. The pass covers every queued customer of the program (see rescore_customers), so
    it takes them all."""
    program = Program.objects.filter(pk=program_id).first()
    if program is None:
        return 0
    with transaction.atomic():
        ids = claim_queued_customers(program_id, None)
        if ids:
            rescore_customers(program, ids)
        return len(ids)


def list_queued_program_ids():
    return list(ScoringQueueEntry.objects.values_list("program_id", flat=True).distinct().order_by("program_id"))
