"""Goal rows of the dashboard: the progress bar runs from the goal's baseline to its target,
and the text says so, and says what the marker on the bar is (where an even pace from the
goal's creation to its deadline would be today)."""

from django.utils.translation import gettext as _

from engagement import formatting, metrics
from engagement.dashboard.cards import Formatter, metric_label
from engagement.goals import GOAL_WINDOW_DAYS, GoalProgress
from engagement.models import Goal


def status_label(status):
    return {
        "on_track": _("on track"),
        "behind": _("behind"),
        "achieved": _("achieved"),
        "missed": _("missed"),
        "no_data": _("no data"),
    }[status]


def progress_text(progress: GoalProgress, fmt: Formatter):
    """ "38.73 of 75.00: 52 % of the way from the 0.00 baseline." (at least), or for an at-most
    goal "6.00, aiming for at most 5.00: 67 % of the way from the 8.00 baseline."."""
    goal = progress.goal
    unit = metrics.metric_unit(goal.metric)
    values = {
        "current": fmt.value(unit, progress.current),
        "target": fmt.value(unit, goal.target),
        "baseline": fmt.value(unit, progress.start),
        "percent": progress.percent,
    }
    if progress.current is None:
        return _("No data over the last %(days)d days yet.") % {"days": GOAL_WINDOW_DAYS}
    if progress.status == "achieved":
        return _("%(current)s against a target of %(target)s: target met.") % values
    if goal.direction == Goal.Direction.AT_LEAST:
        text = _("%(current)s of %(target)s: %(percent)s %% of the way from the %(baseline)s baseline.") % values
    else:
        text = (
            _("%(current)s, aiming for at most %(target)s: %(percent)s %% of the way from the %(baseline)s baseline.")
            % values
        )
    if progress.baseline is None:
        text += " " + _("(No data before the goal was set, so progress counts from 0.)")
    elif progress.raw_percent < 0:
        text += " " + _("(Worse than the baseline.)")
    return text


def goal_rows(progress_list, fmt: Formatter):
    rows = []
    for progress in progress_list:
        goal = progress.goal
        rows.append(
            {
                "goal": goal,
                "metric": metric_label(goal.metric),
                "deadline": formatting.format_date(goal.deadline, tz_name=fmt.tz),
                "created": formatting.format_date(goal.created, tz_name=fmt.tz),
                "percent": progress.percent,
                "expected": progress.expected_percent,
                "status": progress.status,
                "status_label": status_label(progress.status),
                "text": progress_text(progress, fmt),
                "marker": _(
                    "Marker: %(expected)s %% is where an even pace from %(created)s to the deadline would be today."
                )
                % {
                    "expected": progress.expected_percent,
                    "created": formatting.format_date(goal.created, tz_name=fmt.tz),
                },
            }
        )
    return rows
