"""METRICS.md sections 6 and 8: retention and value, advocacy (incl. the CAI)."""

from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Least

from engagement.metric_types import MetricValue, rate
from engagement.metrics_base import active_in, count, customers, events, json_float, lookback, mean, metric, money
from engagement.models import Event

# --- 6. Retention and value ---


def churn_counts(ctx):
    """(customers at start, lost): active in the lookback before start / of them, silent in the period."""
    totals = (
        customers(ctx)
        .filter(active_in(ctx, ctx.start - lookback(ctx), ctx.start))
        .annotate(stayed=active_in(ctx, ctx.start, ctx.end))
        .aggregate(at_start=Count("id"), lost=Count("id", filter=Q(stayed=False)))
    )
    return totals["at_start"], totals["lost"]


@metric("active_customers", "count", "retention")
def active_customers(ctx):
    return count(events(ctx).values("customer_id").distinct().count())


@metric("churn_rate", "percent", "retention")
def churn_rate(ctx):
    at_start, lost = churn_counts(ctx)
    return rate(lost, at_start)


@metric("retention_rate", "percent", "retention")
def retention_rate(ctx):
    """(E − N) / S × 100: S active in the lookback before start, E active in the lookback
    before end, N new (first event ever) in the period."""
    at_start, _ = churn_counts(ctx)
    at_end = customers(ctx).filter(active_in(ctx, ctx.end - lookback(ctx), ctx.end)).count()
    before = Event.objects.filter(customer=OuterRef("pk"), occurred_at__lt=ctx.start)
    new = customers(ctx).filter(active_in(ctx, ctx.start, ctx.end)).exclude(Exists(before)).count()
    return rate(at_end - new, at_start)


def _purchase_totals(ctx, **filters):
    return events(ctx, "purchase").filter(**filters).aggregate(revenue=Sum("value"), n=Count("id"))


@metric("repeat_purchase_rate", "percent", "retention")
def repeat_purchase_rate(ctx):
    per_customer = events(ctx, "purchase").values("customer_id").annotate(n=Count("id"))
    return rate(per_customer.filter(n__gte=2).count(), per_customer.count())


@metric("aov", "money", "retention")
def aov(ctx):
    totals = _purchase_totals(ctx)
    return mean(money(totals["revenue"]), totals["n"], "money")


@metric("apf", "per_year", "retention")
def apf(ctx):
    """Purchases per purchasing customer, per year of period."""
    purchases = events(ctx, "purchase")
    n, buyers = purchases.count(), purchases.values("customer_id").distinct().count()
    if not buyers or not ctx.years:
        return MetricValue(None, n, buyers, "per_year")
    return MetricValue(Decimal(n) / buyers / ctx.years, n, buyers, "per_year")


@metric("acl", "years", "retention")
def acl(ctx):
    """1 / annual churn rate (period churn scaled to 365 days), capped by the program."""
    at_start, lost = churn_counts(ctx)
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
    purchases = events(ctx, "purchase").filter(properties__recurring=True)
    totals = purchases.aggregate(revenue=Sum("value"))
    return money(totals["revenue"]) / _months(ctx), purchases.values("customer_id").distinct().count()


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
    return count(events(ctx, "referral_sent").count())


@metric("referral_conversion_rate", "percent", "advocacy")
def referral_conversion_rate(ctx):
    totals = events(ctx, "referral_sent", "referral_converted").aggregate(
        sent=Count("id", filter=Q(type="referral_sent")), converted=Count("id", filter=Q(type="referral_converted"))
    )
    return rate(totals["converted"], totals["sent"])


@metric("advocacy_conversion_rate", "percent", "advocacy")
def advocacy_conversion_rate(ctx):
    referrers = customers(ctx).filter(active_in(ctx, ctx.start, ctx.end, "referral_sent"))
    converted = referrers.filter(active_in(ctx, ctx.start, ctx.end, "referral_converted"))
    return rate(converted.count(), referrers.count())


def _advocacy_revenue(ctx):
    referred = (
        Event.objects.filter(program=ctx.program, type="referral_converted", occurred_at__lt=ctx.end)
        .annotate(referred=KT("properties__referred_customer"))
        .values("referred")
    )
    purchases = events(ctx, "purchase")
    return (
        money(purchases.filter(customer__external_id__in=referred).aggregate(total=Sum("value"))["total"]),
        money(purchases.aggregate(total=Sum("value"))["total"]),
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


def _latest_answer(ctx, kind):
    answers = (
        events(ctx, "survey_answered")
        .filter(customer=OuterRef("pk"), properties__kind=kind)
        .order_by("-occurred_at", "-id")
        .annotate(score=json_float("score"))
        .values("score")[:1]
    )
    return Subquery(answers, output_field=FloatField())


def _count_of(ctx, type_):
    counted = events(ctx, type_).filter(customer=OuterRef("pk")).values("customer").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


@metric("cai", "score", "advocacy")
def cai(ctx):
    """Mean advocacy score of customers who answered an NPS or CSAT survey in the period.
    A missing NPS or CSAT answer drops that part and its weight (the rest is re-weighted)."""
    w = {k: Decimal(str(v)) for k, v in ctx.program.get_cai_weights().items()}
    responders = (
        customers(ctx)
        .filter(active_in(ctx, ctx.start, ctx.end, "survey_answered"))
        .annotate(
            nps=_latest_answer(ctx, "nps"),
            csat=_latest_answer(ctx, "csat"),
            refs=_count_of(ctx, "referral_converted"),
            shares=_count_of(ctx, "social_share"),
        )
        .filter(Q(nps__isnull=False) | Q(csat__isnull=False))
    )
    nps_part = Case(When(nps__isnull=False, then=F("nps") * 10 * float(w["nps"])), default=Value(0.0))
    csat_part = Case(When(csat__isnull=False, then=(F("csat") - 1) / 4 * 100 * float(w["csat"])), default=Value(0.0))
    ref_part = Least(F("refs") * 25 + F("shares") * 5, 100) * float(w["referrals"])
    weight = (
        Case(When(nps__isnull=False, then=Value(float(w["nps"]))), default=Value(0.0))
        + Case(When(csat__isnull=False, then=Value(float(w["csat"]))), default=Value(0.0))
        + float(w["referrals"])
    )
    totals = responders.annotate(advocacy=(nps_part + csat_part + ref_part) / weight).aggregate(
        total=Sum("advocacy", output_field=DecimalField()), n=Count("id")
    )
    return mean(round(Decimal(str(totals["total"] or 0)), 6), totals["n"], "score")
