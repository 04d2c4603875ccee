"""Demo step of engagement.

Step 10 (`load_scores`): score every customer of the demo program, fit its purchase models
(BG/NBD and Gamma-Gamma, so the model pages, P(alive) and predicted CLV have figures) and add
a few goals.

Idempotent: scores and the fit are computed once, goals are found by name. The demo builds no
metric snapshots: nothing shows them (the dashboard computes each figure for its period).
"""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from engagement import purchase_models, scoring
from engagement.models import CustomerScore, Goal, PurchaseModelFit

GOALS = [
    ("NPS ≥ 50", "nps", Decimal("50"), Goal.Direction.AT_LEAST, 60),
    ("Churn rate ≤ 5 %", "churn_rate", Decimal("5"), Goal.Direction.AT_MOST, 90),
    ("Repeat purchase rate ≥ 75 %", "repeat_purchase_rate", Decimal("75"), Goal.Direction.AT_LEAST, 45),
]


def load_scores(program, progress):
    # Scored and fitted once: a rerun loads nothing (the beat tasks keep a running system current).
    if not CustomerScore.objects.filter(program=program).exists():
        scoring.rescore_program(program)
    if not PurchaseModelFit.objects.filter(program=program).exists():
        purchase_models.fit_models(program)
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
