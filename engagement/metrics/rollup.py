"""Exact daily pre-aggregation of the additive metric figures (issue 18, item 4).

Per (program, UTC day, event type) MetricDayTotal holds what the metrics sum over events: the
count (type counts), purchase revenue, all and recurring (AOV, MRR, revenue share), session
totals (duration, bounces, exits) and survey answer totals (NPS, CSAT, CES). Per (program,
day) MetricDay says whether those totals are current (`dirty` false).

Reading (`day_figures`): for a period without a segment, its full UTC days whose marker is
clean come from the totals and everything else (the partial days at its edges, dirty and
unbuilt days) from the events, with the same expressions (FIGURES) in both.

The email metrics' distinct pairs, the CAI's latest answers and the buyers do not add
across days: each day keeps rows per customer for them (engagement.metrics.customer_days:
MetricDayEmailPair, MetricDayAdvocacy, MetricDayBuyer), built, dirtied and forgotten here
with the totals and read for the clean days of `days_split` (the buyers without a segment).
The other figures that do not add across days (paying customers, advocacy revenue,
activity) stay on the events.

Building (`build_program`, beat task and `manage.py build_metric_rollups`) and dirtying
(`mark_days_dirty`, called by every writer that changes or deletes events: engagement.ingest,
engagement.erasure, engagement.retention), and why no change is lost between them:
1. The builder creates the missing markers (dirty; only those, as inserting over a marker a
   writer holds would wait for it) in a transaction of its own, then waits
   until every transaction that was writing at that commit has ended (`_wait_for_writers`).
   A writer marks days after changing the events, in the same transaction: one that ran its
   marker UPDATE before the markers existed has changed events already, so holds an xid
   listed in the builder's snapshot taken after that commit; once it has ended its changes
   are visible to the builder's later statements.
2. Per month, the builder locks the dirty markers (FOR UPDATE SKIP LOCKED, in day order),
   then aggregates the events of those days in a statement of the same transaction (under
   READ COMMITTED its snapshot is taken after the locks), writes the totals and clears the
   markers. A writer's UPDATE of a locked marker waits for the builder's commit and then
   sets it dirty again (its events were not in the builder's snapshot); a marker a writer
   locked first is skipped (the writer's commit leaves it dirty: the next run builds it).
   Writers lock the markers in day order too, so two writers never deadlock on them.
"""

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Case, Count, FloatField, IntegerField, Q, Sum, When
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate
from django.utils import timezone

from config.db_router import read_connection
from engagement.metrics import customer_days
from engagement.metrics.base import _counted_types, in_ranges, json_float, json_int
from engagement.models import Event, EventRetention, MetricDay, MetricDayTotal

DAYS = MetricDay._meta.db_table
TOTALS = MetricDayTotal._meta.db_table
# Days the beat task keeps built back from today: a year's period and its edge, with room.
BUILD_DAYS = 400
SURVEY_KINDS = ("nps", "csat", "ces")
INT_FIGURES = ["events", "bounces", "exits", "nps_n", "promoters", "detractors", "csat_n", "satisfied", "ces_n", "easy"]
# Figures that are NULL when no event contributes (as SUM over no rows is in the metrics).
NULLABLE_FIGURES = ["value_sum", "recurring_value_sum", "duration_sum", "ces_total"]
FIGURE_NAMES = INT_FIGURES + NULLABLE_FIGURES
# The types whose figures the metrics read (`figure`): the rest of a period is read by type,
# from the index on (program, type, occurred_at), not by a scan of every event of its months.
READ_TYPES = sorted({*_counted_types(), "session", "survey_answered", "purchase"})


def _figures():
    """The aggregates of MetricDayTotal's columns over events, the very expressions of the
    metrics on events (engagement.metrics.activity and value). A score is read as an integer
    only for NPS, CSAT and CES answers, a duration only for sessions (CASE: a custom event's
    property may be anything, and FILTER alone does not order the evaluation)."""
    session, answer = Q(type="session"), Q(type="survey_answered")
    score = Case(
        When(answer & Q(properties__kind__in=SURVEY_KINDS), then=json_int("score")),
        default=None,
        output_field=IntegerField(),
    )
    kind = KT("properties__kind")
    duration = Case(When(session, then=json_float("duration_seconds")), default=None, output_field=FloatField())

    def answers(kind_value, *conditions):
        return Count("id", filter=Q(answer, Q(_kind=kind_value), *conditions))

    figures = {
        "events": Count("*"),
        "value_sum": Sum("value"),
        "recurring_value_sum": Sum("value", filter=Q(properties__recurring=True)),
        "duration_sum": Sum(duration),
        "bounces": Count("id", filter=session & Q(properties__page_views=1)),
        "exits": Count("id", filter=session & Q(properties__has_key="exit_page")),
        "nps_n": answers("nps"),
        "promoters": answers("nps", Q(_score__gte=9)),
        "detractors": answers("nps", Q(_score__lte=6)),
        "csat_n": answers("csat"),
        "satisfied": answers("csat", Q(_score__gte=4)),
        "ces_n": answers("ces"),
        "ces_total": Sum("_score", filter=answer & Q(_kind="ces")),
        "easy": answers("ces", Q(_score__gte=5)),
    }
    return {"_kind": kind, "_score": score}, figures


def _grouped(queryset, *by):
    """`queryset`'s events grouped by `by`, with every figure."""
    helpers, figures = _figures()
    return queryset.annotate(**helpers).values(*by).annotate(**figures).order_by()


# --- Reading ---


@dataclass(frozen=True)
class Split:
    figures: dict  # type -> {figure: value} over the clean days
    rest: tuple  # the [start, end) ranges read from the events
    clean: tuple = ()  # the clean full days (engagement.metrics.customer_days reads their rows)


def split(ctx):
    """The period's clean full days from the totals and the ranges left to the events, read
    in one statement (one snapshot: a day is taken from exactly one side); None with a
    segment (the totals are not per customer)."""
    if ctx.segment:
        return None
    return days_split(ctx)


def days_split(ctx):
    """split(ctx) whatever the segment: the clean days and the rest (the per-customer email
    pairs take a segment; the figures are then not read)."""
    return ctx.once("rollup_split", lambda: _split(ctx))


def _split(ctx):
    start, end = ctx.start.astimezone(UTC), ctx.end.astimezone(UTC)
    first = start.date() if start == _midnight(start.date()) else start.date() + timedelta(days=1)
    if first >= end.date():
        return Split({}, ((start, end),))
    sums = ", ".join(f"SUM(t.{name})" for name in FIGURE_NAMES)
    nulls = ", ".join("NULL" for _ in FIGURE_NAMES)
    sql = f"""WITH clean AS MATERIALIZED (
            SELECT day FROM {DAYS} WHERE program_id = %(program)s AND NOT dirty AND day >= %(first)s AND day < %(end)s)
        SELECT t.type, {sums}, NULL FROM {TOTALS} t
        WHERE t.program_id = %(program)s AND t.day IN (SELECT day FROM clean) GROUP BY t.type
        UNION ALL SELECT NULL, {nulls}, (SELECT array_agg(day ORDER BY day) FROM clean)"""
    with read_connection().cursor() as cursor:
        cursor.execute(sql, {"program": ctx.program.pk, "first": first, "end": end.date()})
        rows = cursor.fetchall()
    figures = {row[0]: _typed(dict(zip(FIGURE_NAMES, row[1:-1], strict=True))) for row in rows[:-1]}
    clean = rows[-1][-1] or []
    return Split(figures, _rest(start, end, clean), tuple(clean))


def _typed(values):
    # SUM of bigint is numeric in PostgreSQL: counts back to int, like the events' COUNT.
    for name in INT_FIGURES:
        values[name] = int(values[name] or 0)
    if values["ces_total"] is not None:
        values["ces_total"] = int(values["ces_total"])
    return values


def _midnight(day):
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _rest(start, end, clean_days):
    """[start, end) without the clean days, as ranges."""
    ranges, cursor = [], start
    for day in clean_days:
        if _midnight(day) > cursor:
            ranges.append((cursor, _midnight(day)))
        cursor = _midnight(day + timedelta(days=1))
    if cursor < end:
        ranges.append((cursor, end))
    return tuple(ranges)


def day_figures(ctx):
    """{type: {figure: value}} over the period (no segment): the clean days' totals plus the
    rest from the events, in one pass over the rest. Computed once per compute_metrics call."""

    def compute():
        parts = split(ctx)
        figures = {type_: dict(values) for type_, values in parts.figures.items()}
        if parts.rest:
            rows = _grouped(
                Event.objects.filter(in_ranges(parts.rest), program=ctx.program, type__in=READ_TYPES), "type"
            )
            for row in rows:
                type_ = row.pop("type")
                figures[type_] = _add(figures.get(type_), row)
        return figures

    return ctx.once("rollup_figures", compute)


def _add(left, right):
    if left is None:
        return _typed(dict(right))
    out = {}
    for name in FIGURE_NAMES:
        a, b = left[name], right[name]
        out[name] = b if a is None else a if b is None else a + b
    return _typed(out)


def figure(ctx, type_, name):
    """One figure of `type_` (one of READ_TYPES) over the period (0, or None for a sum, when
    there is none)."""
    if type_ not in READ_TYPES:
        raise ValueError(f"{type_!r} is not among the types the rollup reads: add it to READ_TYPES.")
    values = day_figures(ctx).get(type_)
    if values is None:
        return None if name in NULLABLE_FIGURES else 0
    return values[name]


# --- Dirtying ---


def mark_days_dirty(program_id, days):
    """Mark the rollup markers of `days` (UTC dates) of the program dirty. Call it in the
    transaction that changed those days' events, after the change (see the module's
    docstring). Locks the markers in day order; no marker, nothing to do."""
    days = sorted(set(days))
    if not days:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {DAYS} m SET dirty = true FROM (
                    SELECT id FROM {DAYS} WHERE program_id = %s AND day = ANY(%s) ORDER BY day FOR UPDATE) l
                WHERE m.id = l.id""",
            [program_id, days],
        )


def utc_days(instants):
    return {instant.astimezone(UTC).date() for instant in instants}


def mark_customer_days_dirty(customer):
    """Mark dirty every day on which `customer` has events (their properties changed), and
    delete the customer's email pairs of those days at once (a message id may be what was
    erased; the next build writes the pairs again from the events)."""
    days = list(
        Event.objects.filter(customer=customer)
        .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values_list("day", flat=True)
        .distinct()
    )
    mark_days_dirty(customer.program_id, days)
    customer_days.forget_customer(customer, days)


def forget_before(program_id, cutoff):
    """Retention dropped the program's events before `cutoff`: the days wholly before it are
    forgotten (never read again: engagement.retention refuses periods before the cutoff, and
    the builder starts at it) and the day of the cutoff is dirty."""
    cutoff_day = cutoff.astimezone(UTC).date()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TOTALS} WHERE program_id = %s AND day < %s", [program_id, cutoff_day])
        customer_days.forget_before(cursor, program_id, cutoff_day)
        cursor.execute(f"DELETE FROM {DAYS} WHERE program_id = %s AND day < %s", [program_id, cutoff_day])
    mark_days_dirty(program_id, [cutoff_day])


# --- Building ---


def build_program(program_id, today=None, since=None, wait_seconds=120.0) -> int:
    """Build the totals of every missing or dirty closed UTC day of [since, today) (default:
    the BUILD_DAYS before today, from the retention cutoff on) of the program; returns the
    days built. Idempotent. Writes in a transaction per month; returns 0 without building
    when the writers of step 1 (module docstring) do not end within `wait_seconds`."""
    today = today or timezone.now().astimezone(UTC).date()
    since = since or today - timedelta(days=BUILD_DAYS)
    retained_from = EventRetention.objects.filter(program_id=program_id).values_list("retained_from", flat=True)
    if retained_from:
        since = max(since, retained_from[0].astimezone(UTC).date())
    if since >= today:
        return 0
    # Only the missing days: an insert conflicting with a marker a writer holds would wait for it.
    known = set(MetricDay.objects.filter(program_id=program_id, day__gte=since).values_list("day", flat=True))
    days = [since + timedelta(days=n) for n in range((today - since).days)]
    with transaction.atomic():
        MetricDay.objects.bulk_create(
            [MetricDay(program_id=program_id, day=day) for day in days if day not in known], ignore_conflicts=True
        )
    if not _wait_for_writers(wait_seconds):
        return 0
    built, month = 0, since
    while month < today:
        following = min(today, (month.replace(day=1) + timedelta(days=32)).replace(day=1))
        built += _build_days(program_id, month, following)
        month = following
    return built


def _wait_for_writers(seconds):
    """Wait until every transaction writing now (but this one) has ended; False on timeout."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT CAST(pg_current_snapshot() AS text)")
        (snapshot,) = cursor.fetchone()
        deadline = time.monotonic() + seconds
        while True:
            cursor.execute(
                """SELECT COUNT(*) FROM pg_snapshot_xip(CAST(%s AS pg_snapshot)) x
                   WHERE x IS DISTINCT FROM pg_current_xact_id_if_assigned() AND pg_xact_status(x) = 'in progress'""",
                [snapshot],
            )
            if cursor.fetchone()[0] == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)


def _build_days(program_id, first: date, end: date) -> int:
    """Build the dirty, unlocked days of [first, end) in one transaction; returns how many."""
    with transaction.atomic(), connection.cursor() as cursor:
        customer_days.lock_pairs(cursor, program_id)
        cursor.execute(
            f"""SELECT day FROM {DAYS} WHERE program_id = %s AND day >= %s AND day < %s AND dirty
                ORDER BY day FOR UPDATE SKIP LOCKED""",
            [program_id, first, end],
        )
        days = [row[0] for row in cursor.fetchall()]
        if not days:
            return 0
        cursor.execute(f"DELETE FROM {TOTALS} WHERE program_id = %s AND day = ANY(%s)", [program_id, days])
        in_days = Event.objects.filter(
            program_id=program_id, occurred_at__gte=_midnight(days[0]), occurred_at__lt=_midnight(end)
        ).annotate(_day=TruncDate("occurred_at", tzinfo=UTC))
        inner, params = _grouped(in_days, "_day", "type").query.sql_with_params()
        columns = ", ".join(FIGURE_NAMES)
        cursor.execute(
            f"""INSERT INTO {TOTALS} (program_id, day, type, {columns})
                SELECT %s, x._day, x.type, {", ".join(f"x.{name}" for name in FIGURE_NAMES)}
                FROM ({inner}) x WHERE x._day = ANY(%s)""",
            [program_id, *params, days],
        )
        customer_days.build_days(cursor, program_id, days, _midnight(days[0]), _midnight(end))
        cursor.execute(
            f"UPDATE {DAYS} SET dirty = false, built_at = %s WHERE program_id = %s AND day = ANY(%s)",
            [timezone.now(), program_id, days],
        )
    return len(days)
