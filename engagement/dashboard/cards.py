"""KPI cards: each card's value, its chart and its comparison with the previous period come
from one computation (`compute_series`), so they cannot disagree.

For a period of N days the chart plots the metric over the N days ending at each of up to
MAX_INTERVALS + 1 evenly spaced days: its first point is the metric over the previous N days
(the comparison), its last point the metric over the period itself (the card's value).
Every point is computed by engagement.metrics.compute_metrics with METRICS.md's definition;
nothing is read from the daily snapshots (their 30-day window differs from the period's).
"""

import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import format_compact_currency, format_decimal
from django.utils.translation import gettext as _

from engagement import formatting, metrics
from engagement.dashboard import cache as figures
from engagement.dashboard.charts import Chart, line_chart
from engagement.dashboard.period import Period
from engagement.metrics.types import MetricValue

# Active customers first: the figure every other rate is read against.
CARD_METRICS = ["active_customers", *metrics.KPI_METRICS]
# The parts of CLV, written under its card (they share the call's passes, so cost little).
CLV_PARTS = ["aov", "apf", "acl"]
LOWER_IS_BETTER = {"churn_rate", "bounce_rate"}
MAX_INTERVALS = 8  # 9 points at most: each costs one compute_metrics call over the whole window
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Point:
    window: Period
    values: dict[str, MetricValue]


def chart_windows(period: Period) -> list[Period]:
    """The windows of the chart points: the N days ending at each point's day, oldest first.
    The first is the previous period, the last the period itself."""
    step = math.ceil(period.days / MAX_INTERVALS)
    ends = sorted({0, *range(period.days, 0, -step)})
    return [
        Period(
            period.first + timedelta(days=end - period.days),
            period.first + timedelta(days=end - 1),
            period.tz_name,
            None,
        )
        for end in ends
    ]


def compute_series(program, names, period: Period) -> list[Point]:
    """`names` over every chart window of `period` (oldest first), each window's metrics
    computed once and kept a short while (dashboard.cache). Read-only."""
    return [
        Point(window, figures.get_metrics(program, names, window.start, window.end)) for window in chart_windows(period)
    ]


class Formatter:
    """Numbers of one program for the staff user's language: money in the program currency
    with separators, rates with two decimals and a per-cent sign, counts grouped."""

    def __init__(self, program):
        self.currency, self.tz = program.currency, program.timezone

    def number(self, value, places=2):
        return formatting.format_fixed(value, places, tz_name=self.tz)

    def count(self, value):
        return formatting.format_number(int(value), tz_name=self.tz)

    def money(self, value):
        return formatting.format_money(
            Decimal(str(value)).quantize(CENT, ROUND_HALF_UP), self.currency, tz_name=self.tz
        )

    def value(self, unit, value):
        """The one text of a metric value: on the card, on its chart and in its table."""
        if value is None:
            return _("no data")
        if unit in ("count", "points"):
            return self.count(value)
        if unit == "money":
            return self.money(value)
        if unit == "percent":
            return f"{self.number(value)}\u00a0%"
        return self.number(value)

    def tick(self, unit, value):
        """Axis labels: short (RM16K) and without needless decimals (40 %, not 40.00 %)."""
        if unit == "money":
            locale = formatting.babel_locale(tz_name=self.tz)
            return format_compact_currency(value, self.currency, locale=locale, fraction_digits=1)
        text = format_decimal(value, locale=formatting.babel_locale(tz_name=self.tz))
        return f"{text}\u00a0%" if unit == "percent" else text


def unit_words(name, unit, program):
    """What the numbers of a metric are, in words (the chart's y axis and the card)."""
    words = {
        "active_customers": _("customers"),
        "nps": _("score from −100 to 100"),
        "ces": _("mean answer from 1 (hard) to 7 (easy)"),
    }
    if name in words:
        return words[name]
    if unit == "percent":
        return _("per cent")
    if unit == "money":
        return _("%(currency)s per customer") % {"currency": program.currency} if name == "clv" else program.currency
    return unit


def definition(name, program):
    """One sentence per card: what is counted (METRICS.md in words)."""
    texts = {
        "active_customers": _("Customers with at least one event in the period."),
        "nps": _("Per cent of promoters (9–10) minus per cent of detractors (0–6)."),
        "csat": _("Share of CSAT answers scoring 4 or 5."),
        "ces": _("Mean answer to “easy to get my issue handled”."),
        "churn_rate": _(
            "Share of the customers active in the %(days)d days before the start who had no event in the period."
        )
        % {"days": program.churn_lookback_days},
        "retention_rate": _("Customers at the end, minus new ones, as a share of the customers at the start."),
        "repeat_purchase_rate": _("Share of buyers who bought twice or more."),
        "clv": _("Average order value × purchases per year × customer lifespan."),
        "mrr": _("Revenue of recurring purchases per month."),
        "email_open_rate": _("Share of delivered emails that were opened."),
        "email_ctr": _("Share of delivered emails whose links were clicked."),
        "bounce_rate": _("Share of sessions with a single page view."),
        "redemption_rate": _("Points redeemed as a share of points issued."),
        "participation_rate": _("Share of members who earned or redeemed points."),
        "referral_conversion_rate": _("Share of referrals sent that converted."),
    }
    return texts.get(name, "")


def detail(name, value: MetricValue, fmt: Formatter, parts: dict[str, MetricValue], period: Period):
    """The card's second line: the counts behind the value, in words ("2 lost of 500
    customers at the start"), or "" where there is nothing to add."""
    if value.value is None and not value.denominator:
        return ""
    num, den = value.numerator or 0, value.denominator or 0
    n, d = fmt.count(num), fmt.count(den)
    if name == "nps":
        if num < 0:
            return _("%(n)s answers: %(net)s more detractors than promoters") % {"n": d, "net": fmt.count(-num)}
        return _("%(n)s answers: %(net)s more promoters than detractors") % {"n": d, "net": n}
    if name == "ces":
        return _("mean of %(n)s answers") % {"n": d}
    if name == "clv":
        if any(parts[p].value is None for p in CLV_PARTS):
            return ""
        return _("%(aov)s per order × %(apf)s orders a year × %(acl)s years") % {
            "aov": fmt.money(parts["aov"].value),
            "apf": fmt.number(parts["apf"].value),
            "acl": fmt.number(parts["acl"].value),
        }
    if name == "mrr":
        return _("%(revenue)s of recurring purchases in %(days)s days") % {
            "revenue": fmt.money(num),
            "days": fmt.count(period.days),
        }
    texts = {
        "csat": _("%(n)s satisfied of %(d)s answers"),
        "churn_rate": _("%(n)s lost of %(d)s customers at the start"),
        "retention_rate": _("%(n)s retained of %(d)s customers at the start"),
        "repeat_purchase_rate": _("%(n)s repeat buyers of %(d)s buyers"),
        "email_open_rate": _("%(n)s opened of %(d)s delivered"),
        "email_ctr": _("%(n)s clicked of %(d)s delivered"),
        "bounce_rate": _("%(n)s single-page sessions of %(d)s"),
        "redemption_rate": _("%(n)s points redeemed of %(d)s issued"),
        "participation_rate": _("%(n)s of %(d)s members earned or redeemed"),
        "referral_conversion_rate": _("%(n)s converted of %(d)s referrals sent"),
    }
    return texts[name] % {"n": n, "d": d} if name in texts else ""


def _rounded(value):
    return None if value is None else Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def comparison(name, unit, current, previous, fmt: Formatter):
    """The change from the previous period: {"direction": up|down|same|none, "text", "verdict"}.
    Values are compared as shown (two decimals), so "no change" never sits between two
    different figures. Rates change by percentage points, amounts also by a relative share."""
    now, before = _rounded(current), _rounded(previous)
    if now is None or before is None:
        return {"direction": "none", "text": _("no data to compare"), "verdict": ""}
    if now == before:
        return {"direction": "same", "text": _("no change"), "verdict": ""}
    diff = abs(now - before)
    if unit == "percent":
        amount = _("%(n)s percentage points") % {"n": fmt.number(diff)}
    elif unit == "score":
        amount = _("%(n)s points") % {"n": fmt.number(diff)}
    else:
        amount = fmt.money(diff) if unit == "money" else fmt.value(unit, diff)
        if before:
            amount += f" ({fmt.number(100 * diff / abs(before), 1)}\u00a0%)"
    up = now > before
    better = up != (name in LOWER_IS_BETTER)
    return {
        "direction": "up" if up else "down",
        "text": (_("up %(amount)s") if up else _("down %(amount)s")) % {"amount": amount},
        "verdict": _("better") if better else _("worse"),
    }


def build_cards(program, period: Period, series: list[Point], fmt: Formatter) -> list[dict]:
    """One dict per card of CARD_METRICS from the points of compute_series."""
    current, previous = series[-1].values, series[0].values
    cards = []
    for name in CARD_METRICS:
        value = current[name]
        unit = value.unit or metrics.metric_unit(name)
        cards.append(
            {
                "name": name,
                "label": metric_label(name),
                "definition": definition(name, program),
                "unit_words": unit_words(name, unit, program),
                "value": fmt.value(unit, value.value),
                "has_value": value.value is not None,
                "detail": detail(name, value, fmt, current, period),
                "previous": fmt.value(unit, previous[name].value),
                "change": comparison(name, unit, value.value, previous[name].value, fmt),
                "chart": metric_chart(name, unit, series, fmt, program),
            }
        )
    return cards


def metric_chart(name, unit, series: list[Point], fmt: Formatter, program) -> Chart | None:
    days = series[-1].window.days
    points = []
    for point in series:
        value = point.values[name].value
        label = formatting.format_date(point.window.last, tz_name=fmt.tz)
        points.append((label, None if value is None else float(value), fmt.value(unit, value)))
    label = metric_label(name)
    return line_chart(
        points,
        lambda tick: fmt.tick(unit, tick),
        title=_("%(metric)s over the %(days)d days ending on each day shown") % {"metric": label, "days": days},
        description=_("From %(first)s (previous period) to %(last)s (this period); y axis: %(unit)s.")
        % {"first": points[0][2], "last": points[-1][2], "unit": unit_words(name, unit, program)},
        headers=(_("%(days)d days ending") % {"days": days}, label),
        integer=unit in ("count", "points"),
    )


ACRONYMS = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "clv": "CLV", "mrr": "MRR", "ctr": "CTR"}


def metric_label(name):
    """The card's title, translatable: 'email_ctr' -> 'Email CTR'."""
    labels = {
        "active_customers": _("Active customers"),
        "aov": _("Average order value"),
        "page_views": _("Page views"),
        "nps": _("NPS"),
        "csat": _("CSAT"),
        "ces": _("CES"),
        "churn_rate": _("Churn rate"),
        "retention_rate": _("Retention rate"),
        "repeat_purchase_rate": _("Repeat purchase rate"),
        "clv": _("Customer lifetime value"),
        "mrr": _("Monthly recurring revenue"),
        "email_open_rate": _("Email open rate"),
        "email_ctr": _("Email click-through rate"),
        "bounce_rate": _("Bounce rate"),
        "redemption_rate": _("Redemption rate"),
        "participation_rate": _("Participation rate"),
        "referral_conversion_rate": _("Referral conversion rate"),
    }
    if name in labels:
        return labels[name]
    words = [ACRONYMS.get(word, word) for word in name.split("_")]
    text = " ".join(words)
    return text[0].upper() + text[1:]
