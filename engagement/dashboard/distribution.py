"""The distribution of the raw engagement score and the RFM segment table.

The engagement score customers see is a percentile rank (METRICS.md section 9), so its
histogram is flat by construction: ten equal bars say nothing. The raw score (the decayed,
weighted sum of events that the rank is taken of) is what differs between programs and
over time, so that is what the dashboard bins: round-width bands up to about the 95th
percentile, and one last band for everything above it (a few very active customers would
otherwise squeeze everyone else into the first bar).
"""

import math

from django.db import connection
from django.db.models import Avg, Count, Max, Sum
from django.utils.translation import gettext as _

from engagement.dashboard.charts import bar_chart
from engagement.models import CustomerScore, Segment

BANDS = 8  # at least this many bands of equal width below the 95th percentile
SCORES = CustomerScore._meta.db_table


def band_width(reach: float) -> float:
    """The largest round width (1, 2, 2.5 or 5 × 10^k) that cuts `reach` into at least
    BANDS bands: 45 -> 5 (9 bands), not 10 (5 bands)."""
    raw = reach / BANDS
    magnitude = 10 ** math.floor(math.log10(raw))
    return max(m * magnitude for m in (1, 2, 2.5, 5) if m * magnitude <= raw * (1 + 1e-9))


def raw_score_bands(program):
    """(step, bands as [(low, high or None, count)], scored_at of the newest score) for the
    program's customer scores, or None without scores. The last band is open-ended when
    customers score past the round bands."""
    scores = CustomerScore.objects.filter(program=program)
    summary = scores.aggregate(top=Max("raw_score"), n=Count("pk"), as_of=Max("scored_at"))
    if not summary["n"]:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY raw_score) FROM {SCORES} WHERE program_id = %s",
            [program.pk],
        )
        p95 = cursor.fetchone()[0] or 0.0
    reach = p95 or summary["top"] or 1.0
    step = band_width(reach)
    count = max(1, math.ceil(reach / step))
    with connection.cursor() as cursor:
        # Band i holds [i·step, (i+1)·step); the last one also everything above.
        cursor.execute(
            f"SELECT LEAST(FLOOR(raw_score / %s)::int, %s) AS band, COUNT(*) FROM {SCORES}"
            " WHERE program_id = %s GROUP BY band",
            [step, count - 1, program.pk],
        )
        counts = dict(cursor.fetchall())
    open_ended = summary["top"] >= count * step
    bands = [
        (i * step, None if open_ended and i == count - 1 else (i + 1) * step, counts.get(i, 0)) for i in range(count)
    ]
    return step, bands, summary["as_of"], summary["top"]


def raw_score_chart(program, fmt):
    found = raw_score_bands(program)
    if found is None:
        return None
    _step, bands, as_of, top = found

    def number(x):
        return fmt.number(x, 0 if float(x).is_integer() else 1)

    rows = [
        (
            _("%(low)s to under %(high)s") % {"low": number(low), "high": number(high)}
            if high is not None
            else _("%(low)s or more (highest %(top)s)") % {"low": number(low), "top": fmt.number(top, 1)},
            n,
        )
        for low, high, n in bands
    ]
    edges = [number(low) for low, _high, _n in bands] + [number(bands[-1][1]) if bands[-1][1] else "+"]
    chart = bar_chart(
        rows,
        edges,
        fmt.count,
        title=_("Customers by raw engagement score"),
        description=_("Number of customers in each band of raw engagement score, as of %(date)s.")
        % {"date": as_of.date().isoformat()},
        headers=(_("Raw engagement score"), _("Customers")),
    )
    return {"chart": chart, "as_of": as_of}


def segment_table(program, fmt):
    rows = {
        row["segment"]: row
        for row in CustomerScore.objects.filter(program=program)
        .values("segment")
        .annotate(customers=Count("pk"), revenue=Sum("monetary"), score=Avg("engagement_score"))
    }
    total = sum(row["customers"] for row in rows.values())
    table = []
    for segment in Segment:
        row = rows.get(segment.value, {})
        customers = row.get("customers", 0)
        table.append(
            {
                "segment": segment.label,
                "customers": fmt.count(customers),
                "share": f"{fmt.number(100 * customers / total, 1)}\u00a0%" if total else "—",
                "revenue": fmt.money(row.get("revenue") or 0),
                "score": fmt.number(row["score"], 1) if row.get("score") is not None else "—",
            }
        )
    return table
