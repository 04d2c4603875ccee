"""Demo steps of engagement.

Step 10 (`load_scores`): score every customer of the demo program and add a few goals.
Step 60 (`load_metric_snapshots`): DAYS of daily metric snapshots (the dashboard's trend
charts). It runs last, after surveys (30) and campaigns (50) have added their answers and
events: built at step 10, the NPS and CSAT trends were empty.

Both are idempotent: scores and each day's snapshots are computed once, goals are found by
name.
"""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from engagement import metrics, scoring
from engagement.dashboard import TREND_METRICS
from engagement.models import CustomerScore, Goal, MetricSnapshot

DAYS = 180
# The trend charts' metrics only (NPS and CSAT among them): the whole demo must load quickly
# (the nightly beat task snapshots all of metrics.SNAPSHOT_METRICS).
DEMO_SNAPSHOT_METRICS = TREND_METRICS
GOALS = [
    ("NPS ≥ 50", "nps", Decimal("50"), Goal.Direction.AT_LEAST, 60),
    ("Churn rate ≤ 5 %", "churn_rate", Decimal("5"), Goal.Direction.AT_MOST, 90),
    ("Repeat purchase rate ≥ 75 %", "repeat_purchase_rate", Decimal("75"), Goal.Direction.AT_LEAST, 45),
]


def load_scores(program, progress):
    # Scored once: a rerun loads nothing (the nightly task re-scores a running system).
    if not CustomerScore.objects.filter(program=program).exists():
        scoring.rescore_program(program)
    today = scoring.local_date(program, timezone.now())
    now = timezone.now()
    for name, metric, target, direction, days_left in GOALS:
        Goal.objects.get_or_create(
            program=program,
            name=name,
            defaults={
                "metric": metric,
                "target": target,
                "direction": direction,
                "deadline": today + timedelta(days=days_left),
                "created": now - timedelta(days=30),
            },
        )


def load_metric_snapshots(program, progress):
    today = scoring.local_date(program, timezone.now())
    days = [today - timedelta(days=n) for n in range(DAYS, 0, -1)]
    # Days already snapshotted (a rerun) are left as they are.
    done = set(MetricSnapshot.objects.filter(program=program, date__in=days).values_list("date", flat=True))
    days = [day for day in days if day not in done]
    with progress(total=len(days), desc="metric snapshots", unit="day") as bar:
        for day in days:
            metrics.snapshot_metrics(program, day, names=DEMO_SNAPSHOT_METRICS)
            bar.update(1)
