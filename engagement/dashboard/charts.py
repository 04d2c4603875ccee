"""Server-rendered SVG charts for the dashboard: a line chart of a metric over time and a
histogram of counts. No JavaScript, no CDN: the view builds the geometry here and the
template engagement/dashboard_chart.html draws it (escaped like any other template).

Every chart has a y axis with gridlines and labelled ticks, and the axis always includes
zero: a change from 996 to 998 customers stays a small change on the page instead of
filling the chart's height. Values are passed already formatted (the caller knows the unit
and the currency), so the chart, its data table and the card around it print the same text.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH, HEIGHT = 320, 170
TOP, BOTTOM, RIGHT = 18, 30, 12
CHAR_WIDTH = 6.2  # average width of an 11-unit sans-serif character, to fit the tick labels
TICKS = 4  # about this many intervals on the y axis


@dataclass(frozen=True)
class Axis:
    low: float
    high: float
    ticks: list[float]


def nice_step(span: float, intervals: int = TICKS, integer: bool = False) -> float:
    """A round step (1, 2, 2.5 or 5 × 10^k) that cuts `span` into about `intervals` parts;
    at least 1 for `integer` quantities (no tick at 0.25 customers)."""
    raw = span / intervals
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude * (1 + 1e-9))
    if integer:
        step = max(1.0, math.ceil(step))
    return step


def value_axis(values: Sequence[float], integer: bool = False) -> Axis:
    """An axis from round numbers below and above `values` that always includes zero."""
    low, high = min([0.0, *values]), max([0.0, *values])
    if low == high:
        high = 1.0
    step = nice_step(high - low, integer=integer)
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    ticks = [round(i * step, 10) for i in range(first, last + 1)]
    return Axis(ticks[0], ticks[-1], ticks)


@dataclass
class Chart:
    """Geometry for engagement/dashboard_chart.html. `rows` is the data table that carries
    the same information for screen readers and for anyone who wants the exact figures."""

    kind: str  # "line" or "bars"
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    left: float = 0
    gridlines: list[dict] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    dots: list[dict] = field(default_factory=list)
    bars: list[dict] = field(default_factory=list)
    x_labels: list[dict] = field(default_factory=list)
    rows: list[tuple[str, str]] = field(default_factory=list)
    headers: tuple[str, str] = ("", "")

    @property
    def baseline_y(self) -> float:
        return self.height - BOTTOM

    @property
    def tick_x(self) -> float:
        return round(self.left - 4, 1)

    @property
    def right(self) -> float:
        return self.width - RIGHT


def _frame(chart: Chart, axis: Axis, fmt: Callable[[float], str]) -> Callable[[float], float]:
    """Lay out the y axis on `chart` (left margin from the longest label, gridlines) and
    return value -> y."""
    labels = [fmt(tick) for tick in axis.ticks]
    chart.left = round(8 + CHAR_WIDTH * max(len(label) for label in labels), 1)
    plot = chart.height - TOP - BOTTOM

    def y(value: float) -> float:
        return round(TOP + plot * (axis.high - value) / (axis.high - axis.low), 1)

    chart.gridlines = [{"y": y(t), "label": label, "zero": t == 0} for t, label in zip(axis.ticks, labels, strict=True)]
    return y


def line_chart(
    points: Sequence[tuple[str, float | None, str]],
    fmt: Callable[[float], str],
    *,
    title: str,
    description: str,
    headers: tuple[str, str],
    integer: bool = False,
) -> Chart | None:
    """points: (x label, value or None, value as text). A None value breaks the line (no
    data that day) and is listed in the table as "no data". None when no point has data."""
    known = [value for _, value, _ in points if value is not None]
    if not known:
        return None
    chart = Chart("line", title, description, headers=headers)
    chart.rows = [(label, text) for label, _, text in points]
    y = _frame(chart, value_axis(known, integer), fmt)
    step = (chart.right - chart.left) / max(len(points) - 1, 1)
    xs = [round(chart.left + i * step, 1) for i in range(len(points))]
    segment: list[str] = []
    for x, (label, value, text) in zip(xs, points, strict=True):
        if value is None:
            if segment:
                chart.lines.append(" ".join(segment))
            segment = []
            continue
        segment.append(f"{x},{y(value)}")
        # The first and last values are written next to their dots: the two the card compares.
        anchor = "start" if x == xs[0] else "end" if x == xs[-1] else None
        chart.dots.append({"x": x, "y": y(value), "title": f"{label}: {text}", "text": text, "anchor": anchor})
    if segment:
        chart.lines.append(" ".join(segment))
    middle = len(points) // 2
    chart.x_labels = [
        {"x": xs[i], "text": points[i][0], "anchor": anchor}
        for i, anchor in ((0, "start"), (middle, "middle"), (len(points) - 1, "end"))
        if len(points) > 2 or anchor != "middle"
    ]
    return chart


def bar_chart(
    bars: Sequence[tuple[str, int]],
    edges: Sequence[str],
    fmt: Callable[[float], str],
    *,
    title: str,
    description: str,
    headers: tuple[str, str],
) -> Chart:
    """A histogram: bars (band label for the table, count) between `edges` (len(bars) + 1
    labels printed under the bar boundaries). Each count is written above its bar."""
    chart = Chart("bars", title, description, headers=headers)
    chart.rows = [(label, fmt(count)) for label, count in bars]
    y = _frame(chart, value_axis([count for _, count in bars], integer=True), fmt)
    width = (chart.right - chart.left) / len(bars)
    for i, (label, count) in enumerate(bars):
        top = y(count)
        chart.bars.append(
            {
                "x": round(chart.left + i * width + 1, 1),
                "y": top,
                "width": round(width - 2, 1),
                "height": round(chart.baseline_y - top, 1),
                "middle": round(chart.left + (i + 0.5) * width, 1),
                "text": fmt(count),
                "title": f"{label}: {fmt(count)}",
            }
        )
    chart.x_labels = [
        {"x": round(chart.left + i * width, 1), "text": text, "anchor": "middle"} for i, text in enumerate(edges)
    ]
    return chart
