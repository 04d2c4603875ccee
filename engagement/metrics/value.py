"""METRICS.md sections 6 and 8: retention and value, advocacy (incl. the CAI)."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    F,
    Func,
    Sum,
)
from django.db.models.fields.json import KT

from config.db_router import read_connection
from engagement.metrics import customer_days, rollup
from engagement.metrics.base import (
    count,
    events,
    events_in,
    mean,
    metric,
    money,
    sql_row,
    type_count,
)
from engagement.metrics.customers import activity
from engagement.metrics.types import MetricValue, rate
from engagement.models import Customer, CustomerEventRollup, Event

# --- 6. Retention and value ---


@metric("active_customers", "count", "retention")
def active_customers(ctx):
    return count(activity(ctx).active)


@metric("churn_rate", "percent", "retention")
def churn_rate(ctx):
    counts = activity(ctx)
    return rate(counts.lost, counts.at_start)


@metric("retention_rate", "percent", "retention")
def retention_rate(ctx):
    """(E − N) / S × 100: S active in the lookback before start, E active in the lookback
    before end, N new (first event ever) in the period."""
    counts = activity(ctx)
    return rate(counts.at_end - counts.new, counts.at_start)


def _purchases(ctx):
    """The period's purchases, shared by AOV, APF, repeat purchase rate, MRR, ARPC and the
    advocacy revenue share: purchases per customer (buyers, repeat buyers, purchases) and the
    revenue in one pass, then the recurring purchases (paying customers, recurring revenue).

    Money is summed flat, never per customer: the first pass then reads only customer and
    value, which the index event_purchases holds (no visit to the table, and no sum per
    customer, which took most of the time); SQLite, which sums money as floats, rounds as it
    always did."""

    def compute():
        purchases = events(ctx, "purchase")
        per_customer = purchases.values("customer_id").annotate(n=Count("*")).order_by()
        if not ctx.segment:
            return _purchases_with_totals(ctx, purchases, per_customer)
        flat = purchases.values("program").annotate(revenue=Sum("value")).values("revenue").order_by()
        flat_sql, flat_params = flat.query.sql_with_params()
        row = sql_row(
            per_customer,
            f"""SELECT COUNT(*), COUNT(CASE WHEN x.n >= 2 THEN 1 END), COALESCE(SUM(x.n), 0), ({flat_sql})
                FROM ({{inner}}) x""",
            params_before=flat_params,
        )
        recurring = purchases.filter(properties__recurring=True).aggregate(
            paying=Count("customer_id", distinct=True), revenue=Sum("value")
        )
        return Purchases(int(row[0]), int(row[1]), int(row[2]), row[3], recurring["paying"], recurring["revenue"])

    return ctx.once("purchases", compute)


def _purchases_with_totals(ctx, purchases, per_customer):
    """_purchases without a segment: the purchases and revenues from the daily totals and the
    rest of the period (engagement.metrics.rollup); buyers and repeat buyers from the linked
    purchase days of the clean days and the rest (customer_days.buyers), or the events when
    no day is clean; paying customers from the events."""
    parts = rollup.days_split(ctx)
    if parts.clean:
        buyers, repeat_buyers = customer_days.buyers(ctx, parts, lambda ranges: events_in(ctx, ranges, "purchase"))
        n = rollup.figure(ctx, "purchase", "events")
    else:
        buyers, repeat_buyers, n = sql_row(
            per_customer,
            "SELECT COUNT(*), COUNT(CASE WHEN x.n >= 2 THEN 1 END), COALESCE(SUM(x.n), 0) FROM ({inner}) x",
        )
    paying = purchases.filter(properties__recurring=True).aggregate(paying=Count("customer_id", distinct=True))
    revenue = rollup.figure(ctx, "purchase", "value_sum")
    recurring = rollup.figure(ctx, "purchase", "recurring_value_sum")
    return Purchases(int(buyers), int(repeat_buyers), int(n), revenue, paying["paying"], recurring)


@dataclass(frozen=True)
class Purchases:
    buyers: int
    repeat_buyers: int
    n: int
    revenue: Decimal | None
    paying: int
    recurring_revenue: Decimal | None


@metric("repeat_purchase_rate", "percent", "retention")
def repeat_purchase_rate(ctx):
    purchases = _purchases(ctx)
    return rate(purchases.repeat_buyers, purchases.buyers)


@metric("aov", "money", "retention")
def aov(ctx):
    purchases = _purchases(ctx)
    return mean(money(purchases.revenue), purchases.n, "money")


@metric("apf", "per_year", "retention")
def apf(ctx):
    """Purchases per purchasing customer, per year of period."""
    n, buyers = _purchases(ctx).n, _purchases(ctx).buyers
    if not buyers or not ctx.years:
        return MetricValue(None, n, buyers, "per_year")
    return MetricValue(Decimal(n) / buyers / ctx.years, n, buyers, "per_year")


@metric("acl", "years", "retention")
def acl(ctx):
    """1 / annual churn rate (period churn scaled to 365 days), capped by the program."""
    at_start, lost = activity(ctx).at_start, activity(ctx).lost
    cap = ctx.program.lifespan_cap_years
    if not at_start:
        return MetricValue(None, lost, at_start, "years")
    annual = Decimal(lost) / at_start / ctx.years
    value = cap if annual == 0 else min(cap, 1 / annual)
    return MetricValue(value, lost, at_start, "years")


@metric("clv", "money", "retention")
def clv(ctx):
    """APV × APF × ACL; null when any of them is null. Composite: no numerator/denominator."""
    parts = [aov(ctx).value, apf(ctx).value, acl(ctx).value]
    if any(part is None for part in parts):
        return MetricValue(None, None, None, "money")
    return MetricValue(parts[0] * parts[1] * parts[2], None, None, "money")


def _months(ctx):
    """A period of 28-31 days is one month; otherwise its length in months of 365/12 days."""
    return Decimal(1) if 28 <= ctx.days <= 31 else ctx.days * 12 / 365


def _recurring(ctx):
    purchases = _purchases(ctx)
    return money(purchases.recurring_revenue) / _months(ctx), purchases.paying


@metric("mrr", "money", "retention")
def mrr(ctx):
    """Recurring revenue (purchases with recurring: true) per month of the period."""
    monthly, _ = _recurring(ctx)
    return MetricValue(monthly, monthly * _months(ctx), _months(ctx), "money")


@metric("arpc", "money", "retention")
def arpc(ctx):
    monthly, paying = _recurring(ctx)
    return mean(monthly, paying, "money")


# --- 8. Advocacy ---


@metric("referrals_generated", "count", "advocacy")
def referrals_generated(ctx):
    return count(type_count(ctx, "referral_sent"))


@metric("referral_conversion_rate", "percent", "advocacy")
def referral_conversion_rate(ctx):
    return rate(type_count(ctx, "referral_converted"), type_count(ctx, "referral_sent"))


@metric("advocacy_conversion_rate", "percent", "advocacy")
def advocacy_conversion_rate(ctx):
    """Referrers (a referral_sent in the period) who also had a referral converted in it."""
    advocacy = _advocacy(ctx)
    return rate(advocacy.converted_referrers, advocacy.referrers)


def _advocacy_revenue(ctx):
    return ctx.once("advocacy_revenue", lambda: _advocacy_revenue_now(ctx))


def _advocacy_revenue_now(ctx):
    referred = (
        Event.objects.filter(program=ctx.program, type="referral_converted", occurred_at__lt=ctx.end)
        .annotate(referred=KT("properties__referred_customer"))
        .values("referred")
    )
    # Referrals dropped by retention are before every period metrics answer for
    # (engagement.retention): the customers they named are kept in the referrers' rollups.
    rolled_up = (
        CustomerEventRollup.objects.filter(program=ctx.program)
        .annotate(referred=Func(F("referred_customers"), function="unnest"))
        .values("referred")
    )
    # The referred customers by their (program, external id) index, then their purchases: not a
    # scan of every customer tested against the two lists.
    referred_ids = Customer.objects.filter(program=ctx.program, external_id__in=referred.union(rolled_up)).values("pk")
    purchases = events(ctx, "purchase").filter(customer_id__in=referred_ids)
    return (
        money(purchases.aggregate(total=Sum("value"))["total"]),
        money(_purchases(ctx).revenue),
    )


@metric("advocacy_revenue", "money", "advocacy")
def advocacy_revenue(ctx):
    """Purchase revenue in the period of customers referred (referral_converted) before its end."""
    referred, _ = _advocacy_revenue(ctx)
    return MetricValue(referred, referred, None, "money")


@metric("advocacy_revenue_share", "percent", "advocacy")
def advocacy_revenue_share(ctx):
    referred, total = _advocacy_revenue(ctx)
    return rate(referred, total)


def _advocacy_sql(inputs, weights):
    """Per customer of `inputs` (engagement.metrics.customer_days.advocacy_inputs: the clean
    days' rows and the rest's events), in one hash aggregate: latest NPS and CSAT answers
    (latest by time, then id), converted and sent referrals and shares in the period. Then
    the advocacy score summed over responders (an NPS or CSAT answer) in customer order
    (floating point: a fixed order keeps the sum's last bits), the responders, the referrers
    and those of them with a conversion. The arithmetic is the one METRICS.md gives, in
    floating point."""
    w_nps, w_csat, w_ref = (float(weights[k]) for k in ("nps", "csat", "referrals"))
    nps_part = f"CASE WHEN nps IS NOT NULL THEN nps * 10 * {w_nps!r} ELSE 0.0 END"
    csat_part = f"CASE WHEN csat IS NOT NULL THEN (csat - 1) / 4 * 100 * {w_csat!r} ELSE 0.0 END"
    ref_part = f"LEAST(refs * 25 + shares * 5, 100) * {w_ref!r}"
    weight = (
        f"(CASE WHEN nps IS NOT NULL THEN {w_nps!r} ELSE 0.0 END"
        f" + CASE WHEN csat IS NOT NULL THEN {w_csat!r} ELSE 0.0 END + {w_ref!r})"
    )
    responder = "r.nps IS NOT NULL OR r.csat IS NOT NULL"
    return f"""SELECT SUM(({nps_part} + {csat_part} + {ref_part}) / {weight} ORDER BY r.customer_id)
                      FILTER (WHERE {responder}),
                  COUNT(*) FILTER (WHERE {responder}), COUNT(*) FILTER (WHERE r.sent > 0),
                  COUNT(*) FILTER (WHERE r.sent > 0 AND r.refs > 0) FROM (
        SELECT u.customer_id, (MAX(u.nps))[3] AS nps, (MAX(u.csat))[3] AS csat,
               SUM(u.refs) AS refs, SUM(u.shares) AS shares, SUM(u.sent) AS sent
        FROM ({inputs}) u GROUP BY u.customer_id
    ) r"""


@dataclass(frozen=True)
class Advocacy:
    score_sum: Decimal
    responders: int
    referrers: int
    converted_referrers: int


def _advocacy(ctx):
    """The CAI's and the advocacy conversion's figures, in one statement per compute_metrics call."""

    def compute():
        weights = {k: Decimal(str(v)) for k, v in ctx.program.get_cai_weights().items()}

        def rest(ranges):
            return customer_days.advocacy_rows(events_in(ctx, ranges, *customer_days.CAI_TYPES))

        inputs = customer_days.advocacy_inputs(ctx, rollup.days_split(ctx), rest)
        if inputs is None:
            return Advocacy(round(Decimal(0), 6), 0, 0, 0)
        with read_connection().cursor() as cursor:
            cursor.execute(_advocacy_sql(inputs[0], weights), inputs[1])
            total, responders, referrers, converted = cursor.fetchone()
        return Advocacy(round(Decimal(str(total or 0)), 6), responders, referrers, converted)

    return ctx.once("advocacy", compute)


@metric("cai", "score", "advocacy")
def cai(ctx):
    """Mean advocacy score of customers who answered an NPS or CSAT survey in the period.
    A missing NPS or CSAT answer drops that part and its weight (the rest is re-weighted)."""
    advocacy = _advocacy(ctx)
    return mean(advocacy.score_sum, advocacy.responders, "score")
