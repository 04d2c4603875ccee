"""The dashboard's figures, computed once and kept for a short while.

One dashboard load needs the metrics over up to 9 chart windows and each goal's progress;
each is one `compute_metrics` call (several queries over the period's events). They are kept
in the Django cache for TTL_SECONDS per program and window (or per program's goal set), so
reloading the page, switching back to a period or a second staff user looking costs no
metric query. Invalidation: by time only — figures may lag new data by at most TTL_SECONDS
(the page says so). A changed goal (target, deadline, metric) has a new key at once.
"""

import hashlib

from django.core.cache import cache

from engagement import goals, metrics
from engagement.models import Goal

TTL_SECONDS = 60


def _key(*parts) -> str:
    # Cache keys must be short and free of spaces: a digest of what identifies the figures.
    return "dashboard:" + hashlib.sha256(repr(parts).encode()).hexdigest()


def get_metrics(program, names, start, end):
    """compute_metrics(program, names, start, end), kept TTL_SECONDS. Read-only."""
    key = _key("metrics", program.pk, tuple(names), start.isoformat(), end.isoformat())
    values = cache.get(key)
    if values is None:
        values = metrics.compute_metrics(program, names, start, end)
        cache.set(key, values, TTL_SECONDS)
    return values


def get_goal_progress(program):
    """goals.list_goal_progress(program), kept TTL_SECONDS for the program's current goals
    (one query lists them; any change to a goal makes a new key). Read-only."""
    rows = list(
        Goal.objects.filter(program=program)
        .order_by("pk")
        .values_list("pk", "name", "metric", "target", "direction", "deadline", "created")
    )
    key = _key("goals", program.pk, tuple(rows))
    progress = cache.get(key)
    if progress is None:
        progress = goals.list_goal_progress(program)
        cache.set(key, progress, TTL_SECONDS)
    return progress
