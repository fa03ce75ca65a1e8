"""The trend chart: the headline score per period with its interval band, as a PNG (headless)."""

from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.digest.model import Digest, ScoreKind, TrendPoint
from bot.digest.render import format_day_short, format_number, labels, normalize_lang

WIDTH_PX, HEIGHT_PX, DPI = 800, 400, 100
_LINE = "#2563eb"
_BAND = "#93c5fd"
_GRID = "#e5e7eb"
_TEXT = "#374151"


def _mpl_text(text: str) -> str:
    """Text safe from matplotlib's mathtext, where a pair of "$" starts a formula."""
    return text.replace("$", r"\$")


def render_trend_png(
    points: Sequence[TrendPoint],
    lang: str,
    title: str,
    *,
    y_label: str = "",
    y_limits: tuple[float, float] | None = None,
    empty_text: str = "",
) -> bytes:
    """A small PNG (800x400) of the score per period, oldest left: a line with markers,
    its 95% interval as a shaded band, and gaps where a period has no estimate.

    Uses the object-oriented API with the Agg canvas: no pyplot, no global state, no display."""
    lang = normalize_lang(lang)
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    xs = list(range(len(points)))
    nan = math.nan
    values = [p.estimate.value if p.estimate else nan for p in points]
    lows = [p.estimate.low if p.estimate else nan for p in points]
    highs = [p.estimate.high if p.estimate else nan for p in points]
    present = [p.estimate is not None for p in points]

    axes.fill_between(xs, lows, highs, where=present, color=_BAND, alpha=0.45, linewidth=0)
    axes.plot(xs, values, color=_LINE, linewidth=2, marker="o", markersize=5)
    # A period between two gaps has no band to fill: show its interval as an error bar.
    for i, point in enumerate(points):
        alone = not (i > 0 and present[i - 1]) and not (i + 1 < len(points) and present[i + 1])
        if point.estimate is not None and alone:
            axes.errorbar(
                [i],
                [point.estimate.value],
                yerr=[
                    [point.estimate.value - point.estimate.low],
                    [point.estimate.high - point.estimate.value],
                ],
                color=_BAND,
                elinewidth=6,
                capsize=0,
                zorder=1,
            )
    for i, point in enumerate(points):
        if point.estimate is not None:
            digits = 0 if abs(point.estimate.high - point.estimate.low) > 5 else 1
            axes.annotate(
                format_number(point.estimate.value, digits, lang),
                (i, point.estimate.value),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
                color=_TEXT,
            )

    axes.set_xticks(xs)
    axes.set_xticklabels([format_day_short(p.period.start, lang) for p in points], fontsize=8)
    axes.set_xlim(-0.5, max(len(points) - 0.5, 0.5))
    if y_limits is not None:
        pad = (y_limits[1] - y_limits[0]) * 0.08
        axes.set_ylim(y_limits[0] - pad, y_limits[1] + pad)
    axes.set_title(_mpl_text(title), fontsize=11, color=_TEXT, loc="left")
    axes.set_ylabel(_mpl_text(y_label), fontsize=9, color=_TEXT)
    axes.tick_params(colors=_TEXT, labelsize=8)
    axes.grid(axis="y", color=_GRID, linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if not any(present) and empty_text:
        axes.text(
            0.5,
            0.5,
            _mpl_text(empty_text),
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            color=_TEXT,
        )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def y_limits_for(digest: Digest) -> tuple[float, float] | None:
    """The full scale of the headline score: NPS -100..100, percent 0..100, else its scale."""
    if digest.headline_kind is ScoreKind.NPS:
        return (-100.0, 100.0)
    if digest.headline_kind is ScoreKind.PERCENT:
        return (0.0, 100.0)
    if digest.headline_scale is not None:
        return (float(digest.headline_scale[0]), float(digest.headline_scale[1]))
    return None


def digest_chart(digest: Digest, lang: str) -> bytes | None:
    """The digest's trend chart, or None when no period has a score worth drawing."""
    if not digest.has_chart:
        return None
    words = labels(lang)
    return render_trend_png(
        digest.trend,
        lang,
        html.unescape(str(words.chart_title(digest))),
        y_label=html.unescape(str(words.chart_axis(digest))),
        y_limits=y_limits_for(digest),
        empty_text=html.unescape(str(words.chart_empty())),
    )
