"""Goals ("NPS ≥ 50 by 31 March"): where a goal stands today. Read-only.

current  = the metric over the trailing GOAL_WINDOW_DAYS ending now;
baseline = the metric over the GOAL_WINDOW_DAYS before the goal was created; when that has
           no data the progress is measured from 0 (`start` says which was used);
progress = (current − start) / (target − start), rounded to a whole per cent and clipped
           to 0..100 % (`raw_percent` keeps the unclipped value: below 0 means worse than
           the baseline);
expected = share of the time from creation to the end of the deadline day that has passed
           (where an even pace would be today: the marker on the dashboard's bar);
status   = achieved (target met), missed (deadline passed), on_track (progress ≥ expected),
           behind, or no_data (metric null now).
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from engagement.metrics import compute_metrics
from engagement.models import Goal
from engagement.retention import EventsNotRetained
from engagement.scoring import local_date, local_day_end

GOAL_WINDOW_DAYS = 30


@dataclass(frozen=True)
class GoalProgress:
    goal: Goal
    current: Decimal | None
    baseline: Decimal | None
    percent: int
    expected_percent: int
    status: str
    start: Decimal = Decimal(0)  # what progress is measured from: the baseline, or 0 without one
    raw_percent: int = 0


def _value(goal, end):
    window = timedelta(days=GOAL_WINDOW_DAYS)
    return compute_metrics(goal.program, [goal.metric], end - window, end)[goal.metric].value


def _met(goal, value):
    if goal.direction == Goal.Direction.AT_LEAST:
        return value >= goal.target
    return value <= goal.target


def _whole_percent(part, whole):
    return int((Decimal(100) * part / whole).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def get_goal_progress(goal, now=None):
    now = now or timezone.now()
    current = _value(goal, now)
    try:
        baseline = _value(goal, goal.created)
    except EventsNotRetained:
        # The goal is older than the events kept (EVENTS_RETENTION_MONTHS): its baseline can
        # no longer be computed, so progress is measured from 0, as without a baseline.
        baseline = None
    baseline = None if baseline is None else Decimal(baseline)
    start = baseline if baseline is not None else Decimal(0)
    deadline_end = local_day_end(goal.program, goal.deadline)
    total = (deadline_end - goal.created).total_seconds()
    expected = 100 if total <= 0 else max(0, min(100, round(100 * (now - goal.created).total_seconds() / total)))
    if current is None:
        return GoalProgress(goal, None, baseline, 0, expected, "no_data", start)
    current = Decimal(current)
    span = goal.target - start
    raw = 0 if span == 0 else _whole_percent(current - start, span)
    if _met(goal, current):
        return GoalProgress(goal, current, baseline, 100, expected, "achieved", start, raw)
    percent = max(0, min(100, raw))
    if local_date(goal.program, now) > goal.deadline:
        status = "missed"
    else:
        status = "on_track" if percent >= expected else "behind"
    return GoalProgress(goal, current, baseline, percent, expected, status, start, raw)


def list_goal_progress(program, now=None):
    return [get_goal_progress(goal, now) for goal in Goal.objects.filter(program=program)]
