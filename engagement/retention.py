"""Retention of raw events (docs/architecture.md, "Events storage", Retention).

With EVENTS_RETENTION_MONTHS = N set, the events of the months before the N months preceding
the current one (UTC) are removed, and every figure that still needs them keeps exact:

- `roll_up_program` moves a program's processed events before the cutoff into one
  CustomerEventRollup row per customer (each event's type, instant and value; the referred
  customers and clicked messages that later periods' metrics read) and deletes them, in ONE
  transaction: a reader sees either the events or their rollup, never both or neither.
  Each program has its own transactions (one per month when years are rolled up at
  once), so one program's failure leaves the others done.
- `drop_empty_partitions` then drops the monthly partitions wholly before the cutoff that
  no longer hold a row (a program that failed, or an event not yet processed, keeps its
  month's partition until a later run).
- `HISTORY` is what the scores and the purchase models read instead of the events table:
  the events plus the rolled-up ones, so they give the values they gave before the drop.
- Metrics of a period reaching before a program's cutoff (EventRetention) are refused
  (`EventsNotRetained`, 400 `period_before_retention`), never answered with wrong numbers.

Event keys (EventKey) are never touched: a dropped event's id stays taken. Idempotent: a
second run with the same cutoff finds nothing to move and changes nothing.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from engagement import partitions
from engagement.errors import DomainError
from engagement.models import CustomerEventRollup, Event, EventRetention, Program

logger = logging.getLogger(__name__)

EVENTS = Event._meta.db_table
ROLLUPS = CustomerEventRollup._meta.db_table
RETENTIONS = EventRetention._meta.db_table


# The events as the scores and purchase models read them: the table plus each rollup's
# events unnested. Conditions on program_id, customer_id, type and occurred_at written
# against it reach both branches (PostgreSQL pushes them into a UNION ALL), so the events
# branch keeps its indexes.
def history_sql(since=None, customers=None):
    """HISTORY, narrowed in each branch. `since` (an SQL expression), for a read of the events
    from that instant on: the rollups whose last event is before it are skipped by the index
    on (program, last_event_at) without being unnested (the RFM lookback is usually after the
    cutoff). `customers` (a subquery of customer ids): a semi-join in each branch. Written
    outside, as a join to HISTORY, the planner may probe it once per customer, and the
    rollup branch (a lateral unnest) cannot take a per-customer probe: it would unnest every
    rollup for each customer."""
    ev_where = f"WHERE ev.customer_id IN ({customers})" if customers else ""
    r_where = [f"r.last_event_at >= {since}"] if since else []
    r_where += [f"r.customer_id IN ({customers})"] if customers else []
    r_where_sql = f"WHERE {' AND '.join(r_where)}" if r_where else ""
    return f"""(SELECT ev.program_id, ev.customer_id, ev.type, ev.occurred_at, ev.value FROM {EVENTS} ev {ev_where}
    UNION ALL SELECT r.program_id, r.customer_id, u.type, u.occurred_at, u.value
    FROM {ROLLUPS} r CROSS JOIN LATERAL unnest(r.types, r.times, r.amounts) AS u(type, occurred_at, value)
    {r_where_sql})"""


HISTORY = history_sql()

# Metrics that read the churn lookback before their period's start (customer activity).
LOOKBACK_METRICS = frozenset({"churn_rate", "retention_rate", "acl", "clv"})


class EventsNotRetained(DomainError):
    code = "period_before_retention"
    status = 400
    attr = "start"


def cutoff_for(now: datetime, months: int) -> datetime:
    """The first instant kept: the start (UTC) of the month `months` before now's month."""
    month = partitions.add_months(partitions.month_start(now), -months)
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def get_retained_from(program: Program) -> datetime | None:
    return EventRetention.objects.filter(program=program).values_list("retained_from", flat=True).first()


def check_period(program: Program, names, start: datetime) -> None:
    """Raise EventsNotRetained if a metric of `names` (those computed from the events) over
    a period from `start` would read events before the program's retention cutoff (its
    churn lookback included)."""
    retained_from = get_retained_from(program)
    if retained_from is None or not names:
        return
    earliest = start
    if LOOKBACK_METRICS.intersection(names):
        earliest = start - timedelta(days=program.churn_lookback_days)
    if earliest < retained_from:
        raise EventsNotRetained(
            _(
                "Events before %(cutoff)s are no longer kept (EVENTS_RETENTION_MONTHS): a period "
                "must start on or after %(first)s for these metrics."
            )
            % {
                "cutoff": retained_from.isoformat(),
                "first": (retained_from + (start - earliest)).isoformat(),
            }
        )


# Merges the program's processed events before the cutoff into their customers' rollups and
# deletes them, in one statement. `merged` re-aggregates each touched customer's old rollup
# events with the new ones, sorted by time (ties by type and value, so a re-run builds the
# same arrays), so events arriving late for an old month are folded in the right place.
_ROLL_UP = f"""
WITH gone AS (
    DELETE FROM {EVENTS} e
    WHERE e.program_id = %(program)s AND e.occurred_at < %(cutoff)s AND e.processed_at IS NOT NULL
    RETURNING e.customer_id, e.type, e.occurred_at, e.value,
              CASE WHEN e.type = 'referral_converted' THEN e.properties ->> 'referred_customer' END AS referred,
              CASE WHEN e.type = 'email_clicked' THEN e.properties ->> 'message_id' END AS message
), rows AS (
    SELECT customer_id, type, occurred_at, value FROM gone
    UNION ALL
    SELECT r.customer_id, u.type, u.occurred_at, u.value
    FROM {ROLLUPS} r CROSS JOIN LATERAL unnest(r.types, r.times, r.amounts) AS u(type, occurred_at, value)
    WHERE r.customer_id IN (SELECT customer_id FROM gone)
), merged AS (
    SELECT customer_id, COUNT(*) AS n, MIN(occurred_at) AS first_at, MAX(occurred_at) AS last_at,
           array_agg(type ORDER BY occurred_at, type, value) AS types,
           array_agg(occurred_at ORDER BY occurred_at, type, value) AS times,
           array_agg(value ORDER BY occurred_at, type, value) AS amounts
    FROM rows GROUP BY customer_id
), mentions AS (
    SELECT customer_id,
           COALESCE(array_agg(DISTINCT referred) FILTER (WHERE referred IS NOT NULL), '{{}}') AS referred,
           COALESCE(array_agg(DISTINCT message) FILTER (WHERE message IS NOT NULL), '{{}}') AS messages
    FROM gone GROUP BY customer_id
)
INSERT INTO {ROLLUPS} AS x (customer_id, program_id, retained_from, event_count, first_event_at, last_event_at,
                           types, times, amounts, referred_customers, clicked_messages, updated_at)
SELECT m.customer_id, %(program)s, %(cutoff)s, m.n, m.first_at, m.last_at, m.types, m.times, m.amounts,
       mn.referred, mn.messages, %(now)s
FROM merged m JOIN mentions mn ON mn.customer_id = m.customer_id
ON CONFLICT (customer_id) DO UPDATE SET
    retained_from = GREATEST(x.retained_from, excluded.retained_from), event_count = excluded.event_count,
    first_event_at = excluded.first_event_at, last_event_at = excluded.last_event_at, types = excluded.types,
    times = excluded.times, amounts = excluded.amounts,
    referred_customers = ARRAY(SELECT DISTINCT v FROM unnest(x.referred_customers || excluded.referred_customers) v
                               ORDER BY v),
    clicked_messages = ARRAY(SELECT DISTINCT v FROM unnest(x.clicked_messages || excluded.clicked_messages) v
                             ORDER BY v),
    updated_at = excluded.updated_at
"""


def roll_up_program(program_id: int, cutoff: datetime, now: datetime | None = None) -> int:
    """Move program `program_id`'s processed events before `cutoff` into their customers'
    rollups and delete them; record the cutoff (EventRetention). One transaction, under the
    program's scoring lock (a scoring pass never sees half of it). Returns the customers
    whose rollup changed. Idempotent; an unprocessed old event stays until processed."""
    from engagement.scoring import ADVISORY_LOCK_BASE

    now = now or timezone.now()
    params = {"program": program_id, "cutoff": cutoff, "now": now}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_BASE + program_id])
        cursor.execute(_ROLL_UP, params)
        changed = cursor.rowcount
        from engagement.metrics import rollup  # here: engagement.metrics imports this module

        rollup.forget_before(program_id, cutoff)  # the daily metric totals of the dropped days
        cursor.execute(
            f"""INSERT INTO {RETENTIONS} (program_id, retained_from, updated_at) VALUES (%(program)s, %(cutoff)s, %(now)s)
            ON CONFLICT (program_id) DO UPDATE SET retained_from = excluded.retained_from, updated_at = excluded.updated_at
            WHERE {RETENTIONS}.retained_from < excluded.retained_from""",
            params,
        )
    return changed


def drop_empty_partitions(cutoff: datetime) -> list[str]:
    """Drop the monthly partitions that end at or before `cutoff` and hold no row; return
    their names. Each is checked empty and dropped in its own transaction under the events
    table's lock (a late event cannot slip in between); never the default partition, never a
    month at or after the cutoff.

    Dropping a partition needs an ACCESS EXCLUSIVE lock on the events table, so ingestion
    waits for it: the check of an emptied table is instant, and the lock is waited for at
    most LOCK_TIMEOUT (behind a long read); then the next run tries again. The parent is
    locked first, as ingestion does, so the two cannot deadlock."""
    with connection.cursor() as cursor:
        present = partitions.existing_partitions(cursor)
    dropped = []
    for name in sorted(present):
        month = _partition_month(name)
        if month is None or partitions.add_months(month, 1) > cutoff.date():
            continue
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{partitions.LOCK_TIMEOUT}'")
                cursor.execute(f"LOCK TABLE {partitions.PARENT} IN ACCESS EXCLUSIVE MODE")
                cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {name})")
                if cursor.fetchone()[0]:
                    continue
                cursor.execute(f"DROP TABLE {name}")
        except OperationalError as exc:  # e.g. a lock not granted within LOCK_TIMEOUT: the next run drops it
            logger.warning("event partition %s not dropped: %s", name, exc)
            continue
        dropped.append(name)
    return dropped


def _partition_month(name: str):
    prefix = f"{partitions.PARENT}_y"
    if not name.startswith(prefix) or len(name) != len(prefix) + 7:
        return None  # the default partition
    year, month = name[len(prefix) :].split("m")
    return datetime(int(year), int(month), 1, tzinfo=UTC).date()


def _steps(program_id: int, cutoff: datetime) -> list[datetime]:
    """The month starts after the program's oldest processed event before `cutoff`, up to
    `cutoff`: one transaction per month, so the first run on years of history never holds
    them all in one (each step only adds a month to the rollups). Just [cutoff] when nothing
    is older than the previous cutoff, the steady state."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(occurred_at) FROM {EVENTS} WHERE program_id = %s AND occurred_at < %s AND processed_at IS NOT NULL",
            [program_id, cutoff],
        )
        oldest = cursor.fetchone()[0]
    if oldest is None:
        return [cutoff]
    steps, month = [], partitions.add_months(partitions.month_start(oldest), 1)
    while month < cutoff.date():
        steps.append(datetime(month.year, month.month, 1, tzinfo=UTC))
        month = partitions.add_months(month, 1)
    return [*steps, cutoff]


def apply_retention(now: datetime | None = None, months: int | None = None) -> dict:
    """Roll up and delete every program's events before the cutoff, then drop the emptied
    monthly partitions. `months`: EVENTS_RETENTION_MONTHS (None: keep for ever, do nothing).
    One program's failure is logged and reported; the others go on. Idempotent.
    Returns {"cutoff", "rollups_written" (a customer once per month step), "failed"
    (program ids), "dropped"}."""
    months = settings.EVENTS_RETENTION_MONTHS if months is None else months
    if months is None:
        return {"cutoff": None, "rollups_written": 0, "failed": [], "dropped": []}
    cutoff = cutoff_for(now or timezone.now(), months)
    changed, failed = 0, []
    for program_id in Program.objects.order_by("pk").values_list("pk", flat=True):
        try:
            for step in _steps(program_id, cutoff):
                changed += roll_up_program(program_id, step, now)
        except Exception:  # one program must not block the others; the next run retries it
            logger.exception("event retention failed for program %s", program_id)
            failed.append(program_id)
    dropped = drop_empty_partitions(cutoff)
    return {"cutoff": cutoff, "rollups_written": changed, "failed": failed, "dropped": dropped}
