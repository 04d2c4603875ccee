"""The per-customer day rows of the metrics rollup (engagement.metrics.rollup): figures that do
not add across days, so each UTC day keeps rows per customer instead of totals.

- MetricDayEmailPair: each day's distinct (email type, customer, message id); the email
  metrics count the period's distinct pairs over the clean days' pairs UNION the rest's events.
- MetricDayBuyer: per customer and day the purchases, linked to the customer's previous and
  next purchase days; buyers and repeat buyers are counted row by row, like the pairs.
- MetricDayAdvocacy: per customer and day the latest NPS and CSAT answers (time, event id,
  score), converted referrals and shares; the CAI takes each customer's latest answers.

Built, dirtied and forgotten with the daily totals, by engagement.metrics.rollup (its
docstring: why no change is lost); read for the clean days of rollup.days_split, with or
without a segment.
"""

from datetime import UTC

from django.db import connection, transaction
from django.db.models import Case, CharField, Count, FloatField, Q, When
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate

from config.db_router import read_connection
from engagement.metrics.base import json_float, segment_members
from engagement.models import Event, MetricDayAdvocacy, MetricDayBuyer, MetricDayEmailCount, MetricDayEmailPair

PAIRS = MetricDayEmailPair._meta.db_table
PAIR_COUNTS = MetricDayEmailCount._meta.db_table
ADVOCACY = MetricDayAdvocacy._meta.db_table
BUYERS = MetricDayBuyer._meta.db_table
# The email types whose distinct (customer, message) pairs the email metrics count.
EMAIL_TYPES = ["email_sent", "email_bounced", "email_opened", "email_clicked", "email_unsubscribed"]
# The types the Customer Advocacy Index and the advocacy conversion rate read.
CAI_TYPES = ["survey_answered", "referral_converted", "social_share", "referral_sent"]

# --- Reading ---


def _in_segment(ctx, sql, params, column):
    """`sql` (params `params`) restricted to the customers of ctx.segment, if any."""
    if not ctx.segment:
        return sql, params
    members, members_params = segment_members(ctx).query.sql_with_params()
    return f"{sql} AND {column} IN ({members})", [*params, *members_params]


def email_pairs(ctx, parts, events_of):
    """{type: distinct (customer, message) pairs} of EMAIL_TYPES over the period split as
    `parts` (engagement.metrics.rollup.days_split), where `events_of(ranges)` is the email
    events of those [start, end) ranges with the period's segment and message filters,
    annotated with `message`, in one statement (one snapshot):
    - a clean day's row counts if no clean day before it holds its pair: its prev_day is
      NULL, before the first clean day, or a day that is not clean, and then no clean day
      between holds the pair (a lookup: only repeated pairs whose previous day is dirty get
      there). No hash of the period's pairs, which do not add across days;
    - a pair of the rest counts once (DISTINCT) if no clean day holds it."""
    if not parts.clean:
        if not parts.rest:
            return {}
        rest, params = events_of(parts.rest).values("type", "customer_id", "message").order_by().query.sql_with_params()
        sql = f"SELECT y.type, COUNT(*) FROM (SELECT DISTINCT * FROM ({rest}) x) y GROUP BY y.type"
        with read_connection().cursor() as cursor:
            cursor.execute(sql, params)
            return dict(cursor.fetchall())
    clean = list(parts.clean)
    # The same pair as p (a NULL message is one message, as DISTINCT has it) on a clean day.
    same_pair_clean = f"""SELECT 1 FROM {PAIRS} q WHERE q.program_id = %s AND q.customer_id = {{row}}.customer_id
        AND q.day = ANY(%s) AND q.type = {{row}}.type AND q.message IS NOT DISTINCT FROM {{row}}.message"""
    if not ctx.message_id and not ctx.segment and (clean[-1] - clean[0]).days + 1 == len(clean):
        # Clean days without a gap: a row's prev_day in the period is a clean day, so the
        # first rows are those whose prev_day is NULL or before it, counted per day and type.
        sql = f"""SELECT c.type, SUM(c.pairs) FROM {PAIR_COUNTS} c WHERE c.program_id = %s AND c.day >= %s
                  AND c.day <= %s AND (c.prev_day IS NULL OR c.prev_day < %s) GROUP BY c.type"""
        params = [ctx.program.pk, clean[0], clean[-1], clean[0]]
    else:
        sql = f"SELECT p.type, COUNT(*) FROM {PAIRS} p WHERE p.program_id = %s AND p.day = ANY(%s)"
        params = [ctx.program.pk, clean]
        if ctx.message_id:
            sql += " AND p.message = %s"
            params.append(ctx.message_id)
        sql, params = _in_segment(ctx, sql, params, "p.customer_id")
        sql += f""" AND (p.prev_day IS NULL OR p.prev_day < %s OR (p.prev_day <> ALL(%s) AND NOT EXISTS (
                    {same_pair_clean.format(row="p")} AND q.day < p.day))) GROUP BY p.type"""
        params += [clean[0], clean, ctx.program.pk, clean]
    if parts.rest:
        rest, rest_params = (
            events_of(parts.rest).values("type", "customer_id", "message").order_by().query.sql_with_params()
        )
        sql += f""" UNION ALL SELECT r.type, COUNT(*) FROM (SELECT DISTINCT * FROM ({rest}) x) r
                    WHERE NOT EXISTS ({same_pair_clean.format(row="r")}) GROUP BY r.type"""
        params += [*rest_params, ctx.program.pk, clean]
    counts = {}
    with read_connection().cursor() as cursor:
        cursor.execute(sql, params)
        for type_, n in cursor.fetchall():
            counts[type_] = counts.get(type_, 0) + int(n)
    return counts


def buyers(ctx, parts, purchases_of):
    """(buyers, repeat buyers) over the clean days of `parts` (engagement.metrics.rollup
    .days_split, which must hold some) and its rest, where `purchases_of(ranges)` is the
    purchase events of those ranges with the period's segment; in one statement.
    - a clean day's row is the customer's first in the clean days as an email pair's row is
      (email_pairs); the customer is a repeat buyer if that day holds two purchases or a
      later clean day holds one (its next_day, or a lookup when next_day is not clean);
    - a customer of the rest: a buyer if no clean day holds one of its purchases, a repeat
      buyer if its purchases of the clean days (index lookups) and the rest make two while
      those of the clean days alone do not."""
    clean = list(parts.clean)
    held = f"SELECT 1 FROM {BUYERS} q WHERE q.program_id = %s AND q.customer_id = b.customer_id AND q.day = ANY(%s)"
    later = f"""(b.next_day IS NOT NULL AND b.next_day <= %s
                 AND (b.next_day = ANY(%s) OR EXISTS ({held} AND q.day > b.day)))"""
    # `day + 0`: not by the (program, day) index. The rows are written in day order, so the
    # planner rates an index scan of most of the table as cheap; at 10 M events a sequential
    # scan takes under half its time (316 -> 133 ms). (The email pairs' scan is the other way.)
    sql = f"""SELECT COUNT(*), COUNT(*) FILTER (WHERE b.purchases >= 2 OR {later})
              FROM {BUYERS} b WHERE b.program_id = %s AND b.day + 0 = ANY(%s)"""
    params = [clean[-1], clean, ctx.program.pk, clean, ctx.program.pk, clean]
    sql, params = _in_segment(ctx, sql, params, "b.customer_id")
    sql += f""" AND (b.prev_day IS NULL OR b.prev_day < %s
                     OR (b.prev_day <> ALL(%s) AND NOT EXISTS ({held} AND q.day < b.day)))"""
    params += [clean[0], clean, ctx.program.pk, clean]
    if parts.rest:
        rest, rest_params = (
            purchases_of(parts.rest).values("customer_id").annotate(n=Count("*")).order_by().query.sql_with_params()
        )
        sql += f""" UNION ALL
            SELECT COUNT(*) FILTER (WHERE r.held = 0), COUNT(*) FILTER (WHERE r.held < 2 AND r.held + r.n >= 2)
            FROM (SELECT x.customer_id, x.n, COALESCE((SELECT SUM(q.purchases) FROM {BUYERS} q
                      WHERE q.program_id = %s AND q.customer_id = x.customer_id AND q.day = ANY(%s)), 0) AS held
                  FROM ({rest}) x) r"""
        params += [ctx.program.pk, clean, *rest_params]
    with read_connection().cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return sum(row[0] for row in rows), sum(row[1] for row in rows)


def advocacy_rows(queryset, *extra):
    """`queryset`'s CAI events as (*extra, customer_id, type, kind, score, occurred_at, id); kind
    and score only for NPS and CSAT answers (a custom survey's score may be anything)."""
    nps_or_csat = Q(type="survey_answered") & (Q(properties__kind="nps") | Q(properties__kind="csat"))
    return (
        queryset.filter(type__in=CAI_TYPES)
        .annotate(
            kind=Case(When(nps_or_csat, then=KT("properties__kind")), default=None, output_field=CharField()),
            score=Case(When(nps_or_csat, then=json_float("score")), default=None, output_field=FloatField()),
        )
        .values(*extra, "customer_id", "type", "kind", "score", "occurred_at", "id")
        .order_by()
    )


# An answer as an array whose greatest is the latest answer (by time, then event id: never a
# tie) and whose third element is its score: MAX() then picks the latest in a hash aggregate.
# Exact: date_part's epoch seconds are a double (IEEE division of the microseconds, rounding
# monotonic), whose spacing stays under a microsecond until the year 2242, so distinct
# instants stay distinct and in order; event ids are integers below 2**53, exact as float8.
# (extract() would give numeric, several times slower to compute per row.)
_LATEST = "CASE WHEN {present} THEN ARRAY[date_part('epoch', {at}), {id}, {score}] END"


def advocacy_inputs(ctx, parts, events_of):
    """SQL and params of rows (customer_id, nps, csat, refs, shares, sent) whose per-customer
    MAX (nps, csat: see _LATEST) and SUM are the CAI's and the advocacy conversion's inputs over the period split as `parts`
    (engagement.metrics.rollup.days_split): a row per customer and clean day from
    MetricDayAdvocacy, and a row per event of the rest, where `events_of(ranges)` is
    advocacy_rows of those ranges with the period's segment. None when the period is empty."""
    queries, params = [], []
    if parts.clean:
        nps = _LATEST.format(present="a.nps_event IS NOT NULL", at="a.nps_at", id="a.nps_event", score="a.nps_score")
        csat = _LATEST.format(
            present="a.csat_event IS NOT NULL", at="a.csat_at", id="a.csat_event", score="a.csat_score"
        )
        sql = f"""SELECT a.customer_id, {nps} AS nps, {csat} AS csat, CAST(a.referrals AS integer) AS refs,
                         CAST(a.shares AS integer) AS shares, CAST(a.referrals_sent AS integer) AS sent
                  FROM {ADVOCACY} a WHERE a.program_id = %s AND a.day = ANY(%s)"""
        params += [ctx.program.pk, list(parts.clean)]
        sql, params = _in_segment(ctx, sql, params, "a.customer_id")
        queries.append(sql)
    if parts.rest:
        rest, rest_params = events_of(parts.rest).query.sql_with_params()
        nps, csat = (
            _LATEST.format(present=f"x.kind = '{kind}'", at="x.occurred_at", id="x.id", score="x.score")
            for kind in ("nps", "csat")
        )
        queries.append(
            f"""SELECT x.customer_id, {nps} AS nps, {csat} AS csat,
                       CASE WHEN x.type = 'referral_converted' THEN 1 ELSE 0 END AS refs,
                       CASE WHEN x.type = 'social_share' THEN 1 ELSE 0 END AS shares,
                       CASE WHEN x.type = 'referral_sent' THEN 1 ELSE 0 END AS sent FROM ({rest}) x"""
        )
        params += rest_params
    if not queries:
        return None
    return " UNION ALL ".join(queries), params


# --- Dirtying and building (by engagement.metrics.rollup, in its transactions) ---


# + program id: one writer of a program's pairs at a time (their prev_day links cross days).
ADVISORY_LOCK_BASE = 7_330_000_000


def lock_pairs(cursor, program_id):
    """Serialize the writers of the program's email pairs until the transaction ends. Take it
    before any lock on the pairs' rows (the builder takes it first of all)."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_BASE + program_id])


def forget_customer(customer, days):
    """Delete `customer`'s rows of `days` (erasure: its events changed; the days are dirty)."""
    with transaction.atomic(), connection.cursor() as cursor:
        lock_pairs(cursor, customer.program_id)
        MetricDayEmailPair.objects.filter(program_id=customer.program_id, day__in=days, customer=customer).delete()
        MetricDayBuyer.objects.filter(program_id=customer.program_id, day__in=days, customer=customer).delete()
        relinked = _link_pairs(cursor, customer.program_id, [customer.pk])
        count_pairs(cursor, customer.program_id, {*days, *relinked})
        _link_buyers(cursor, customer.program_id, [customer.pk])
    MetricDayAdvocacy.objects.filter(program_id=customer.program_id, day__in=days, customer=customer).delete()


def forget_before(cursor, program_id, cutoff_day):
    """Delete the rows of the days before `cutoff_day` (retention dropped their events)."""
    cursor.execute(f"DELETE FROM {PAIRS} WHERE program_id = %s AND day < %s", [program_id, cutoff_day])
    cursor.execute(f"DELETE FROM {PAIR_COUNTS} WHERE program_id = %s AND day < %s", [program_id, cutoff_day])
    cursor.execute(f"DELETE FROM {ADVOCACY} WHERE program_id = %s AND day < %s", [program_id, cutoff_day])
    cursor.execute(f"DELETE FROM {BUYERS} WHERE program_id = %s AND day < %s", [program_id, cutoff_day])


def build_days(cursor, program_id, days, first_at, end_at):
    """The rows of `days` (UTC dates, locked by the caller), from the events of [first_at, end_at)."""
    _build_pairs(cursor, program_id, days, first_at, end_at)
    _build_buyers(cursor, program_id, days, first_at, end_at)
    _build_advocacy(cursor, program_id, days, first_at, end_at)


def _build_pairs(cursor, program_id, days, first_at, end_at):
    """The distinct email pairs of `days` (locked by the caller, in its transaction), by type
    from the index on (program, type, occurred_at)."""
    in_days = Event.objects.filter(
        program_id=program_id, type__in=EMAIL_TYPES, occurred_at__gte=first_at, occurred_at__lt=end_at
    ).annotate(_day=TruncDate("occurred_at", tzinfo=UTC), _message=KT("properties__message_id"))
    inner, params = (
        in_days.values("_day", "type", "customer_id", "_message").distinct().order_by().query.sql_with_params()
    )
    changed = _rewrite_days(
        cursor,
        PAIRS,
        program_id,
        days,
        f"""INSERT INTO {PAIRS} (program_id, day, type, customer_id, message)
            SELECT %s, x._day, x.type, x.customer_id, x._message FROM ({inner}) x WHERE x._day = ANY(%s)""",
        [program_id, *params, days],
    )
    relinked = _link_pairs(cursor, program_id, changed)
    count_pairs(cursor, program_id, {*days, *relinked})


def _rewrite_days(cursor, table, program_id, days, insert_sql, insert_params):
    """Delete `table`'s rows of `days`, write them again with `insert_sql`; returns the
    customers whose rows went or came (sorted), whose links the caller sets again."""
    cursor.execute(
        f"""WITH gone AS (DELETE FROM {table} WHERE program_id = %s AND day = ANY(%s) RETURNING customer_id)
            SELECT array_agg(DISTINCT customer_id) FROM gone""",
        [program_id, days],
    )
    gone = cursor.fetchone()[0] or []
    cursor.execute(insert_sql, insert_params)
    cursor.execute(
        f"SELECT DISTINCT customer_id FROM {table} WHERE program_id = %s AND day = ANY(%s)", [program_id, days]
    )
    return sorted({*gone, *(row[0] for row in cursor.fetchall())})


def _link_pairs(cursor, program_id, customer_ids):
    """Set prev_day of every pair row of `customer_ids` (whose rows were just deleted or
    inserted; the caller holds lock_pairs): the latest earlier day of the same pair. Returns
    the days of the rows it changed."""
    if not customer_ids:
        return set()
    cursor.execute(
        f"""WITH changed AS (UPDATE {PAIRS} p SET prev_day = w.prev FROM (
                SELECT q.id, LAG(q.day) OVER (PARTITION BY q.customer_id, q.type, q.message ORDER BY q.day, q.id) AS prev
                FROM {PAIRS} q WHERE q.program_id = %s AND q.customer_id = ANY(%s)) w
            WHERE p.id = w.id AND p.prev_day IS DISTINCT FROM w.prev RETURNING p.day)
            SELECT DISTINCT day FROM changed""",
        [program_id, customer_ids],
    )
    return {row[0] for row in cursor.fetchall()}


def count_pairs(cursor, program_id, days):
    """Count again the pair rows of `days` per type and prev_day (MetricDayEmailCount): the
    days whose rows were written, deleted or re-linked (the caller holds lock_pairs)."""
    days = sorted(days)
    if not days:
        return
    cursor.execute(f"DELETE FROM {PAIR_COUNTS} WHERE program_id = %s AND day = ANY(%s)", [program_id, days])
    cursor.execute(
        f"""INSERT INTO {PAIR_COUNTS} (program_id, day, type, prev_day, pairs)
            SELECT program_id, day, type, prev_day, COUNT(*) FROM {PAIRS}
            WHERE program_id = %s AND day = ANY(%s) GROUP BY program_id, day, type, prev_day""",
        [program_id, days],
    )


def _build_buyers(cursor, program_id, days, first_at, end_at):
    """Each customer's purchases per day of `days` (locked by the caller, in its transaction,
    with lock_pairs held), then the links of every customer whose rows changed."""
    in_days = Event.objects.filter(
        program_id=program_id, type="purchase", occurred_at__gte=first_at, occurred_at__lt=end_at
    ).annotate(_day=TruncDate("occurred_at", tzinfo=UTC))
    inner, params = in_days.values("_day", "customer_id").annotate(n=Count("*")).order_by().query.sql_with_params()
    changed = _rewrite_days(
        cursor,
        BUYERS,
        program_id,
        days,
        f"""INSERT INTO {BUYERS} (program_id, day, customer_id, purchases)
            SELECT %s, x._day, x.customer_id, x.n FROM ({inner}) x WHERE x._day = ANY(%s)""",
        [program_id, *params, days],
    )
    _link_buyers(cursor, program_id, changed)


def _link_buyers(cursor, program_id, customer_ids):
    """Set prev_day and next_day of every purchase day row of `customer_ids` (the caller
    holds lock_pairs)."""
    if not customer_ids:
        return
    cursor.execute(
        f"""UPDATE {BUYERS} b SET prev_day = w.prev, next_day = w.next FROM (
                SELECT q.id, LAG(q.day) OVER by_day AS prev, LEAD(q.day) OVER by_day AS next
                FROM {BUYERS} q WHERE q.program_id = %s AND q.customer_id = ANY(%s)
                WINDOW by_day AS (PARTITION BY q.customer_id ORDER BY q.day, q.id)) w
            WHERE b.id = w.id AND (b.prev_day IS DISTINCT FROM w.prev OR b.next_day IS DISTINCT FROM w.next)""",
        [program_id, customer_ids],
    )


def _build_advocacy(cursor, program_id, days, first_at, end_at):
    """Per customer and day of `days` (locked by the caller, in its transaction): the latest
    NPS and CSAT answers (time, event id, score), the converted and sent referrals, the shares."""
    cursor.execute(f"DELETE FROM {ADVOCACY} WHERE program_id = %s AND day = ANY(%s)", [program_id, days])
    in_days = Event.objects.filter(program_id=program_id, occurred_at__gte=first_at, occurred_at__lt=end_at).annotate(
        _day=TruncDate("occurred_at", tzinfo=UTC)
    )
    inner, params = advocacy_rows(in_days, "_day").query.sql_with_params()
    cursor.execute(
        f"""INSERT INTO {ADVOCACY} (program_id, day, customer_id, nps_at, nps_event, nps_score,
                                    csat_at, csat_event, csat_score, referrals, shares, referrals_sent)
            WITH x AS MATERIALIZED ({inner}),
            latest AS (
                SELECT DISTINCT ON (x._day, x.customer_id, x.kind) x._day, x.customer_id, x.kind, x.occurred_at, x.id, x.score
                FROM x WHERE x.kind IS NOT NULL ORDER BY x._day, x.customer_id, x.kind, x.occurred_at DESC, x.id DESC)
            SELECT %s, c._day, c.customer_id, n.occurred_at, n.id, n.score, s.occurred_at, s.id, s.score, c.refs, c.shares,
                   c.sent
            FROM (SELECT x._day, x.customer_id, COUNT(CASE WHEN x.type = 'referral_converted' THEN 1 END) AS refs,
                         COUNT(CASE WHEN x.type = 'social_share' THEN 1 END) AS shares,
                         COUNT(CASE WHEN x.type = 'referral_sent' THEN 1 END) AS sent
                  FROM x GROUP BY x._day, x.customer_id) c
            LEFT JOIN latest n ON n._day = c._day AND n.customer_id = c.customer_id AND n.kind = 'nps'
            LEFT JOIN latest s ON s._day = c._day AND s.customer_id = c.customer_id AND s.kind = 'csat'
            WHERE c._day = ANY(%s)""",
        [*params, program_id, days],
    )
