"""The admin dashboard of a program: KPI cards, trend charts over the daily metric snapshots,
the engagement score distribution, the RFM segment table and goals. Charts are inline SVG
drawn here, server-side: no JavaScript library, no CDN."""

import zoneinfo
from datetime import datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Avg, Count, IntegerField, Sum
from django.db.models.functions import Cast, Floor
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _

from engagement import goals, metrics, model_pages
from engagement.models import CustomerScore, MetricSnapshot, Segment
from engagement.tenancy import allowed_programs

PERIODS = [(7, _("7 days")), (30, _("30 days")), (90, _("90 days")), (180, _("180 days")), (365, _("1 year"))]
TREND_METRICS = ["nps", "csat", "churn_rate", "repeat_purchase_rate", "email_open_rate", "active_customers"]
CHART_W, CHART_H, PAD = 320, 110, 6


def _period(request, program):
    """(start, end, days) from ?start=&end= (dates, program time zone) or ?days= (default 30)."""
    tz = zoneinfo.ZoneInfo(program.timezone)
    start_day = parse_date(request.GET.get("start") or "") if request.GET.get("start") else None
    end_day = parse_date(request.GET.get("end") or "") if request.GET.get("end") else None
    if start_day and end_day and start_day <= end_day:
        start = datetime.combine(start_day, time.min, tzinfo=tz)
        end = datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=tz)
        return start, end, None
    days = int(request.GET.get("days", 30)) if request.GET.get("days", "30").isdigit() else 30
    days = days if days in dict(PERIODS) else 30
    end = timezone.now()
    return end - timedelta(days=days), end, days


def line_chart(points):
    """[(date, value)] -> SVG polyline coordinates, scaled to the chart box; None values skipped."""
    values = [(d, float(v)) for d, v in points if v is not None]
    if len(values) < 2:
        return None
    low, high = min(v for _, v in values), max(v for _, v in values)
    span = (high - low) or 1.0
    step = (CHART_W - 2 * PAD) / (len(values) - 1)
    coords = [
        (PAD + i * step, CHART_H - PAD - (v - low) / span * (CHART_H - 2 * PAD)) for i, (_, v) in enumerate(values)
    ]
    return {
        "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in coords),
        "low": low,
        "high": high,
        "first": values[0][0],
        "last": values[-1][0],
        "latest": values[-1][1],
        "end_x": coords[-1][0],
        "end_y": coords[-1][1],
    }


def trend_charts(program, start, end):
    rows = (
        MetricSnapshot.objects.filter(
            program=program, name__in=TREND_METRICS, date__gte=start.date(), date__lte=end.date()
        )
        .order_by("date")
        .values_list("name", "date", "value")
    )
    series = {name: [] for name in TREND_METRICS}
    for name, day, value in rows:
        series[name].append((day, value))
    return [
        {
            "name": name,
            "label": metric_label(name),
            "unit": metrics.metric_unit(name),
            "chart": line_chart(series[name]),
        }
        for name in series
    ]


def score_distribution(program):
    """Customers per band of 10 points of engagement score, as SVG bars."""
    counts = dict(
        CustomerScore.objects.filter(program=program)
        .annotate(band=Cast(Floor("engagement_score") / 10, IntegerField()))
        .values_list("band")
        .annotate(n=Count("pk"))
        .values_list("band", "n")
    )
    bands = [counts.get(b, 0) + (counts.get(10, 0) if b == 9 else 0) for b in range(10)]
    top = max(bands) or 1
    width = (CHART_W - 2 * PAD) / 10
    return [
        {
            "label": f"{b * 10}–{b * 10 + 10}",
            "count": n,
            "x": PAD + b * width + 1,
            "width": width - 2,
            "height": (CHART_H - 2 * PAD) * n / top,
            "y": CHART_H - PAD - (CHART_H - 2 * PAD) * n / top,
        }
        for b, n in enumerate(bands)
    ]


def segment_table(program):
    rows = {
        row["segment"]: row
        for row in CustomerScore.objects.filter(program=program)
        .values("segment")
        .annotate(customers=Count("pk"), revenue=Sum("monetary"), score=Avg("engagement_score"))
    }
    total = sum(row["customers"] for row in rows.values()) or 1
    return [
        {
            "segment": seg.label,
            "customers": rows.get(seg.value, {}).get("customers", 0),
            "share": 100 * rows.get(seg.value, {}).get("customers", 0) / total,
            "revenue": rows.get(seg.value, {}).get("revenue") or 0,
            "score": rows.get(seg.value, {}).get("score"),
        }
        for seg in Segment
    ]


ACRONYMS = {
    "nps": "NPS",
    "csat": "CSAT",
    "ces": "CES",
    "clv": "CLV",
    "mrr": "MRR",
    "ctr": "CTR",
    "aov": "AOV",
    "apf": "APF",
    "acl": "ACL",
    "arpc": "ARPC",
    "cai": "CAI",
}


def metric_label(name):
    """'email_ctr' -> 'Email CTR', 'churn_rate' -> 'Churn rate'."""
    words = [ACRONYMS.get(word, word) for word in name.split("_")]
    text = " ".join(words)
    return text[0].upper() + text[1:]


@staff_member_required
def dashboard(request):
    programs = allowed_programs(request.user).order_by("name")
    if not programs:
        raise Http404("No program.")
    program = (
        programs.filter(pk=request.GET.get("program")).first() if request.GET.get("program", "").isdigit() else None
    )
    program = program or programs.first()
    start, end, days = _period(request, program)
    values = metrics.compute_metrics(program, metrics.KPI_METRICS, start, end)
    kpis = [
        {
            "name": name,
            "label": metric_label(name),
            **metrics.format_metric(name, value),
            "section": metrics.metric_section(name),
        }
        for name, value in values.items()
    ]
    context = {
        **admin.site.each_context(request),
        "title": _("Engagement dashboard"),
        "programs": programs,
        "program": program,
        "periods": PERIODS,
        "days": days,
        "start": start,
        "end": end,
        "kpis": kpis,
        "trends": trend_charts(program, start, end),
        "distribution": score_distribution(program),
        "segments": segment_table(program),
        "goals": goals.list_goal_progress(program),
        "chart_w": CHART_W,
        "chart_h": CHART_H,
        # Churn risk and CLV from the purchase models: its own block (model_pages).
        "model_panel": model_pages.model_panel(program),
    }
    return render(request, "engagement/dashboard.html", context)
