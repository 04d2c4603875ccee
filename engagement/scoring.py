"""Per-customer scores (METRICS.md section 9), computed set-based for a whole program.

One pass of SQL per re-score, no per-customer Python loop:
1. the scored rows, one per customer of the program: the decayed weighted event sum, RFM
   inputs over the lookback, last event and the median gap between consecutive events, then
   the ranks (percentile rank for the engagement score, tie-aware quintiles for R, F and M),
   the named segment, the churn risk, and the stored values (old_*);
2. from them: ScoreTransition rows (INSERT … SELECT … RETURNING id), the CustomerScore
   UPDATE of the changed rows and INSERT of the new ones, and the day's CustomerScoreSnapshot
   rows (a plain INSERT on the day's first pass, else an upsert of the new or changed rows).
On PostgreSQL 1 and 2 are ONE statement (the scored rows a CTE read by data-modifying CTEs);
on SQLite the scored rows go through a temporary table. Then
engagement.hooks.run_transition_handlers, all in one transaction.

Definitions (documented in docs/engagement.md):
- engagement_score = 100 × PERCENT_RANK() of the raw score within the program (share of the
  other customers with a lower raw score); customers without events have raw score 0.
- R, F, M = 1 + ⌊5 × (RANK() − 1) / n⌋ over the n customers with ≥1 purchase in the lookback
  (ties share a score; 5 = best; recency: a later last purchase is better). Customers without
  a purchase in the lookback have no R/F/M and the segment "Others".
- churn_risk = days since last event / (2 × median gap in days, at least 1 day), clipped to
  0..1. One event only: days since it / churn_horizon_days. No event at all: 1.

Which events are read again (PostgreSQL). A decayed sum decays as a whole:
Σ w·½^((as_of − t)/h) = ½^((as_of − s)/h) · Σ w·½^((s − t)/h), so a stored raw score (as of
its scored_at s) stays exact for any later pass while the customer's events are the same.
Events are append-only and processing counts them into Customer.event_count and
last_seen_at, so they are the same when the stored event_count and last_event_at equal those,
every event is before as_of and processed, and the weights and half-life are those the row
was computed with (weights_key). Only the other customers' events are read again ("fresh"
customers); the RFM inputs, whose lookback window moves, come from the purchases alone
(a covering index). Historic snapshots read all events as of that day's end. SQLite (the demo
mode) reads every event on every pass.
On PostgreSQL the re-score after new events (rescore_customers) is this same full pass, so it
gives what a full pass gives at that instant; on SQLite it ranks the queued customers' fresh
values against the stored values of everyone else (raw scores decayed to now).
Scoring of one program is serialised by a PostgreSQL advisory lock.
"""

import json
import zlib
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from engagement import hooks
from engagement.models import (
    Customer,
    CustomerScore,
    CustomerScoreSnapshot,
    Event,
    Program,
    ScoreTransition,
    ScoringQueueEntry,
)

EVENTS = Event._meta.db_table
CUSTOMERS = Customer._meta.db_table
SCORES = CustomerScore._meta.db_table
SNAPSHOTS = CustomerScoreSnapshot._meta.db_table
TRANSITIONS = ScoreTransition._meta.db_table
QUEUE = ScoringQueueEntry._meta.db_table
TEMP = "engagement_score_new"  # SQLite only
MONEY_PLACES = Event._meta.get_field("value").decimal_places
ADVISORY_LOCK_BASE = 7_310_000_000  # + program id: one scoring pass per program at a time
QUEUE_BATCH = 5000
SCORING_WORK_MEM = "256MB"
# Above this share of fresh customers a re-score aggregates the program's events in one scan
# (a hash join) instead of reading each fresh customer's events through the customer index.
SCAN_ALL_SHARE = 0.2
# What a score row shows. A row whose shown values did not change is not written at all:
# rewriting 100,000 identical rows is most of a re-score's cost. Its raw_score stays
# consistent with its own scored_at (both are from the pass that last changed it), so
# decaying it to any later time, as the incremental re-score does, gives the same figure.
SHOWN = [
    "engagement_score",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "churn_risk",
    "event_count",
    "last_event_at",
    "last_purchase_at",
    "frequency",
    "monetary",
    "median_gap_days",
]
# Temp-table column names (the ranked CTE calls the RFM scores r, f and m).
TEMP_COLUMN = {"r_score": "r", "f_score": "f", "m_score": "m"}


@dataclass(frozen=True)
class ScoringResult:
    customers: int
    transitions: int


def _pg():
    return connection.vendor == "postgresql"


def _days(later, earlier):
    """SQL for (later - earlier) in fractional days."""
    if _pg():
        # date_part returns a float; EXTRACT returns numeric (PostgreSQL 14+), which is several
        # times slower per row, and this runs once per event.
        return f"(date_part('epoch', {later} - {earlier}) / 86400.0)"
    return f"(julianday({later}) - julianday({earlier}))"


def _least(*args):
    return f"{'LEAST' if _pg() else 'MIN'}({', '.join(args)})"


def _greatest(*args):
    return f"{'GREATEST' if _pg() else 'MAX'}({', '.join(args)})"


def _round(expr, places):
    return f"ROUND(CAST({expr} AS NUMERIC), {places})" if _pg() else f"ROUND({expr}, {places})"


def _ts(name):
    """A datetime parameter usable in arithmetic on both vendors."""
    return f"CAST(%({name})s AS timestamptz)" if _pg() else f"%({name})s"


def _in_ids(column, name="ids"):
    if _pg():
        return f"{column} = ANY(%({name})s)"
    return f"{column} IN (SELECT value FROM json_each(%({name})s))"


def _ids_param(ids):
    return list(ids) if _pg() else json.dumps(list(ids))


def _dt(value):
    return connection.ops.adapt_datetimefield_value(value)


def _weight_case(program, params):
    whens = []
    for n, (type_, weight) in enumerate(sorted(program.get_score_weights().items())):
        params[f"wt{n}"], params[f"wv{n}"] = type_, float(weight)
        # A float constant: a bare literal would be numeric, converted again for every event.
        whens.append(f"WHEN %(wt{n})s THEN CAST(%(wv{n})s AS DOUBLE PRECISION)")
    return f"(CASE e.type {' '.join(whens)} ELSE 0 END)" if whens else "0"


def _aggregates_sql(program, params, only):
    """Per-customer sums straight from the events, in one pass that needs no ordering (a hash
    aggregate, like a plain GROUP BY): everything but the median gap. Non-purchases add NULL,
    not 0, to the purchase sums: summing a million numeric zeros is measurable. `only`: the
    name of the parameter listing the customers to read, or None for all of the program's."""
    as_of = _ts("as_of")
    where = f"AND {_in_ids('e.customer_id', only)}" if only else ""
    is_purchase = f"e.type = 'purchase' AND e.occurred_at >= {_ts('lookback_start')}"
    return f"""SELECT e.customer_id,
        SUM({_weight_case(program, params)} * POWER(CAST(0.5 AS DOUBLE PRECISION), {_days(as_of, "e.occurred_at")} / %(half_life)s)) AS raw_score,
        COUNT(*) AS event_count,
        MAX(e.occurred_at) AS last_event_at,
        MAX(CASE WHEN {is_purchase} THEN e.occurred_at END) AS last_purchase_at,
        COUNT(CASE WHEN {is_purchase} THEN 1 END) AS frequency,
        COALESCE(SUM(CASE WHEN {is_purchase} THEN COALESCE(e.value, 0) END), 0) AS monetary
        FROM {EVENTS} e WHERE e.program_id = %(program)s AND e.occurred_at < {as_of} {where}
        GROUP BY e.customer_id"""


def _purchases_sql():
    """RFM inputs of the customers with a purchase in the lookback, from the purchases alone
    (the covering index event_purchases: no visit to the table)."""
    return f"""SELECT e.customer_id, MAX(e.occurred_at) AS last_purchase_at, COUNT(*) AS frequency,
            SUM(COALESCE(e.value, 0)) AS monetary
        FROM {EVENTS} e WHERE e.program_id = %(program)s AND e.type = 'purchase'
            AND e.occurred_at >= {_ts("lookback_start")} AND e.occurred_at < {_ts("as_of")}
        GROUP BY e.customer_id"""


def _gaps_sql(customers):
    """Each event of `customers` (a subquery of customer ids) with the days since the
    customer's previous event (NULL for the first)."""
    gap = _days("e.occurred_at", "LAG(e.occurred_at) OVER (PARTITION BY e.customer_id ORDER BY e.occurred_at)")
    return f"""SELECT e.customer_id, {gap} AS gap FROM {EVENTS} e
        WHERE e.customer_id IN ({customers}) AND e.occurred_at < {_ts("as_of")}"""


def _medians_sql(customers):
    """customer_id, median_gap_days for `customers` (those with at least two events)."""
    gaps = _gaps_sql(customers)
    if _pg():
        return f"""SELECT g.customer_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY g.gap) AS median_gap_days
            FROM ({gaps}) g GROUP BY g.customer_id"""
    # Portable median: the middle one or two gaps by ROW_NUMBER within each customer.
    return f"""SELECT customer_id, AVG(gap) AS median_gap_days FROM (
            SELECT customer_id, gap, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY gap) AS rn,
                   COUNT(*) OVER (PARTITION BY customer_id) AS cnt
            FROM ({gaps}) g WHERE gap IS NOT NULL) ranked
        WHERE rn IN ((cnt + 1) / 2, (cnt + 2) / 2) GROUP BY customer_id"""


def _fresh_sql(program, params, only):
    """Per-customer inputs from the events (of the customers listed in parameter `only`, or
    all of the program's).

    The median gap needs each customer's events in time order (a sort of every event, the
    costliest step by far), yet it only changes when the customer's events change. Events
    are append-only, so a customer whose event count and latest event are those of the stored
    score has the same events: their stored median is reused and only the others' events
    are sorted (on a first run, everyone's).
    """
    aggregates = _aggregates_sql(program, params, only)
    # Each customer's sums next to their stored median, and whether that median is stale.
    with_stored = f"""SELECT f.*, s.median_gap_days AS stored_median,
            CASE WHEN f.event_count > 1 AND (s.customer_id IS NULL OR s.event_count <> f.event_count
                 OR s.last_event_at IS NULL OR s.last_event_at <> f.last_event_at) THEN 1 ELSE 0 END AS stale
        FROM ({aggregates}) f LEFT JOIN {SCORES} s ON s.customer_id = f.customer_id"""
    # Needed twice (stale customers, final values): PostgreSQL computes it once.
    materialized = "MATERIALIZED " if _pg() else ""
    medians = _medians_sql("SELECT customer_id FROM a WHERE stale = 1")
    return f"""WITH a AS {materialized}({with_stored})
        SELECT a.customer_id, a.raw_score, a.event_count, a.last_event_at, a.last_purchase_at, a.frequency,
               a.monetary, CASE WHEN a.event_count < 2 THEN NULL WHEN a.stale = 1 THEN m.median_gap_days
                                ELSE a.stored_median END AS median_gap_days
        FROM a LEFT JOIN ({medians}) m ON m.customer_id = a.customer_id"""


def _decayed_sql():
    """The stored raw score `s.raw_score` (as of s.scored_at) decayed to as_of."""
    return f"s.raw_score * POWER(CAST(0.5 AS DOUBLE PRECISION), {_days(_ts('as_of'), 's.scored_at')} / %(half_life)s)"


def _stored_sql():
    """The stored row's columns as old_*: for the transitions and to skip unchanged rows."""
    return f"s.customer_id AS old_customer_id, {', '.join(f's.{c} AS old_{c}' for c in SHOWN)}, s.weights_key AS old_weights_key"


def _values_sql(program, params, incremental):
    """SQLite: one row per customer: fresh values for the targets, stored ones for everyone else."""
    fresh = _fresh_sql(program, params, "ids" if incremental else None)
    if not incremental:
        target = "1 = 1"

        def pick(fresh_expr, stored_expr):
            return fresh_expr

    else:
        target = _in_ids("c.id")

        def pick(fresh_expr, stored_expr):
            return f"CASE WHEN {target} THEN {fresh_expr} ELSE {stored_expr} END"

    return f"""SELECT c.id AS customer_id, CASE WHEN {target} THEN 1 ELSE 0 END AS is_target,
        {pick("COALESCE(f.raw_score, 0)", f"COALESCE({_decayed_sql()}, 0)")} AS raw_score,
        {pick("COALESCE(f.event_count, 0)", "COALESCE(s.event_count, 0)")} AS event_count,
        {pick("f.last_event_at", "s.last_event_at")} AS last_event_at,
        {pick("f.last_purchase_at", "s.last_purchase_at")} AS last_purchase_at,
        {pick("COALESCE(f.frequency, 0)", "COALESCE(s.frequency, 0)")} AS frequency,
        {pick("COALESCE(f.monetary, 0)", "COALESCE(s.monetary, 0)")} AS monetary,
        {pick("f.median_gap_days", "s.median_gap_days")} AS median_gap_days
        FROM {CUSTOMERS} c
        LEFT JOIN ({fresh}) f ON f.customer_id = c.id
        LEFT JOIN {SCORES} s ON s.customer_id = c.id
        WHERE c.program_id = %(program)s"""


def _values_sql_pg(program, params, incremental, scan_all):
    """PostgreSQL: one row per customer with its stored row (old_*): values from the events
    for the customers listed in %(fresh)s, the stored ones (the raw score decayed to as_of)
    for the others. A full pass takes everyone's RFM inputs from the purchases in the
    lookback; an incremental one keeps the stored inputs of everyone but the targets."""
    if params["fresh"]:
        fresh = f"""LEFT JOIN unnest(CAST(%(fresh)s AS BIGINT[])) fr(id) ON fr.id = c.id
            LEFT JOIN ({_fresh_sql(program, params, None if scan_all else "fresh")}) f ON f.customer_id = c.id"""

        def pick(fresh_expr, stored_expr):
            return f"CASE WHEN fr.id IS NOT NULL THEN {fresh_expr} ELSE {stored_expr} END"

    else:  # every stored row is valid (a pass with no new events since the last): no joins
        fresh = ""

        def pick(fresh_expr, stored_expr):
            return stored_expr

    if incremental:
        purchases = ""
        rfm = {
            "last_purchase_at": pick("f.last_purchase_at", "s.last_purchase_at"),
            "frequency": pick("COALESCE(f.frequency, 0)", "COALESCE(s.frequency, 0)"),
            "monetary": pick("COALESCE(f.monetary, 0)", "COALESCE(s.monetary, 0)"),
        }
    else:
        purchases = f"LEFT JOIN ({_purchases_sql()}) p ON p.customer_id = c.id"
        rfm = {
            "last_purchase_at": "p.last_purchase_at",
            "frequency": "COALESCE(p.frequency, 0)",
            "monetary": "COALESCE(p.monetary, 0)",
        }
    is_target = pick("1", "0") if incremental else "1"
    return f"""SELECT c.id AS customer_id, {is_target} AS is_target,
        {pick("COALESCE(f.raw_score, 0)", f"COALESCE({_decayed_sql()}, 0)")} AS raw_score,
        {pick("COALESCE(f.event_count, 0)", "COALESCE(s.event_count, 0)")} AS event_count,
        {pick("f.last_event_at", "s.last_event_at")} AS last_event_at,
        {", ".join(f"{expr} AS {name}" for name, expr in rfm.items())},
        {pick("f.median_gap_days", "s.median_gap_days")} AS median_gap_days,
        {_stored_sql()}
        FROM {CUSTOMERS} c
        {fresh}
        LEFT JOIN {SCORES} s ON s.customer_id = c.id
        {purchases}
        WHERE c.program_id = %(program)s"""


SEGMENT_CASE = """CASE
    WHEN r = 1 AND f = 5 AND m >= 4 THEN 'Can''t lose'
    WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'Champions'
    WHEN f >= 4 THEN 'Loyal'
    WHEN r <= 2 AND f >= 3 THEN 'At risk'
    WHEN r = 3 AND f >= 3 THEN 'Needs attention'
    WHEN r >= 4 AND f BETWEEN 2 AND 3 THEN 'Potential loyalist'
    WHEN r = 5 AND f = 1 THEN 'New'
    WHEN r = 4 AND f = 1 THEN 'Promising'
    WHEN r = 1 AND f = 1 THEN 'Lost'
    WHEN r <= 2 AND f <= 2 THEN 'Hibernating'
    ELSE 'Others' END"""


def _churn_sql(v):
    """Churn risk of the values row `v` (see the module docstring), rounded to 3 places."""
    since_last = _days(_ts("as_of"), f"{v}.last_event_at")
    gap = f"2 * {_greatest(f'{v}.median_gap_days', '1.0')}"
    churn = f"""CASE WHEN {v}.event_count = 0 OR {v}.last_event_at IS NULL THEN 1.0
        WHEN {v}.median_gap_days IS NULL THEN {_least("1.0", f"{since_last} / %(horizon)s")}
        ELSE {_least("1.0", f"{since_last} / ({gap})")} END"""
    if _pg():
        # Half up to thousandths in float, then an exact numeric: casting the float itself to
        # numeric (what ROUND needs) formats it as text first, ~0.5 µs a row.
        return f"CAST(FLOOR({_greatest('0.0', churn)} * 1000 + 0.5) AS INTEGER) * 0.001"
    return _round(_greatest("0.0", churn), 3)


def _scores_sql(program, params, incremental):
    """SQLite: the values ranked by window functions."""
    values = _values_sql(program, params, incremental)
    # R, F and M rank the purchasers only: a window partition of its own, so one pass of
    # window functions ranks everything. The stored values are joined after the ranking,
    # which sorts narrower rows then.
    buyers = "PARTITION BY v.frequency > 0"
    quintile = f"CASE WHEN v.frequency > 0 THEN 1 + (5 * (RANK() OVER ({buyers} ORDER BY {{col}}) - 1)) / COUNT(*) OVER ({buyers}) END"
    return f"""WITH v AS ({values}),
        ranked AS (
            SELECT v.*, {_round("100.0 * PERCENT_RANK() OVER (ORDER BY v.raw_score)", 2)} AS engagement_score,
                   {quintile.format(col="v.last_purchase_at")} AS r, {quintile.format(col="v.frequency")} AS f,
                   {quintile.format(col="v.monetary")} AS m, {_churn_sql("v")} AS churn_risk
            FROM v
        )
        SELECT ranked.*, {SEGMENT_CASE} AS segment, {_stored_sql()}
        FROM ranked LEFT JOIN {SCORES} s ON s.customer_id = ranked.customer_id"""


def _rank_key(raw):
    """The raw score as ranked: rounded to 40 significant bits, so that equal sums reached two
    ways (read from the events, or stored and decayed) rank as the ties they are, whatever
    the last bits of float rounding."""
    double = "DOUBLE PRECISION"
    scale = f"POWER(CAST(2 AS {double}), FLOOR(LN(ABS({raw})) / LN(CAST(2 AS {double}))) - 40)"
    return f"CASE WHEN {raw} = 0 THEN {raw} ELSE ROUND({raw} / {scale}) * {scale} END"


def _below(value, sorted_negated, size):
    """How many of `size` values are strictly below `value`, given them negated and sorted
    ascending: width_bucket counts the entries ≤ −value (a binary search) = values ≥ value."""
    return f"({size} - width_bucket(-({value}), {sorted_negated}))"


def _scores_sql_pg(program, params, incremental, scan_all):
    """PostgreSQL: the values ranked without a window pass: each ranked column is sorted
    once, narrow, into an array, and each customer's rank is a binary search in it. Same
    figures as PERCENT_RANK() and RANK() (ties share the lowest rank), in a fraction of the
    time of sorting the wide rows four times. Every ranked column is of a fixed-width type
    (a binary search in an array of numerics walks it element by element): the timestamps as
    epoch seconds (distinct microseconds stay distinct), the money in cents."""
    values = _values_sql_pg(program, params, incremental, scan_all)
    buyer = "WHERE k.frequency > 0"
    arrays = {"raw_key": "", "recency": buyer, "frequency": buyer, "cents": buyer}
    aggregates = ", ".join(
        f"array_agg(-k.{col} ORDER BY -k.{col}) {f'FILTER ({where})' if where else ''} AS {col}s"
        for col, where in arrays.items()
    )
    # 100 × PERCENT_RANK() to 2 places, in exact numeric arithmetic on the integer rank: the
    # same figure (a quotient of integers below n is never within float error of a rounding
    # boundary without being on it), without formatting a float as text per row.
    below_raw = _below("k.raw_key", "st.raw_keys", "st.n")
    percent = f"CASE WHEN st.n > 1 THEN ROUND(CAST(100 * {below_raw} AS NUMERIC) / (st.n - 1), 2) ELSE 0 END"

    # OFFSET 0 keeps `ranked` a subquery of its own: flattened, SEGMENT_CASE's 25 mentions of
    # r, f and m would each search the arrays again.
    def quintile(col):
        return (
            f"CASE WHEN k.frequency > 0 THEN 1 + (5 * {_below(f'k.{col}', f'st.{col}s', 'st.buyers')}) / st.buyers END"
        )

    return f"""WITH v AS ({values}),
        k AS (SELECT v.*, {_rank_key("v.raw_score")} AS raw_key, date_part('epoch', v.last_purchase_at) AS recency,
                     CAST(v.monetary * {10**MONEY_PLACES} AS BIGINT) AS cents
              FROM v),
        st AS (SELECT COUNT(*) AS n, COUNT(*) FILTER ({buyer}) AS buyers, {aggregates} FROM k)
        SELECT ranked.*, {SEGMENT_CASE} AS segment FROM (
            SELECT k.*, {percent} AS engagement_score,
                   {quintile("recency")} AS r, {quintile("frequency")} AS f, {quintile("cents")} AS m,
                   {_churn_sql("k")} AS churn_risk
            FROM k CROSS JOIN st
            OFFSET 0) ranked"""


STALE = """s.customer_id IS NULL OR s.weights_key <> %(weights_key)s OR s.event_count <> c.event_count
    OR s.last_event_at IS DISTINCT FROM c.last_seen_at OR c.last_seen_at >= {as_of}
    OR c.id IN (SELECT u.customer_id FROM {events} u WHERE u.processed_at IS NULL AND u.program_id = %(program)s)"""


def _fresh_customers(cursor, params, everyone):
    """PostgreSQL, a full pass: (the customers whose events must be read again, whether to
    read them in one scan of the program's events). See "Which events are read again" in
    the module docstring; `everyone` for a pass as of another time than now (snapshots)."""
    stale = "TRUE" if everyone else STALE.format(as_of=_ts("as_of"), events=EVENTS)
    cursor.execute(
        f"""SELECT COUNT(*), COALESCE(array_agg(c.id) FILTER (WHERE {stale}), '{{}}')
            FROM {CUSTOMERS} c LEFT JOIN {SCORES} s ON s.customer_id = c.id WHERE c.program_id = %(program)s""",
        params,
    )
    total, ids = cursor.fetchone()
    return ids, len(ids) > SCAN_ALL_SHARE * total


def _band_number(kind, prefix):
    """The band a value is in, as an integer: score bands of 10, churn bands of 0.1.
    `prefix` names the temp-table columns: "n." (new values) or "n.old_" (stored ones)."""
    column = "engagement_score / 10" if kind == "score" else "churn_risk * 10"
    return f"CAST(FLOOR({prefix}{column} + 0.000001) AS INTEGER)"


def _band_label(kind, prefix):
    """Text label of the band a value is in: "80" (80–89.99), churn "0.3" (0.3–0.399), "1.0"."""
    band = _band_number(kind, prefix)
    if kind == "score":
        return f"CAST({band} * 10 AS TEXT)"
    return f"(CASE WHEN {band} >= 10 THEN '1.0' ELSE '0.' || CAST({band} AS TEXT) END)"


def _transitions_sql(source, targets):
    """(the moved rows, the INSERT of their transitions … RETURNING id), from `source` (the
    scored rows, with the stored values as old_*: no join is needed). `moved` picks in one scan
    the rows where anything that can move changed; each kind of transition reads only those,
    compares bands as integers, and labels only the transitions it records."""
    kinds = (("score", "engagement_score"), ("churn_risk", "churn_risk"), ("segment", "segment"))
    changed = " OR ".join(f"n.old_{column} <> n.{column}" for _, column in kinds)
    selects = []
    for kind, column in kinds:
        if kind == "segment":
            new, old, moved = "n.segment", "n.old_segment", "n.old_segment <> n.segment"
        else:
            new, old = _band_label(kind, "n."), _band_label(kind, "n.old_")
            # Equal values are in equal bands: the band arithmetic runs only for changed values.
            moved = f"n.old_{column} <> n.{column} AND {_band_number(kind, 'n.old_')} <> {_band_number(kind, 'n.')}"
        selects.append(
            f"""SELECT %(program)s, n.customer_id, '{kind}', COALESCE({old}, ''), {new}, {_ts("now")}
                FROM moved n WHERE n.old_customer_id IS NULL OR ({moved})"""
        )
    columns = ", ".join(f"n.{c}, n.old_{c}" for c in ["customer_id", *(column for _, column in kinds)])
    return (
        f"SELECT {columns} FROM {source} n WHERE {targets} AND (n.old_customer_id IS NULL OR {changed})",
        f"""INSERT INTO {TRANSITIONS} (program_id, customer_id, kind, from_value, to_value, occurred_at)
            {" UNION ALL ".join(selects)} RETURNING id""",
    )


def _differs(old, new):
    """Null-safe "values differ" in SQL."""
    return f"{old} IS DISTINCT FROM {new}" if _pg() else f"{old} IS NOT {new}"


def _score_writes_sql(source, targets):
    """(UPDATE of the changed stored rows, INSERT of the new ones) from `source`: an INSERT …
    ON CONFLICT DO UPDATE first tries to insert every row (an index probe and a speculative
    insert each); on the nightly re-score, 72,000 changed rows of 100,000 took 1.7 s that way,
    1.4 s this way. A row whose raw score was computed with other weights is rewritten even if
    nothing shown changed, so that its raw score is one of the current weights."""
    columns = SHOWN + ["raw_score", "weights_key", "scored_at", "updated_at"]
    values = [f"n.{TEMP_COLUMN.get(c, c)}" for c in SHOWN] + [
        "n.raw_score",
        "%(weights_key)s",
        _ts("as_of"),
        _ts("now"),
    ]
    changed = " OR ".join(
        [_differs(f"n.old_{c}", f"n.{TEMP_COLUMN.get(c, c)}") for c in SHOWN] + ["n.old_weights_key <> %(weights_key)s"]
    )
    return (
        f"""UPDATE {SCORES} SET {", ".join(f"{c} = {v}" for c, v in zip(columns, values, strict=True))}
            FROM {source} n WHERE {SCORES}.customer_id = n.customer_id AND {targets}
            AND n.old_customer_id IS NOT NULL AND ({changed})""",
        f"""INSERT INTO {SCORES} (customer_id, program_id, {", ".join(columns)})
            SELECT n.customer_id, %(program)s, {", ".join(values)}
            FROM {source} n WHERE {targets} AND n.old_customer_id IS NULL""",
    )


def _new_or_changed(prefix, columns):
    """WHERE clause: the scored row `n` has no stored row (`prefix`customer_id is NULL) or one
    of `columns` differs from the stored `prefix`column."""
    differs = " OR ".join(_differs(f"{prefix}{c}", f"n.{TEMP_COLUMN.get(c, c)}") for c in columns)
    return f"({prefix}customer_id IS NULL OR {differs})"


def _first_pass_of_day(cursor, params):
    """No snapshot row of the program for the day yet? Under the program's scoring lock nobody
    else writes these rows between this check and the snapshot INSERT."""
    cursor.execute(f"SELECT 1 FROM {SNAPSHOTS} WHERE program_id = %(program)s AND date = %(day)s LIMIT 1", params)
    return cursor.fetchone() is None


def _snapshots_sql(source, targets, first_of_day):
    """The day's snapshot rows from `source`. The first pass of a day (the nightly re-score)
    INSERTs them plainly: an INSERT … ON CONFLICT speculatively inserts each row (~1.4 s per
    100,000 rows, twice the plain INSERT). Later passes that day upsert only the rows that
    are new or differ."""
    columns = ["engagement_score", "r_score", "f_score", "m_score", "segment", "churn_risk", "monetary"]
    values = ", ".join(f"n.{TEMP_COLUMN.get(c, c)}" for c in columns)
    insert = f"INSERT INTO {SNAPSHOTS} (program_id, customer_id, date, {', '.join(columns)})"
    if first_of_day:
        return f"{insert} SELECT %(program)s, n.customer_id, %(day)s, {values} FROM {source} n WHERE {targets}"
    return f"""{insert} SELECT %(program)s, n.customer_id, %(day)s, {values}
        FROM {source} n LEFT JOIN {SNAPSHOTS} p ON p.customer_id = n.customer_id AND p.date = %(day)s
        WHERE {targets} AND {_new_or_changed("p.", columns)}
        ON CONFLICT (customer_id, date) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in columns)}"""


def local_day_end(program, day):
    """The UTC instant at which `day` ends in the program's time zone."""
    tz = zoneinfo.ZoneInfo(program.timezone)
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def local_date(program, instant):
    return instant.astimezone(zoneinfo.ZoneInfo(program.timezone)).date()


def weights_key(program):
    """A fingerprint of what a raw score depends on besides the events: the score weights and
    the half-life. A stored raw score computed with other ones is read again from the events."""
    weights = sorted((type_, float(weight)) for type_, weight in program.get_score_weights().items())
    payload = json.dumps([weights, float(program.score_half_life_days)])
    return zlib.crc32(payload.encode()) & 0x7FFFFFFF


def _write_in_one_statement(cursor, program, params, *, incremental, everyone, write_current, first_of_day):
    """PostgreSQL: score and write in ONE statement: the scored rows are a CTE that the
    data-modifying CTEs (transitions, scores, snapshots) read, so nothing is written to a
    temporary table, analysed and read back. A full pass scores only targets, so its
    statements carry no target filter (whose selectivity the planner could only guess).
    Returns (customers scored, transition ids)."""
    targets = "n.is_target = 1" if incremental else "TRUE"
    scan_all = False
    if not incremental:
        params["fresh"], scan_all = _fresh_customers(cursor, params, everyone)
    ctes = [f"n AS MATERIALIZED ({_scores_sql_pg(program, params, incremental, scan_all)})"]
    transitions = "NULL"
    if write_current:
        moved, insert_transitions = _transitions_sql("n", targets)
        update, insert_scores = _score_writes_sql("n", targets)
        ctes += [
            f"moved AS MATERIALIZED ({moved})",
            f"recorded AS ({insert_transitions})",
            f"updated AS ({update})",
            f"inserted AS ({insert_scores})",
        ]
        transitions = "(SELECT array_agg(id) FROM recorded)"
    ctes.append(f"snapshots AS ({_snapshots_sql('n', targets, first_of_day)})")
    cursor.execute(
        f"WITH {', '.join(ctes)} SELECT (SELECT COUNT(*) FROM n WHERE {targets}), {transitions}",
        params,
    )
    scored, transition_ids = cursor.fetchone()
    return scored, sorted(transition_ids or [])


def _write_through_temp_table(cursor, program, params, *, incremental, write_current, first_of_day):
    """SQLite: the scored rows go to a temporary table, then each write reads it."""
    targets = "n.is_target = 1"
    cursor.execute(f"DROP TABLE IF EXISTS {TEMP}")
    cursor.execute(f"CREATE TEMP TABLE {TEMP} AS {_scores_sql(program, params, incremental)}", params)
    cursor.execute(f"ANALYZE {TEMP}")
    transition_ids = []
    if write_current:
        moved, insert_transitions = _transitions_sql(TEMP, targets)
        cursor.execute(f"WITH moved AS ({moved}) {insert_transitions}", params)
        transition_ids = sorted(row[0] for row in cursor.fetchall())
        for sql in _score_writes_sql(TEMP, targets):
            cursor.execute(sql, params)
    cursor.execute(_snapshots_sql(TEMP, targets, first_of_day), params)
    cursor.execute(f"SELECT COUNT(*) FROM {TEMP} n WHERE {targets}")
    scored = cursor.fetchone()[0]
    cursor.execute(f"DROP TABLE {TEMP}")
    return scored, transition_ids


def _run(program, *, as_of, day, customer_ids=None, write_current=True, now=None):
    """Score as of `as_of` and write the results; see module docstring."""
    now = now or timezone.now()
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
        params["ids"] = _ids_param(customer_ids)
        params["fresh"] = list(customer_ids)
    with transaction.atomic(), connection.cursor() as cursor:
        if _pg():
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_BASE + program.id])
            # The aggregates and the sorts must not spill to disk (the server default is 4 MB);
            # this transaction only.
            cursor.execute(f"SET LOCAL work_mem = '{SCORING_WORK_MEM}'")
        options = {"incremental": incremental, "write_current": write_current}
        options["first_of_day"] = _first_pass_of_day(cursor, params)
        if _pg():
            # A historic snapshot reads every event as of that day's end: stored rows are as of now.
            scored, transition_ids = _write_in_one_statement(
                cursor, program, params, everyone=not write_current, **options
            )
        else:
            scored, transition_ids = _write_through_temp_table(cursor, program, params, **options)
        if transition_ids:
            hooks.run_transition_handlers(program.id, transition_ids)
    return ScoringResult(customers=scored, transitions=len(transition_ids))


def rescore_program(program, *, now=None):
    """Re-score every customer of `program` as of now: CustomerScore, today's snapshot and
    transitions, in one transaction (transition handlers run inside it). Idempotent: a
    second run records no transitions unless time moved a customer into another band."""
    now = now or timezone.now()
    return _run(program, as_of=now, day=local_date(program, now), now=now)


def rescore_customers(program, customer_ids, *, now=None):
    """Re-score after `customer_ids` had new events, as of now. On PostgreSQL this is the full
    pass at that instant: it reads again only the events of customers whose stored row is
    stale (these, and any other with new events) and writes only the rows that changed, so
    every customer gets what a full pass gives. Ranking only the targets against the others'
    stored values did not: during an import the others' events were not yet scored, and their
    ranks never moved when the targets' did."""
    if not customer_ids:
        return ScoringResult(0, 0)
    now = now or timezone.now()
    if _pg():
        return _run(program, as_of=now, day=local_date(program, now), now=now)
    return _run(program, as_of=now, day=local_date(program, now), customer_ids=customer_ids, now=now)


def snapshot_scores(program, day):
    """Rebuild the score snapshot of `day` from the events before that day's end (program
    time zone). Touches neither CustomerScore nor transitions."""
    return _run(program, as_of=local_day_end(program, day), day=day, write_current=False)


def queue_customers_for_events(program_id, event_ids):
    """Event handler (engagement.hooks): queue the customers of newly processed events for
    the incremental re-score. Set-based; runs inside the processing transaction."""
    if not event_ids:
        return
    params = {"ids": _ids_param(event_ids), "now": _dt(timezone.now())}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {QUEUE} (customer_id, program_id, queued_at)
                SELECT DISTINCT customer_id, program_id, {_ts("now")} FROM {EVENTS} WHERE {_in_ids("id")}
                ON CONFLICT (customer_id) DO NOTHING""",
            params,
        )


def claim_queued_customers(program_id, limit=QUEUE_BATCH):
    """Take up to `limit` (None: all) queued customers of a program off the queue (in the
    caller's transaction, so a failed re-score puts them back). SKIP LOCKED lets workers share."""
    skip = "FOR UPDATE SKIP LOCKED" if _pg() else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""DELETE FROM {QUEUE} WHERE customer_id IN (
                    SELECT customer_id FROM {QUEUE} WHERE program_id = %s ORDER BY queued_at LIMIT %s {skip})
                RETURNING customer_id""",
            [program_id, limit],
        )
        return sorted(row[0] for row in cursor.fetchall())


def rescore_queued(program_id, limit=QUEUE_BATCH):
    """Re-score after the queued customers' new events; returns how many were taken off the
    queue. On PostgreSQL the pass covers every queued customer of the program (see
    rescore_customers), so it takes them all."""
    program = Program.objects.filter(pk=program_id).first()
    if program is None:
        return 0
    with transaction.atomic():
        ids = claim_queued_customers(program_id, None if _pg() else limit)
        if ids:
            rescore_customers(program, ids)
        return len(ids)


def list_queued_program_ids():
    return list(ScoringQueueEntry.objects.values_list("program_id", flat=True).distinct().order_by("program_id"))
