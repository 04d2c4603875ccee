"""The SQL of a scoring pass (engagement.scoring): the scored rows (values from the events or
the stored rows, then ranked) and the writes that read them (transitions, scores, snapshots).
Builders only: they return SQL text and fill `params`; engagement.scoring runs them."""

from engagement.models import (
    Customer,
    CustomerScore,
    CustomerScoreSnapshot,
    Event,
    ScoreTransition,
)
from engagement.retention import HISTORY, history_sql

# The scores read every event a customer ever had (the decayed sum, the count, the median
# gap; RFM over its lookback): HISTORY is the events table plus the events that retention
# rolled up (engagement.retention), so a pass gives the same figures before and after a
# drop. The only reads of EVENTS left below are of unprocessed events, never rolled up.

EVENTS = Event._meta.db_table
CUSTOMERS = Customer._meta.db_table
SCORES = CustomerScore._meta.db_table
SNAPSHOTS = CustomerScoreSnapshot._meta.db_table
TRANSITIONS = ScoreTransition._meta.db_table
MONEY_PLACES = Event._meta.get_field("value").decimal_places
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
    "churn_divisor",
]
# Column names in the scored rows where they differ (the ranked CTE calls the RFM scores r, f and m).
SCORED_COLUMN = {"r_score": "r", "f_score": "f", "m_score": "m"}


def _days(later, earlier):
    """SQL for (later - earlier) in fractional days. date_part returns a float; EXTRACT
    returns numeric (PostgreSQL 14+), which is several times slower per row, and this runs
    once per event."""
    return f"(date_part('epoch', {later} - {earlier}) / 86400.0)"


def ts(name):
    """A datetime parameter usable in arithmetic."""
    return f"CAST(%({name})s AS timestamptz)"


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
    as_of = ts("as_of")
    where = f"AND e.customer_id = ANY(%({only})s)" if only else ""
    is_purchase = f"e.type = 'purchase' AND e.occurred_at >= {ts('lookback_start')}"
    return f"""SELECT e.customer_id,
        SUM({_weight_case(program, params)} * POWER(CAST(0.5 AS DOUBLE PRECISION), {_days(as_of, "e.occurred_at")} / %(half_life)s)) AS raw_score,
        COUNT(*) AS event_count,
        MAX(e.occurred_at) AS last_event_at,
        MAX(CASE WHEN {is_purchase} THEN e.occurred_at END) AS last_purchase_at,
        COUNT(CASE WHEN {is_purchase} THEN 1 END) AS frequency,
        COALESCE(SUM(CASE WHEN {is_purchase} THEN COALESCE(e.value, 0) END), 0) AS monetary
        FROM {HISTORY} e WHERE e.program_id = %(program)s AND e.occurred_at < {as_of} {where}
        GROUP BY e.customer_id"""


def _purchases_sql():
    """RFM inputs of the customers with a purchase in the lookback, from the purchases alone
    (the covering index event_purchases: no visit to the table)."""
    return f"""SELECT e.customer_id, MAX(e.occurred_at) AS last_purchase_at, COUNT(*) AS frequency,
            SUM(COALESCE(e.value, 0)) AS monetary
        FROM {history_sql(ts("lookback_start"))} e WHERE e.program_id = %(program)s AND e.type = 'purchase'
            AND e.occurred_at >= {ts("lookback_start")} AND e.occurred_at < {ts("as_of")}
        GROUP BY e.customer_id"""


def _gaps_sql(customers):
    """Each event of `customers` (a subquery of customer ids) with the days since the
    customer's previous event (NULL for the first)."""
    gap = _days("e.occurred_at", "LAG(e.occurred_at) OVER (PARTITION BY e.customer_id ORDER BY e.occurred_at)")
    return f"""SELECT e.customer_id, {gap} AS gap FROM {history_sql(customers=customers)} e
        WHERE e.occurred_at < {ts("as_of")}"""


def _medians_sql(customers):
    """customer_id, median_gap_days for `customers` (those with at least two events)."""
    return f"""SELECT g.customer_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY g.gap) AS median_gap_days
            FROM ({_gaps_sql(customers)}) g GROUP BY g.customer_id"""


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
    # Needed twice (stale customers, final values): MATERIALIZED computes it once.
    medians = _medians_sql("SELECT customer_id FROM a WHERE stale = 1")
    return f"""WITH a AS MATERIALIZED ({with_stored})
        SELECT a.customer_id, a.raw_score, a.event_count, a.last_event_at, a.last_purchase_at, a.frequency,
               a.monetary, CASE WHEN a.event_count < 2 THEN NULL WHEN a.stale = 1 THEN m.median_gap_days
                                ELSE a.stored_median END AS median_gap_days
        FROM a LEFT JOIN ({medians}) m ON m.customer_id = a.customer_id"""


def _decayed_sql():
    """The stored raw score `s.raw_score` (as of s.scored_at) decayed to as_of."""
    return f"s.raw_score * POWER(CAST(0.5 AS DOUBLE PRECISION), {_days(ts('as_of'), 's.scored_at')} / %(half_life)s)"


def _stored_sql():
    """The stored row's columns as old_*: for the transitions and to skip unchanged rows."""
    return f"s.customer_id AS old_customer_id, {', '.join(f's.{c} AS old_{c}' for c in SHOWN)}, s.weights_key AS old_weights_key"


def _expiring_sql():
    """Per stored customer, the purchases that left the RFM lookback since their row was
    written: those in [its scored_at − lookback, %(lookback_start)s) (both starts are in the
    lookback, as in _purchases_sql), from the purchases of that range alone (the covering
    index event_purchases; %(expiring_from)s, the earliest such start of a row with purchases,
    bounds the scan: a nightly pass reads a day of them) and the ones retention rolled up
    (history_sql: a purchase leaving the lookback may be in a rollup already)."""
    since = ts("expiring_from")
    return f"""SELECT e.customer_id, COUNT(*) AS frequency, SUM(COALESCE(e.value, 0)) AS monetary
        FROM {history_sql(since)} e JOIN {SCORES} x ON x.customer_id = e.customer_id
        WHERE e.program_id = %(program)s AND e.type = 'purchase' AND e.occurred_at >= {since}
            AND e.occurred_at < {ts("lookback_start")}
            AND e.occurred_at >= x.scored_at - %(lookback_seconds)s * INTERVAL '1 second'
        GROUP BY e.customer_id"""


def _expired_rfm(pick):
    """RFM inputs of a full pass from the stored ones, for a pass as of no earlier than every
    stored row (engagement.scoring: "RFM inputs from the stored ones"): a customer whose
    events are those of their stored row had, as of its scored_at, exactly the stored
    purchases in the lookback; as of as_of they have those minus the ones that left the
    lookback since (`x`, _expiring_sql), and no new one. The latest purchase stays while one
    is left: the ones that left are the earliest. Fresh customers' come from their events."""
    left = "COALESCE(s.frequency, 0) - COALESCE(x.frequency, 0)"
    return {
        "last_purchase_at": pick("f.last_purchase_at", f"CASE WHEN {left} > 0 THEN s.last_purchase_at END"),
        "frequency": pick("COALESCE(f.frequency, 0)", left),
        "monetary": pick("COALESCE(f.monetary, 0)", "COALESCE(s.monetary, 0) - COALESCE(x.monetary, 0)"),
    }


def _values_sql(program, params, incremental, scan_all, expiring=False):
    """One row per customer with its stored row (old_*): values from the events
    for the customers listed in %(fresh)s, the stored ones (the raw score decayed to as_of)
    for the others. A full pass takes everyone's RFM inputs from the purchases in the
    lookback, or with `expiring` the stored ones minus the purchases that left the lookback
    (_expired_rfm); an incremental one keeps the stored inputs of everyone but the targets."""
    if params["fresh"]:
        fresh = f"""LEFT JOIN unnest(CAST(%(fresh)s AS BIGINT[])) fr(id) ON fr.id = c.id
            LEFT JOIN ({_fresh_sql(program, params, None if scan_all else "fresh")}) f ON f.customer_id = c.id"""

        def pick(fresh_expr, stored_expr):
            return f"CASE WHEN fr.id IS NOT NULL THEN {fresh_expr} ELSE {stored_expr} END"

    else:  # every stored row is valid (a pass with no new events since the last): no joins
        fresh = ""

        def pick(fresh_expr, stored_expr):
            return stored_expr

    rows, cid, owner = f"{CUSTOMERS} c {fresh} LEFT JOIN {SCORES} s ON s.customer_id = c.id", "c.id", "c"
    if not fresh and not incremental:
        # No fresh customer: each of the program's customers has a stored row (one without is
        # fresh), and each of its rows is a customer's of the program. Read them alone: the
        # join to the customers was ~60 ms of a nightly pass at 100,000 customers.
        rows, cid, owner = f"{SCORES} s", "s.customer_id", "s"

    if incremental:
        purchases = ""
        rfm = {
            "last_purchase_at": pick("f.last_purchase_at", "s.last_purchase_at"),
            "frequency": pick("COALESCE(f.frequency, 0)", "COALESCE(s.frequency, 0)"),
            "monetary": pick("COALESCE(f.monetary, 0)", "COALESCE(s.monetary, 0)"),
        }
    elif expiring:
        purchases = f"LEFT JOIN ({_expiring_sql()}) x ON x.customer_id = {cid}"
        rfm = _expired_rfm(pick)
    else:
        purchases = f"LEFT JOIN ({_purchases_sql()}) p ON p.customer_id = {cid}"
        rfm = {
            "last_purchase_at": "p.last_purchase_at",
            "frequency": "COALESCE(p.frequency, 0)",
            "monetary": "COALESCE(p.monetary, 0)",
        }
    is_target = pick("1", "0") if incremental else "1"
    return f"""SELECT {cid} AS customer_id, {is_target} AS is_target,
        {pick("COALESCE(f.raw_score, 0)", f"COALESCE({_decayed_sql()}, 0)")} AS raw_score,
        {pick("COALESCE(f.event_count, 0)", "COALESCE(s.event_count, 0)")} AS event_count,
        {pick("f.last_event_at", "s.last_event_at")} AS last_event_at,
        {", ".join(f"{expr} AS {name}" for name, expr in rfm.items())},
        {pick("f.median_gap_days", "s.median_gap_days")} AS median_gap_days,
        {_stored_sql()}
        FROM {rows}
        {purchases}
        WHERE {owner}.program_id = %(program)s"""


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


def _divisor_sql(v):
    """What the churn risk of the values row `v` divides the days since the last event by
    (see the module docstring): 0 for no event (risk 1), the horizon for one event, else twice
    the median gap (at least 1 day). Stored with the scores and the snapshots, so the risk at
    any later instant follows from it and last_event_at while the events are the same."""
    double = "DOUBLE PRECISION"
    return f"""CASE WHEN {v}.event_count = 0 OR {v}.last_event_at IS NULL THEN CAST(0 AS {double})
        WHEN {v}.median_gap_days IS NULL THEN CAST(%(horizon)s AS {double})
        ELSE 2 * GREATEST({v}.median_gap_days, 1.0) END"""


def churn_sql(divisor, last_event_at, as_of):
    """Churn risk from a divisor (_divisor_sql), the last event and the instant `as_of` (SQL
    expressions), rounded to 3 places. The one formula of the scores and of the history."""
    since_last = _days(as_of, last_event_at)
    churn = f"CASE WHEN {divisor} = 0 THEN 1.0 ELSE LEAST(1.0, {since_last} / {divisor}) END"
    # Half up to thousandths in float, then an exact numeric: casting the float itself to
    # numeric (what ROUND needs) formats it as text first, ~0.5 µs a row.
    return f"CAST(FLOOR(GREATEST(0.0, {churn}) * 1000 + 0.5) AS INTEGER) * 0.001"


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


def scores_sql(program, params, incremental, scan_all, expiring=False):
    """The values ranked without a window pass: each ranked column is sorted
    once, narrow, into an array, and each customer's rank is a binary search in it. Same
    figures as PERCENT_RANK() and RANK() (ties share the lowest rank), in a fraction of the
    time of sorting the wide rows four times. Every ranked column is of a fixed-width type
    (a binary search in an array of numerics walks it element by element): the timestamps as
    epoch seconds (distinct microseconds stay distinct), the money in cents."""
    values = _values_sql(program, params, incremental, scan_all, expiring)
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

    # OFFSET 0: each value computed once per row; inlined into `k`, each mention of
    # v.raw_score (five, with the rank key) would decay the stored raw score again.
    return f"""WITH v AS ({values} OFFSET 0),
        k AS (SELECT v.*, {_rank_key("v.raw_score")} AS raw_key, date_part('epoch', v.last_purchase_at) AS recency,
                     CAST(v.monetary * {10**MONEY_PLACES} AS BIGINT) AS cents, {_divisor_sql("v")} AS churn_divisor
              FROM v),
        st AS (SELECT COUNT(*) AS n, COUNT(*) FILTER ({buyer}) AS buyers, {aggregates} FROM k)
        SELECT ranked.*, {SEGMENT_CASE} AS segment FROM (
            SELECT k.*, {percent} AS engagement_score,
                   {quintile("recency")} AS r, {quintile("frequency")} AS f, {quintile("cents")} AS m,
                   {churn_sql("k.churn_divisor", "k.last_event_at", ts("as_of"))} AS churn_risk
            FROM k CROSS JOIN st
            OFFSET 0) ranked"""


def stale_sql():
    """WHERE clause on a customer `c` and its stored row `s`: the stored row is not valid for
    as_of (engagement.scoring: "Which events are read again")."""
    return f"""s.customer_id IS NULL OR s.weights_key <> %(weights_key)s OR s.event_count <> c.event_count
    OR s.last_event_at IS DISTINCT FROM c.last_seen_at OR c.last_seen_at >= {ts("as_of")}
    OR c.id IN (SELECT u.customer_id FROM {EVENTS} u WHERE u.processed_at IS NULL AND u.program_id = %(program)s)"""


def _band_number(kind, prefix):
    """The band a value is in, as an integer: score bands of 10, churn bands of 0.1.
    `prefix` names the scored rows' columns: "n." (new values) or "n.old_" (stored ones)."""
    column = "engagement_score / 10" if kind == "score" else "churn_risk * 10"
    return f"CAST(FLOOR({prefix}{column} + 0.000001) AS INTEGER)"


def _band_key(kind, prefix):
    """A value that equals for two values exactly when they are in the same band: the value
    truncated to its band (score 87.55 -> 80, churn 0.399 -> 0.3). Both columns are exact
    numerics of a few places, so this is _band_number's band (its 0.000001 guards float error
    that they cannot have) in one numeric operation instead of three."""
    column, places = ("engagement_score", -1) if kind == "score" else ("churn_risk", 1)
    return f"TRUNC({prefix}{column}, {places})"


def _band_label(kind, prefix):
    """Text label of the band a value is in: "80" (80–89.99), churn "0.3" (0.3–0.399), "1.0"."""
    band = _band_number(kind, prefix)
    if kind == "score":
        return f"CAST({band} * 10 AS TEXT)"
    return f"(CASE WHEN {band} >= 10 THEN '1.0' ELSE '0.' || CAST({band} AS TEXT) END)"


def transitions_sql(source, targets):
    """(the moved rows, the INSERT of their transitions … RETURNING id), from `source` (the
    scored rows, with the stored values as old_*: no join is needed). `moved` picks in one scan
    the rows where a band or the segment moved (or that are new), computing each kind's flag
    once and the band arithmetic only for changed values; each kind of transition then reads
    only those rows (a nightly pass: ~13,000 of the ~72,000 whose churn risk drifted) and
    labels only the transitions it records."""
    kinds = (("score", "engagement_score"), ("churn_risk", "churn_risk"), ("segment", "segment"))
    flags = []
    selects = []
    for kind, column in kinds:
        if kind == "segment":
            new, old, moved = "n.segment", "n.old_segment", "n.old_segment <> n.segment"
        else:
            new, old = _band_label(kind, "n."), _band_label(kind, "n.old_")
            # Equal values are in equal bands: the band arithmetic runs only for changed values.
            moved = f"n.old_{column} <> n.{column} AND {_band_key(kind, 'n.old_')} <> {_band_key(kind, 'n.')}"
        flags.append(f"COALESCE({moved}, FALSE) AS {kind}_moved")
        selects.append(
            f"""SELECT %(program)s, n.customer_id, '{kind}', COALESCE({old}, ''), {new}, {ts("now")}
                FROM moved n WHERE n.old_customer_id IS NULL OR n.{kind}_moved"""
        )
    columns = ", ".join(f"n.{c}, n.old_{c}" for c in ["customer_id", *(column for _, column in kinds)])
    any_moved = " OR ".join(f"m.{kind}_moved" for kind, _ in kinds)
    # OFFSET 0: a flattened subquery would compute each flag again in the WHERE clause.
    return (
        f"""SELECT m.* FROM (SELECT {columns}, {", ".join(flags)} FROM {source} n WHERE {targets} OFFSET 0) m
            WHERE m.old_customer_id IS NULL OR {any_moved}""",
        f"""INSERT INTO {TRANSITIONS} (program_id, customer_id, kind, from_value, to_value, occurred_at)
            {" UNION ALL ".join(selects)} RETURNING id""",
    )


def _differs(old, new):
    """Null-safe "values differ" in SQL."""
    return f"{old} IS DISTINCT FROM {new}"


def score_writes_sql(source, targets):
    """(UPDATE of the changed stored rows, INSERT of the new ones; each RETURNING 1 a row
    written) from `source`: an INSERT …
    ON CONFLICT DO UPDATE first tries to insert every row (an index probe and a speculative
    insert each); on the nightly re-score, 72,000 changed rows of 100,000 took 1.7 s that way,
    1.4 s this way. A row whose raw score was computed with other weights is rewritten even if
    nothing shown changed, so that its raw score is one of the current weights."""
    columns = SHOWN + ["raw_score", "weights_key", "scored_at", "updated_at"]
    values = [f"n.{SCORED_COLUMN.get(c, c)}" for c in SHOWN] + [
        "n.raw_score",
        "%(weights_key)s",
        ts("as_of"),
        ts("now"),
    ]
    return (
        f"""UPDATE {SCORES} SET {", ".join(f"{c} = {v}" for c, v in zip(columns, values, strict=True))}
            FROM {source} n WHERE {SCORES}.customer_id = n.customer_id AND {targets}
            AND n.old_customer_id IS NOT NULL AND n.score_changed RETURNING 1""",
        f"""INSERT INTO {SCORES} (customer_id, program_id, {", ".join(columns)})
            SELECT n.customer_id, %(program)s, {", ".join(values)}
            FROM {source} n WHERE {targets} AND n.old_customer_id IS NULL RETURNING 1""",
    )


def flags_sql(source):
    """Two columns computed once per scored row of `source` (then read by the writes as plain
    booleans rather than each write comparing every column again): score_changed, the stored
    score row is to be rewritten (a shown value changed, or other weights); state_changed, the
    snapshot state differs from the stored row's (or there is none)."""
    score = " OR ".join(
        [_differs(f"{source}.old_{c}", f"{source}.{SCORED_COLUMN.get(c, c)}") for c in SHOWN]
        + [f"{source}.old_weights_key <> %(weights_key)s"]
    )
    state = " OR ".join(_differs(f"{source}.old_{c}", f"{source}.{SCORED_COLUMN.get(c, c)}") for c in SNAPSHOT_STATE)
    return f"COALESCE({score}, FALSE) AS score_changed, ({source}.old_customer_id IS NULL OR {state}) AS state_changed"


# The columns of the scored rows that the writes (transitions, scores, snapshots) read.
WRITTEN_COLUMNS = [
    "customer_id",
    "old_customer_id",
    "score_changed",
    "state_changed",
    "raw_score",
    *(SCORED_COLUMN.get(c, c) for c in SHOWN),
    "old_engagement_score",
    "old_churn_risk",
    "old_segment",
]

# The snapshot columns; all but the churn risk are a customer's state, whose change is what
# makes a new snapshot row (the churn risk follows from last_event_at and churn_divisor).
SNAPSHOT_COLUMNS = [c for c in SHOWN if c not in ("event_count", "last_purchase_at", "frequency", "median_gap_days")]
SNAPSHOT_STATE = [c for c in SNAPSHOT_COLUMNS if c != "churn_risk"]


def snapshots_sql(source, targets, *, first_of_day, everyone):
    """The day's snapshot rows from `source` (engagement.scoring.history). A live pass writes
    only the customers whose state differs from their stored score row (`old_*`), which is
    their latest snapshot's state; `everyone`: every customer (a rebuilt past day, or the
    first live pass after one). The first pass of a day INSERTs plainly: an INSERT … ON
    CONFLICT speculatively inserts each row (~1.4 s per 100,000 rows, twice the plain INSERT);
    later passes that day upsert."""
    values = ", ".join(f"n.{SCORED_COLUMN.get(c, c)}" for c in SNAPSHOT_COLUMNS)
    where = targets if everyone else f"{targets} AND n.state_changed"
    insert = f"""INSERT INTO {SNAPSHOTS} (program_id, customer_id, date, {", ".join(SNAPSHOT_COLUMNS)})
        SELECT %(program)s, n.customer_id, %(day)s, {values} FROM {source} n WHERE {where}"""
    if first_of_day:
        return insert
    return f"""{insert}
        ON CONFLICT (customer_id, date) DO UPDATE SET {", ".join(f"{c} = excluded.{c}" for c in SNAPSHOT_COLUMNS)}"""
