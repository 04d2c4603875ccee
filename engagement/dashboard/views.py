"""The admin dashboard of a program (/admin/dashboard/): the period, KPI cards each with its
chart and its comparison with the previous period, goals, the raw engagement score
distribution, RFM segments and the purchase-model panel. Charts are inline SVG drawn on
the server: no JavaScript library, no CDN."""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _

from engagement import formatting, goals, model_pages
from engagement.dashboard import cache as figures
from engagement.dashboard import cards, distribution, period
from engagement.dashboard.charts import bar_chart
from engagement.dashboard.goal_rows import goal_rows
from engagement.retention import EventsNotRetained
from engagement.tenancy import allowed_programs


def _program(request):
    programs = allowed_programs(request.user).order_by("name")
    if not programs:
        raise Http404("No program.")
    chosen = request.GET.get("program", "")
    return programs, (programs.filter(pk=chosen).first() if chosen.isdigit() else None) or programs.first()


def period_heading(chosen: period.Period):
    """ "Last 30 days: 5 Nov 2026 – 4 Dec 2026" or "4 Jun 2026 – 30 Nov 2026 (180 days)"."""
    first, last = (formatting.format_date(day, tz_name=chosen.tz_name) for day in (chosen.first, chosen.last))
    if chosen.preset:
        return _("Last %(days)s: %(first)s – %(last)s") % {
            "days": period.preset_label(chosen.preset),
            "first": first,
            "last": last,
        }
    return _("%(first)s – %(last)s (%(days)s)") % {
        "first": first,
        "last": last,
        "days": period.preset_label(chosen.days),
    }


def churn_risk_chart(panel, fmt):
    """The purchase-model panel's churn-risk bands as a histogram with a y axis."""
    counts = [band["count"] for band in panel["distribution"]]
    rows = [(band["label"], count) for band, count in zip(panel["distribution"], counts, strict=True)]
    return bar_chart(
        rows,
        [fmt.number(b / 10, 1) for b in range(len(counts) + 1)],
        fmt.count,
        title=_("Customers by churn risk"),
        description=_("Number of customers in each band of 0.1 of churn risk (0 = sure to buy again, 1 = lost)."),
        headers=(_("Churn risk"), _("Customers")),
    )


def at_risk_rows(panel, fmt):
    return [
        {
            "customer_id": v.customer_id,
            "customer": v.customer,
            "clv": fmt.money(v.predicted_clv),
            "churn_risk": fmt.number(v.churn_risk, 3),
            "p_alive": fmt.number(v.p_alive, 3) if v.p_alive is not None else "—",
            "revenue": fmt.money(v.customer.revenue),
        }
        for v in panel["high_value_at_risk"]
    ]


@staff_member_required
def dashboard(request):
    programs, program = _program(request)
    chosen, errors = period.parse_period(program, request.GET)
    fmt = cards.Formatter(program)
    try:
        series = cards.compute_series(program, cards.CARD_METRICS + cards.CLV_PARTS, chosen)
    except EventsNotRetained as exc:
        # The period, the previous one or the churn lookback reach before the events kept
        # (EVENTS_RETENTION_MONTHS, with a long churn lookback): said like an invalid choice.
        chosen, errors = period.last_days(program, period.DEFAULT_DAYS), [exc.message]
        series = cards.compute_series(program, cards.CARD_METRICS + cards.CLV_PARTS, chosen)
    panel = model_pages.model_panel(program)
    context = {
        **admin.site.each_context(request),
        "title": _("Engagement dashboard"),
        "programs": programs,
        "program": program,
        "presets": [(days, period.preset_label(days)) for days in period.PRESETS],
        "period": chosen,
        "previous": chosen.previous(),
        "heading": period_heading(chosen),
        "previous_heading": period_heading(chosen.previous()),
        "errors": errors,
        # What the staff user typed stays in the range form, so a mistake can be corrected.
        "typed_start": request.GET.get("start", "") if errors else (chosen.first if not chosen.preset else ""),
        "typed_end": request.GET.get("end", "") if errors else (chosen.last if not chosen.preset else ""),
        "cards": cards.build_cards(program, chosen, series, fmt),
        "goals": goal_rows(figures.get_goal_progress(program), fmt),
        "figures_max_age": figures.TTL_SECONDS,
        "goal_window_days": goals.GOAL_WINDOW_DAYS,
        "distribution": distribution.raw_score_chart(program, fmt),
        "segments": distribution.segment_table(program, fmt),
        # Churn risk and CLV from the purchase models: its own block (model_pages).
        "model_panel": panel,
        "churn_risk_chart": churn_risk_chart(panel, fmt) if panel else None,
        "total_clv": fmt.money(panel["total_clv"] or 0) if panel else "",
        "at_risk_rows": at_risk_rows(panel, fmt) if panel else [],
    }
    return render(request, "engagement/dashboard.html", context)
