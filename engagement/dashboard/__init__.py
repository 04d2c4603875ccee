"""The program dashboard in the admin: period (period.py), KPI cards and their series
(cards.py), SVG charts (charts.py), score distribution and segments (distribution.py),
goal rows (goal_rows.py) and the view (views.py)."""

from engagement.dashboard.views import dashboard

__all__ = ["dashboard"]
