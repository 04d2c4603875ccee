"""Metrics of METRICS.md sections 1-8 for a program over [start, end), optionally for one RFM
segment: `compute_metrics` is the one entry point (API, dashboard, snapshots, goals).

Built-in metrics live in activity (sections 1-5) and value (6 and 8).
Loyalty metrics and the survey response rate come from providers that rewards and surveys
register with engagement.hooks.register_metric; while none is registered their value is
None ("no data"), like any rate with a zero denominator.
"""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from config.db_router import reading_from_replica
from engagement import hooks, retention
from engagement.metrics import activity as _activity  # noqa: F401 - registers metrics
from engagement.metrics import value as _value  # noqa: F401 - registers metrics
from engagement.metrics.base import BUILTIN, Ctx
from engagement.metrics.types import MetricValue
from engagement.models import MetricSnapshot, Segment
from engagement.scoring import local_date, local_day_end

# Provided by higher apps (METRICS.md section 7 and the survey response rate).
PROVIDED = {
    "points_issued": ("points", "loyalty"),
    "points_redeemed": ("points", "loyalty"),
    "points_expired": ("points", "loyalty"),
    "redemption_rate": ("percent", "loyalty"),
    "participation_rate": ("percent", "loyalty"),
    "reward_cost": ("money", "loyalty"),
    "response_rate": ("percent", "surveys"),
}
# The dashboard's KPI cards, and the metrics stored in the daily snapshot for its trends.
KPI_METRICS = [
    "nps",
    "csat",
    "ces",
    "churn_rate",
    "retention_rate",
    "repeat_purchase_rate",
    "clv",
    "mrr",
    "email_open_rate",
    "email_ctr",
    "bounce_rate",
    "redemption_rate",
    "participation_rate",
    "referral_conversion_rate",
]
SNAPSHOT_METRICS = KPI_METRICS + ["active_customers", "aov", "page_views"]
SNAPSHOT_WINDOW_DAYS = 30
SEGMENTS = [choice.value for choice in Segment]


class UnknownMetric(ValueError):
    def __init__(self, unknown, valid):
        self.unknown, self.valid = unknown, valid
        super().__init__(f"Unknown metric(s): {', '.join(unknown)}. Valid names: {', '.join(valid)}.")


def metric_names():
    """Every valid name: built-ins, the provided ones (even before a provider exists), extras."""
    return sorted(set(BUILTIN) | set(PROVIDED) | set(hooks.metric_providers()))


def metric_unit(name):
    if name in BUILTIN:
        return BUILTIN[name][1]
    return PROVIDED.get(name, ("", ""))[0]


def metric_section(name):
    if name in BUILTIN:
        return BUILTIN[name][2]
    return PROVIDED.get(name, ("", "other"))[1]


def compute_metrics(program, names, start, end, segment=None, *, page=None, network=None, message_id=None):
    """{name: MetricValue} for `names` over [start, end). Read-only.

    Raises UnknownMetric (listing the valid names) for a name that is neither built in nor
    provided, ValueError for an unknown segment, and retention.EventsNotRetained when a
    metric computed from the events has a period (or churn lookback) before the retention
    cutoff (provided metrics read their own data). `page`, `network` and `message_id` narrow
    the per-page exit rate / page views, the social counts and the email metrics.
    """
    valid = metric_names()
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise UnknownMetric(unknown, valid)
    if segment and segment not in SEGMENTS:
        raise ValueError(f"Unknown segment {segment!r}. Valid: {', '.join(SEGMENTS)}.")
    # A period whose events (or churn lookback) reach before the retention cutoff: refused
    # (400 period_before_retention), never answered from what is left (engagement.retention).
    providers = hooks.metric_providers()
    retention.check_period(program, [n for n in names if n in BUILTIN and n not in providers], start)
    ctx = Ctx(
        program, start, end, segment or None, page or None, network or None, message_id or None, names=frozenset(names)
    )
    out = {}
    # Metrics tolerate a replica's lag: with DATABASE_REPLICA_URL set their reads go there.
    with reading_from_replica():
        for name in names:
            if name in providers:
                out[name] = providers[name](program, start, end, segment=segment or None)
            elif name in BUILTIN:
                out[name] = BUILTIN[name][0](ctx)
            else:
                out[name] = MetricValue(None, None, None, metric_unit(name))
    return out


def _two_places(value):
    if value is None or isinstance(value, int | bool):
        return value
    return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def format_metric(name, value):
    """JSON form: counts and points are integers, everything else a string with 2 decimals."""
    unit = value.unit or metric_unit(name)
    number = value.value
    if number is not None and unit in ("count", "points"):
        number = int(number)
    return {
        "value": _two_places(number),
        "numerator": _two_places(value.numerator),
        "denominator": _two_places(value.denominator),
        "unit": unit,
    }


def snapshot_metrics(program, day=None, names=None):
    """Store SNAPSHOT_METRICS for `day` (default: yesterday in the program's time zone) over
    the trailing SNAPSHOT_WINDOW_DAYS ending at that day's end. Idempotent (upsert)."""
    day = day or local_date(program, timezone.now()) - timedelta(days=1)
    end = local_day_end(program, day)
    values = compute_metrics(program, names or SNAPSHOT_METRICS, end - timedelta(days=SNAPSHOT_WINDOW_DAYS), end)

    def dec(x):
        return None if x is None else Decimal(str(x)).quantize(Decimal("0.0001"))

    rows = [
        MetricSnapshot(
            program=program,
            date=day,
            name=name,
            value=dec(v.value),
            numerator=dec(v.numerator),
            denominator=dec(v.denominator),
            unit=v.unit,
        )
        for name, v in values.items()
    ]
    with transaction.atomic():
        MetricSnapshot.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["program", "date", "name"],
            update_fields=["value", "numerator", "denominator", "unit"],
        )
    return len(rows)
