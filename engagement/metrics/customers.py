"""Customer counts of METRICS.md section 6 (active in the lookback before start, of them
silent in the period, active in the lookback before end, active in the period, new in the
period), shared by active customers, churn, retention, ACL and CLV.

Two exact ways to the same counts:
- `activity_from_events`: one pass over the events of [start − lookback, end) grouped by
  customer.
- `activity_from_aggregates`: from the first and last event times that event
  processing keeps on each customer (engagement.processing.update_aggregates), which answer
  "an event in [a, b)" for every range here but one, where an index probe answers. It holds
  for a customer whose events are all processed and none at or after `end`; the others (the
  exceptions) are counted from their own events, in the same statement (one snapshot).
`activity` takes the second unless the exceptions are many (a period ending in the past).
"""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Max, Min

from config.db_router import read_connection
from engagement.metrics.base import events, lookback, sql_row
from engagement.models import Customer, CustomerEventRollup, CustomerScore, Event

EVENTS = Event._meta.db_table
# "New in the period" means no event ever before start: a customer with a rollup had events
# before the retention cutoff, which metrics never reach behind (engagement.retention).
ROLLUPS = CustomerEventRollup._meta.db_table
CUSTOMERS = Customer._meta.db_table
SCORES = CustomerScore._meta.db_table
# More exceptions than this (customers seen at or after `end`, unprocessed events): the
# event pass is the cheaper way (each exception costs an index scan of its own events).
MAX_EXCEPTIONS = 10_000


@dataclass(frozen=True)
class Activity:
    at_start: int
    lost: int
    at_end: int
    active: int
    new: int


def activity(ctx):
    """The period's Activity, computed once per compute_metrics call."""

    def compute():
        if _exceptions_are_few(ctx):
            return activity_from_aggregates(ctx)
        return activity_from_events(ctx)

    return ctx.once("activity", compute)


def activity_from_events(ctx):
    """Per customer only the first and last event of [start − lookback, end) are needed:
    active before start ⇔ first < start; active in the period ⇔ last ≥ start; active in the
    lookback before end ⇔ last ≥ end − lookback. "New" = active in the period with no event
    ever before start: only customers whose first event of the window is in the period can
    be, and only they are looked further back (an index probe each)."""
    before, end_lookback = ctx.start - lookback(ctx), ctx.end - lookback(ctx)
    per_customer = (
        events(ctx, start=before, end=ctx.end)
        .values("customer_id")
        .annotate(first_at=Min("occurred_at"), last_at=Max("occurred_at"))
        .order_by()
    )
    row = sql_row(
        per_customer,
        f"""SELECT COUNT(CASE WHEN x.first_at < %s THEN 1 END), COUNT(CASE WHEN x.last_at < %s THEN 1 END),
                   COUNT(CASE WHEN x.last_at >= %s THEN 1 END), COUNT(CASE WHEN x.last_at >= %s THEN 1 END),
                   COUNT(CASE WHEN x.first_at >= %s AND NOT EXISTS (
                       SELECT 1 FROM {EVENTS} e
                       WHERE e.customer_id = x.customer_id AND e.occurred_at < %s)
                       AND NOT EXISTS (SELECT 1 FROM {ROLLUPS} r WHERE r.customer_id = x.customer_id) THEN 1 END)
            FROM ({{inner}}) x""",
        params_before=[_dt(p) for p in (ctx.start, ctx.start, end_lookback, ctx.start, ctx.start, before)],
    )
    return Activity(*(int(n) for n in row))


def _dt(value):
    return connection.ops.adapt_datetimefield_value(value)


def _exceptions_are_few(ctx):
    """Whether at most MAX_EXCEPTIONS customers were seen at or after `end` and at most as
    many events are unprocessed (each side read only up to that many index entries)."""
    with read_connection().cursor() as cursor:
        cursor.execute(
            f"""SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM {CUSTOMERS}
                        WHERE program_id = %(program)s AND last_seen_at >= %(end)s LIMIT %(limit)s) late),
                       (SELECT COUNT(*) FROM (SELECT 1 FROM {EVENTS}
                        WHERE processed_at IS NULL AND program_id = %(program)s LIMIT %(limit)s) unprocessed)""",
            {"program": ctx.program.pk, "end": ctx.end, "limit": MAX_EXCEPTIONS + 1},
        )
        late, unprocessed = cursor.fetchone()
    return late <= MAX_EXCEPTIONS and unprocessed <= MAX_EXCEPTIONS


# For a customer with all events processed and first ≤ last < end (first_seen_at,
# last_seen_at): an event in the period ⇔ last ≥ start; in the lookback before end ⇔
# last ≥ end − lookback; new ⇔ first ≥ start (then no event ever before start). An event in
# [start − lookback, start) ⇔ first or last in it; none when first ≥ start or last <
# start − lookback (filtered out); else (first before it, last after it) only the index on
# (customer, occurred_at) can tell: the first event from start − lookback on, one probe.
# Lost ⇔ last in [start − lookback, start). The exceptions' flags are those of
# activity_from_events. Scalar subqueries with LIMIT 1 keep every probe an index probe
# (an EXISTS may be planned as a hashed scan of all the events).
_FROM_AGGREGATES = f"""
WITH unprocessed AS MATERIALIZED (
    SELECT DISTINCT customer_id AS id FROM {EVENTS} WHERE processed_at IS NULL AND program_id = %(program)s
), exceptions AS MATERIALIZED (
    SELECT id FROM unprocessed
    UNION SELECT id FROM {CUSTOMERS} WHERE program_id = %(program)s AND last_seen_at >= %(end)s
), flags AS (
    SELECT CASE WHEN c.first_seen_at >= %(start)s THEN false
                WHEN c.first_seen_at >= %(before)s OR c.last_seen_at < %(start)s THEN true
                ELSE (SELECT e.occurred_at FROM {EVENTS} e WHERE e.customer_id = c.id
                      AND e.occurred_at >= %(before)s ORDER BY e.occurred_at LIMIT 1) < %(start)s
           END AS at_start,
           c.last_seen_at >= %(end_lookback)s AS at_end, c.last_seen_at >= %(start)s AS active,
           c.first_seen_at >= %(start)s AS new
    FROM {CUSTOMERS} c {{customer_segment}}
    WHERE c.program_id = %(program)s AND c.last_seen_at >= %(before)s AND c.last_seen_at < %(end)s
      AND c.id NOT IN (SELECT id FROM unprocessed)
    UNION ALL
    SELECT x.first_at < %(start)s, x.last_at >= %(end_lookback)s, x.last_at >= %(start)s,
           x.first_at >= %(start)s AND (SELECT e.occurred_at FROM {EVENTS} e WHERE e.customer_id = x.customer_id
                                        ORDER BY e.occurred_at LIMIT 1) >= %(before)s
                                   AND NOT EXISTS (SELECT 1 FROM {ROLLUPS} r WHERE r.customer_id = x.customer_id)
    FROM (SELECT e.customer_id, MIN(e.occurred_at) AS first_at, MAX(e.occurred_at) AS last_at
          FROM {EVENTS} e {{event_segment}}
          WHERE e.customer_id IN (SELECT id FROM exceptions) AND e.program_id = %(program)s
            AND e.occurred_at >= %(before)s AND e.occurred_at < %(end)s
          GROUP BY e.customer_id) x
)
SELECT COUNT(*) FILTER (WHERE at_start), COUNT(*) FILTER (WHERE at_start AND NOT active),
       COUNT(*) FILTER (WHERE at_end), COUNT(*) FILTER (WHERE active), COUNT(*) FILTER (WHERE new)
FROM flags"""


def activity_from_aggregates(ctx):
    """The same counts as activity_from_events, from the customers' first/last seen times
    (PostgreSQL only). Exact whatever the data: the exceptions are counted from events."""
    join = f"JOIN {SCORES} s ON s.customer_id = {{}} AND s.segment = %(segment)s" if ctx.segment else ""
    sql = _FROM_AGGREGATES.format(customer_segment=join.format("c.id"), event_segment=join.format("e.customer_id"))
    params = {
        "program": ctx.program.pk,
        "segment": ctx.segment,
        "start": ctx.start,
        "end": ctx.end,
        "before": ctx.start - lookback(ctx),
        "end_lookback": ctx.end - lookback(ctx),
    }
    with read_connection().cursor() as cursor:
        cursor.execute(sql, params)
        return Activity(*cursor.fetchone())
