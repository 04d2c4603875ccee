"""Admin pages of the purchase models: the model page of a program (parameters, fit statistics,
the backtest chart) and the dashboard's churn-risk/CLV panel. Inline SVG drawn here,
server-side, like the dashboard's charts."""

from decimal import Decimal

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Q, Sum
from django.http import Http404
from django.shortcuts import render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _

from engagement import purchase_models
from engagement.models import CustomerModelValue, PurchaseModelFit
from engagement.tenancy import allowed_programs

CHART_W, CHART_H, PAD = 320, 110, 6  # the dashboard's chart box
BACKTEST_W, BACKTEST_H = 640, 220
AT_RISK = 0.5  # churn risk from which a customer counts as at risk on the dashboard
HIGH_VALUE_ROWS = 10


def backtest_chart(weeks, width=BACKTEST_W, height=BACKTEST_H):
    """Predicted and actual cumulative repeat transactions per holdout week as two SVG
    polylines on one scale (0 to the larger of both), or None without weeks."""
    if not weeks:
        return None
    top = max(max(w["predicted"], w["actual"]) for w in weeks) or 1.0
    step = (width - 2 * PAD) / max(len(weeks) - 1, 1)

    def line(key):
        return " ".join(
            f"{PAD + i * step:.1f},{height - PAD - w[key] / top * (height - 2 * PAD):.1f}" for i, w in enumerate(weeks)
        )

    return {"predicted": line("predicted"), "actual": line("actual"), "top": top, "last_week": weeks[-1]["week"]}


def _bars(counts):
    top = max(counts) or 1
    width = (CHART_W - 2 * PAD) / len(counts)
    return [
        {
            "label": f"{b / 10:.1f}–{(b + 1) / 10:.1f}",
            "count": n,
            "x": PAD + b * width + 1,
            "width": width - 2,
            "height": (CHART_H - 2 * PAD) * n / top,
            "y": CHART_H - PAD - (CHART_H - 2 * PAD) * n / top,
        }
        for b, n in enumerate(counts)
    ]


def model_panel(program):
    """The dashboard's churn-risk and CLV block: None until the program has a usable fit."""
    fit = purchase_models.latest_usable_fit(program)
    if fit is None:
        return None
    values = CustomerModelValue.objects.filter(fit=fit)
    # Ten bands of 0.1 in one pass; 1.0 falls in the last.
    bands = {
        f"b{b}": Count(
            "pk", filter=Q(churn_risk__gte=Decimal(b) / 10) & (Q(churn_risk__lt=Decimal(b + 1) / 10) if b < 9 else Q())
        )
        for b in range(10)
    }
    totals = values.aggregate(clv=Sum("predicted_clv"), customers=Count("pk"), **bands)
    counts = [totals[f"b{b}"] for b in range(10)]
    at_risk = values.filter(churn_risk__gte=AT_RISK, predicted_clv__isnull=False)
    return {
        "fit": fit,
        "distribution": _bars(counts),
        "total_clv": totals["clv"],
        "customers": totals["customers"],
        "at_risk_count": at_risk.count(),
        "high_value_at_risk": list(
            at_risk.select_related("customer").order_by("-predicted_clv", "customer_id")[:HIGH_VALUE_ROWS]
        ),
        "at_risk_threshold": AT_RISK,
    }


@staff_member_required
def model_page(request):
    """/admin/dashboard/models/?program=&as_of=: a program's fits as of a date (default: latest)."""
    programs = allowed_programs(request.user).order_by("name")
    if not programs:
        raise Http404("No program.")
    chosen = request.GET.get("program", "")
    program = (programs.filter(pk=chosen).first() if chosen.isdigit() else None) or programs.first()
    try:
        as_of = parse_date(request.GET.get("as_of") or "")
    except ValueError:
        as_of = None
    fits = purchase_models.get_fits(program, as_of)
    bg = next((f for f in fits if f.kind == PurchaseModelFit.Kind.BGNBD), None)
    context = {
        **admin.site.each_context(request),
        "title": _("Purchase models"),
        "programs": programs,
        "program": program,
        "fits": fits,
        "backtest": bg.backtest if bg else {},
        "chart": backtest_chart(bg.backtest.get("weeks", [])) if bg else None,
        "chart_w": BACKTEST_W,
        "chart_h": BACKTEST_H,
        "history": PurchaseModelFit.objects.filter(program=program, kind=PurchaseModelFit.Kind.BGNBD).order_by(
            "-as_of"
        )[:20],
    }
    return render(request, "engagement/purchase_models.html", context)
