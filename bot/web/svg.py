"""Server-side SVG for the dashboard: the trend with its interval band, and bars.

Drawn here rather than by a JavaScript chart library so the page needs no script from
anywhere to show numbers, works in every Telegram client's web view, and stays a few
kilobytes; colours are CSS variables, so the charts follow Telegram's light or dark theme.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from bot.digest.model import ScoreKind, TrendPoint
from bot.digest.render import format_number, score_digits
from surveys.scoring import Estimate

# Narrow on purpose: scaled down to a 360 px phone, its 12 px labels stay readable.
WIDTH = 420
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 36, 10, 12, 26


def value_range(kind: ScoreKind, scale: tuple[int, int] | None) -> tuple[float, float]:
    """The y axis: NPS −100..100, percents 0..100, a mean its question's scale."""
    if kind is ScoreKind.NPS:
        return -100.0, 100.0
    if kind is ScoreKind.PERCENT or scale is None:
        return 0.0, 100.0
    return float(scale[0]), float(scale[1])


def trend_svg(
    points: Sequence[TrendPoint],
    kind: ScoreKind,
    scale: tuple[int, int] | None,
    lang: str,
    title: str,
) -> Markup:
    """The trend as an inline <svg>: a line through the shown periods, the confidence
    band around it, gaps where a period has no (showable) number."""
    low, high = value_range(kind, scale)
    digits = score_digits(kind)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(1, len(points) - 1)

    def x(i: int) -> float:
        return LEFT + inner_w * i / count

    def y(v: float) -> float:
        return TOP + inner_h * (1 - (min(max(v, low), high) - low) / (high - low))

    parts = [
        f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'preserveAspectRatio="xMidYMid meet" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in _ticks(low, high):
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{escape(format_number(tick, 0 if tick.is_integer() else 1, lang))}</text>"
        )
    step = max(1, -(-len(points) // 5))
    for i, point in enumerate(points):
        if (len(points) - 1 - i) % step == 0:
            label = f"W{point.period.end.isocalendar()[1]:02d}"
            anchor = "end" if i == len(points) - 1 else "middle"  # the last one fits in
            parts.append(
                f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
                f"{label}</text>"
            )
    for run in _runs(points):
        band = [(x(i), y(e.high)) for i, e in run if e.has_interval] + [
            (x(i), y(e.low)) for i, e in reversed(run) if e.has_interval
        ]
        if len(band) >= 4:
            coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in band)
            parts.append(f'<polygon class="band" points="{coords}"/>')
        if len(run) >= 2:
            coords = " ".join(f"{x(i):.1f},{y(e.value):.1f}" for i, e in run)
            parts.append(f'<polyline class="line" points="{coords}"/>')
    for i, point in enumerate(points):
        e = point.estimate
        if e is None:
            continue
        value = format_number(e.value, digits, lang)
        interval = (
            f" ({format_number(e.low, digits, lang)}–{format_number(e.high, digits, lang)})"
            if e.has_interval
            else ""
        )
        tip = f"{point.period.key}: {value}{interval}, n={e.n}"
        parts.append(
            f'<circle class="dot" cx="{x(i):.1f}" cy="{y(e.value):.1f}" r="3.5" '
            f'data-week="{escape(point.period.key)}" data-value="{escape(value)}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _ticks(low: float, high: float) -> list[float]:
    step = (50.0 if high - low > 100 else 25.0) if high - low > 20 else 1.0
    ticks, v = [], low
    while v <= high + 1e-9:
        ticks.append(v)
        v += step
    return ticks


def _runs(points: Sequence[TrendPoint]) -> list[list[tuple[int, Estimate]]]:
    """Consecutive periods with a number (a gap breaks the line and the band)."""
    runs: list[list[tuple[int, Estimate]]] = []
    current: list[tuple[int, Estimate]] = []
    for i, point in enumerate(points):
        if point.estimate is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((i, point.estimate))
    if current:
        runs.append(current)
    return runs
