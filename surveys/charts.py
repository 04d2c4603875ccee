"""Server-side SVG trend chart for the admin report (no JavaScript, no CDN)."""

from django.utils.html import escape

WIDTH, HEIGHT = 720, 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 16, 16, 40


def trend_svg(points, *, y_min, y_max, title):
    """points: [(label, value | None, low | None, high | None)], oldest first. None values
    (too few responses) leave a gap. Returns an <svg> string with a line, dots and, when
    given, the confidence band."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    count = max(len(points), 1)

    def x(i):
        return PAD_LEFT + (plot_w * (i + 0.5) / count)

    def y(v):
        return PAD_TOP + plot_h * (1 - (v - y_min) / (y_max - y_min))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="survey-trend" style="max-width:100%;height:auto;font:11px sans-serif">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in _ticks(y_min, y_max):
        ty = y(tick)
        parts.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" fill="#6b7280">{tick:g}</text>')
    band = [(i, low, high) for i, (_, value, low, high) in enumerate(points) if low is not None and high is not None]
    for run in _runs(band):
        upper = " ".join(f"{x(i):.1f},{y(high):.1f}" for i, _, high in run)
        lower = " ".join(f"{x(i):.1f},{y(low):.1f}" for i, low, _ in reversed(run))
        parts.append(f'<polygon points="{upper} {lower}" fill="#bfdbfe" opacity="0.6"/>')
    line = [(i, value) for i, (_, value, _, _) in enumerate(points) if value is not None]
    for run in _runs(line):
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1d4ed8" stroke-width="2"/>')
    for i, (label, value, _, _) in enumerate(points):
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" text-anchor="middle" fill="#374151">'
            f"{escape(label)}</text>"
        )
        if value is None:
            parts.append(
                f'<text x="{x(i):.1f}" y="{PAD_TOP + plot_h / 2:.1f}" text-anchor="middle" fill="#9ca3af">–</text>'
            )
        else:
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3.5" fill="#1d4ed8"><title>{escape(label)}: '
                f"{value:g}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _ticks(y_min, y_max, steps=4):
    return [y_min + (y_max - y_min) * k / steps for k in range(steps + 1)]


def _runs(items):
    """Split [(index, ...)] into runs of consecutive indexes (gaps break the line)."""
    runs, current = [], []
    for item in items:
        if current and item[0] != current[-1][0] + 1:
            runs.append(current)
            current = []
        current.append(item)
    if current:
        runs.append(current)
    return runs
