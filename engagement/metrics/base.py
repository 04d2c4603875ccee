"""The metric registry and the query building blocks shared by the metric modules.

Each built-in metric is a function `fn(ctx) -> MetricValue` registered with `@metric(name,
unit)`; `ctx` carries the program, the period [start, end), the optional segment and the
optional per-page / per-network / per-message filters. Every query is an aggregate in the
database; no event is loaded into Python.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, FloatField, IntegerField, OuterRef, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from config.db_router import read_connection
from engagement.metrics.types import MetricValue
from engagement.models import Customer, CustomerScore, Event, Program

BUILTIN = {}  # name -> (fn, unit, section)


@dataclass(frozen=True)
class Ctx:
    program: Program
    start: datetime
    end: datetime
    segment: str | None = None
    page: str | None = None
    network: str | None = None
    message_id: str | None = None
    # Figures shared by several metrics (churn counts feed churn, retention, ACL and CLV),
    # computed once per compute_metrics call.
    memo: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    # The metric names of this call: lets metrics of one family share a pass only when
    # several of them are asked for (a lone count stays one narrow index scan).
    names: frozenset = field(default=frozenset(), compare=False, hash=False, repr=False)

    def once(self, key, compute):
        """compute() the first time `key` is asked for in this call, the stored result after."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    @property
    def days(self):
        return Decimal((self.end - self.start).total_seconds()) / Decimal(86400)

    @property
    def years(self):
        # A year is 365 days: a 365-day period is exactly one year.
        return self.days / Decimal(365)


def metric(name, unit, section):
    def register(fn):
        BUILTIN[name] = (fn, unit, section)
        return fn

    return register


def events(ctx, *types, start=None, end=None):
    """The program's events of `types` in [start, end) (default: the period), segment applied."""
    qs = Event.objects.filter(program=ctx.program, occurred_at__gte=start or ctx.start, occurred_at__lt=end or ctx.end)
    if len(types) == 1:
        qs = qs.filter(type=types[0])
    elif types:
        qs = qs.filter(type__in=types)
    if ctx.segment:
        qs = qs.filter(customer_id__in=segment_members(ctx))
    return qs


def events_in(ctx, ranges, *types):
    """The program's events of `types` in `ranges` ([start, end) pairs: the part of the period
    the daily rollup does not answer), segment applied."""
    qs = Event.objects.filter(in_ranges(ranges), program=ctx.program, type__in=types)
    if ctx.segment:
        qs = qs.filter(customer_id__in=segment_members(ctx))
    return qs


def in_ranges(ranges):
    """Q: occurred_at in one of `ranges` ([start, end) pairs)."""
    condition = Q()
    for start, end in ranges:
        condition |= Q(occurred_at__gte=start, occurred_at__lt=end)
    return condition


def segment_members(ctx):
    """Subquery: the ids of the customers in ctx.segment, from the scores' (program, segment)
    index. Events filter on it directly, with no join through the customers table."""
    return CustomerScore.objects.filter(program=ctx.program, segment=ctx.segment).values("customer_id")


# Plain counts of one event type in the period, by metric: when several are asked for,
# one GROUP BY type pass over the period answers them all (instead of one scan each).
TYPE_COUNT_METRICS = {
    "page_views": "page_view",
    "social_likes": "social_like",
    "social_shares": "social_share",
    "social_comments": "social_comment",
    "social_clicks": "social_click",
    "event_registrations": "event_registered",
    "event_attendance": "event_attended",
    "event_interactions": "event_interaction",
    "attendance_rate": ("event_registered", "event_attended"),
    "referrals_generated": "referral_sent",
    "referral_conversion_rate": ("referral_sent", "referral_converted"),
}


def _counted_types():
    types = set()
    for value in TYPE_COUNT_METRICS.values():
        types.update((value,) if isinstance(value, str) else value)
    return sorted(types)


def type_count(ctx, type_):
    """Number of `type_` events in the period (segment applied). Shared by every plain count
    of the call when two or more such metrics are asked for; identical either way. Without a
    segment, the clean full days come from the daily totals (engagement.metrics.rollup)."""
    # Imported here: rollup builds on this module's expressions.
    from engagement.metrics import rollup

    if not ctx.segment:
        return rollup.figure(ctx, type_, "events")
    if len(ctx.names & TYPE_COUNT_METRICS.keys()) < 2:
        return events(ctx, type_).count()

    def compute():
        # COUNT(*), not COUNT(id): the counts then come from the index on (program, type,
        # occurred_at) alone, without visiting the table (half the time).
        rows = events(ctx, *_counted_types()).order_by().values_list("type").annotate(n=Count("*"))
        return dict(rows)

    return ctx.once("type_counts", compute).get(type_, 0)


def customers(ctx):
    qs = Customer.objects.filter(program=ctx.program)
    if ctx.segment:
        qs = qs.filter(score__segment=ctx.segment)
    return qs


def active_in(ctx, start, end, *types):
    """Exists() condition: the outer customer has an event (of `types`) in [start, end)."""
    qs = Event.objects.filter(customer=OuterRef("pk"), occurred_at__gte=start, occurred_at__lt=end)
    if types:
        qs = qs.filter(type__in=types)
    return Exists(qs)


def lookback(ctx):
    return timedelta(days=ctx.program.churn_lookback_days)


def json_int(key):
    return Cast(KT(f"properties__{key}"), IntegerField())


def json_float(key):
    return Cast(KT(f"properties__{key}"), FloatField())


def count(value):
    return MetricValue(Decimal(value), value, None, "count")


def mean(total, n, unit):
    """total / n, or None when n is zero."""
    total = Decimal(str(total or 0))
    if not n:
        return MetricValue(None, total, 0, unit)
    return MetricValue(total / Decimal(n), total, n, unit)


def money(value):
    return Decimal(str(value)) if value is not None else Decimal("0")


def q_property(key, value):
    return Q(**{f"properties__{key}": value})


def not_merged():
    """SQL to put at the end of a subquery whose columns the query around it mentions several
    times: PostgreSQL would otherwise merge the subquery into it and compute each column again
    at every mention (OFFSET 0 keeps it a subquery of its own)."""
    return " OFFSET 0"


def sql_row(queryset, wrap, params_before=(), params_after=()):
    """Run `wrap` (SQL with "{inner}" standing for the queryset's own SQL; `params_before` and
    `params_after` fill the placeholders before and after it) and return its one row.

    Lets a metric aggregate over a grouped ORM queryset (segment filter and all) in portable
    SQL, e.g. counting customers by flags computed per customer in one pass.
    """
    inner, inner_params = queryset.query.sql_with_params()
    with read_connection().cursor() as cursor:
        cursor.execute(wrap.format(inner=inner), [*params_before, *inner_params, *params_after])
        return cursor.fetchone()


def sql_rows(queryset, wrap, params_before=(), params_after=()):
    """Like sql_row, but every row."""
    inner, inner_params = queryset.query.sql_with_params()
    with read_connection().cursor() as cursor:
        cursor.execute(wrap.format(inner=inner), [*params_before, *inner_params, *params_after])
        return cursor.fetchall()
