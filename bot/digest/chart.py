"""The trend chart: the headline score per period with its interval band, as a PNG (headless)."""

from __future__ import annotations

import html
import io
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence

from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.transforms import offset_copy
from PIL import Image

from bot.digest.model import Digest, ScoreKind, TrendPoint
from bot.digest.render import format_day_short, format_number, labels, normalize_lang

WIDTH_PX, HEIGHT_PX, DPI = 800, 400, 100
# Fixed margins (fractions of the figure) instead of tight_layout, which lays the figure
# out by drawing it once more: room for a y axis of "−100" ticks and its label on the
# left, the title on top, the week labels below.
MARGINS = {"left": 0.09, "right": 0.98, "bottom": 0.09, "top": 0.91}
# Backgrounds kept per figure: one per (language, week labels, scale); a Monday's digests
# need a handful (two languages times the internal and external headline scales).
BACKGROUNDS = 8
# The chart is flat colours: fast zlib settings cost a few kB and save milliseconds.
PNG_COMPRESS_LEVEL = 1
_LINE = "#2563eb"
_BAND = "#93c5fd"
_GRID = "#e5e7eb"
_TEXT = "#374151"


def _mpl_text(text: str) -> str:
    """Text safe from matplotlib's mathtext, where a pair of "$" starts a formula."""
    return text.replace("$", r"\$")


class TrendFigure:
    """One figure whose artists are updated for each chart instead of built anew.

    Building a figure and laying it out took most of a chart's time, and drawing its
    axes, ticks and labels most of the rest. Here the figure is made once; the parts that
    are the same for many charts (axes, grid, week labels, scale, y label) are drawn once
    per combination and kept as a background (Agg's copy_from_bbox, as in matplotlib's
    blitting guide); each chart restores its background and draws only its own artists
    (band, bars, line, values, title) on it. `draw` sets every artist that depends on the
    series, so nothing of a previous chart survives. Not thread-safe: one per thread."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        self.figure.subplots_adjust(**MARGINS)
        axes = self.axes = self.figure.add_subplot()
        nothing = [math.nan, math.nan]
        self.band = axes.fill_between(
            [0, 1], nothing, nothing, color=_BAND, alpha=0.45, linewidth=0
        )
        # A period between two gaps has no band to fill: its interval is a thick bar.
        self.bars = LineCollection([], colors=_BAND, linewidths=6, zorder=1)
        axes.add_collection(self.bars, autolim=False)
        (self.line,) = axes.plot([], [], color=_LINE, linewidth=2, marker="o", markersize=5)
        self.values: list[Annotation] = []
        # Where Axes.set_title(loc="left") puts a title: 6 points above the axes.
        self.title = axes.text(
            0,
            1,
            "",
            transform=offset_copy(axes.transAxes, fig=self.figure, y=6, units="points"),
            ha="left",
            va="baseline",
            fontsize=11,
            color=_TEXT,
        )
        self.empty = axes.text(
            0.5,
            0.5,
            "",
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=11,
            color=_TEXT,
        )
        for artist in (self.band, self.bars, self.line, self.title, self.empty):
            artist.set_animated(True)  # drawn by `png` over the background, not in it
        axes.tick_params(colors=_TEXT, labelsize=8)
        axes.grid(axis="y", color=_GRID, linewidth=0.8)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        self._backgrounds: OrderedDict[Hashable, object] = OrderedDict()
        self._background_key: Hashable = None

    def draw(
        self,
        points: Sequence[TrendPoint],
        lang: str,
        title: str,
        *,
        y_label: str = "",
        y_limits: tuple[float, float] | None = None,
        empty_text: str = "",
    ) -> Figure:
        """Set the figure to this series (see `render_trend_png`) and return it."""
        lang = normalize_lang(lang)
        axes = self.axes
        xs = list(range(len(points)))
        present = [p.estimate is not None for p in points]
        # As in the digest's text, an interval of one answer (or of answers all alike)
        # says nothing and is not drawn: the week keeps its point, without band or bar.
        banded = [p.estimate is not None and p.estimate.has_interval for p in points]
        values = [p.estimate.value if p.estimate else math.nan for p in points]
        lows = [p.estimate.low if p.estimate else math.nan for p in points]
        highs = [p.estimate.high if p.estimate else math.nan for p in points]

        self.band.set_data(xs, lows, highs, where=banded)
        self.line.set_data(xs, values)
        bars = []
        for i, point in enumerate(points):
            alone = not (i > 0 and banded[i - 1]) and not (i + 1 < len(points) and banded[i + 1])
            if point.estimate is not None and banded[i] and alone:
                bars.append([(i, point.estimate.low), (i, point.estimate.high)])
        self.bars.set_segments(bars)

        shown = [(i, p.estimate) for i, p in enumerate(points) if p.estimate is not None]
        while len(self.values) < len(shown):
            annotation = axes.annotate(
                "",
                (0, 0),
                textcoords="offset points",
                xytext=(0, 7),
                # Inside the axes by construction (the y range holds every interval):
                # no need to test each value for it.
                annotation_clip=False,
                ha="center",
                fontsize=8,
                color=_TEXT,
            )
            annotation.set_animated(True)
            self.values.append(annotation)
        for annotation, (i, estimate) in zip(self.values, shown, strict=False):
            digits = 0 if abs(estimate.high - estimate.low) > 5 else 1
            annotation.set_text(format_number(estimate.value, digits, lang))
            annotation.xy = (i, estimate.value)
            annotation.set_visible(True)
        for annotation in self.values[len(shown) :]:
            annotation.set_visible(False)

        ticks = tuple(format_day_short(p.period.start, lang) for p in points)
        y_range = _y_range(y_limits, lows, highs)
        axes.set_xticks(xs, ticks)
        axes.set_xlim(-0.5, max(len(points) - 0.5, 0.5))
        axes.set_ylim(*y_range)
        axes.set_ylabel(_mpl_text(y_label), fontsize=9, color=_TEXT)
        self.title.set_text(_mpl_text(title))
        self.empty.set_text(_mpl_text(empty_text) if not any(present) else "")
        # Everything the background shows, and nothing else.
        self._background_key = (ticks, y_range, y_label)
        return self.figure

    def foreground(self) -> list[Artist]:
        """The artists of one chart, in the order a full draw would stack them."""
        return [self.band, self.bars, self.line, *self.values, self.title, self.empty]

    def png(self) -> bytes:
        """The figure as `draw` set it, rendered by Agg and encoded as an RGB PNG."""
        key = self._background_key
        background = self._backgrounds.get(key)
        if background is None:
            self.canvas.draw()  # without the animated artists: the background
            background = self.canvas.copy_from_bbox(self.figure.bbox)
            self._backgrounds[key] = background
            if len(self._backgrounds) > BACKGROUNDS:
                self._backgrounds.popitem(last=False)
        else:
            self._backgrounds.move_to_end(key)
            self.canvas.restore_region(background)
        for artist in self.foreground():
            self.figure.draw_artist(artist)
        rgba = self.canvas.buffer_rgba()
        image = Image.frombuffer("RGBA", (rgba.shape[1], rgba.shape[0]), rgba, "raw", "RGBA", 0, 1)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="png", compress_level=PNG_COMPRESS_LEVEL)
        return buffer.getvalue()


def _y_range(
    limits: tuple[float, float] | None, lows: Sequence[float], highs: Sequence[float]
) -> tuple[float, float]:
    """The full scale plus 8% on each side; without a scale, the intervals plus 5%
    (matplotlib's own margin), and 0..1 when nothing is drawn."""
    if limits is not None:
        pad = (limits[1] - limits[0]) * 0.08
        return limits[0] - pad, limits[1] + pad
    drawn = [v for v in (*lows, *highs) if not math.isnan(v)]
    if not drawn:
        return 0.0, 1.0
    low, high = min(drawn), max(drawn)
    pad = (high - low) * 0.05 or 0.5
    return low - pad, high + pad


_PER_THREAD = threading.local()


def trend_figure() -> TrendFigure:
    """This thread's reusable figure (made on first use)."""
    figure: TrendFigure | None = getattr(_PER_THREAD, "figure", None)
    if figure is None:
        figure = _PER_THREAD.figure = TrendFigure()
    return figure


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
    its 95% interval as a shaded band (a bar for a period between two gaps), and gaps
    where a period has no estimate.

    Uses the object-oriented API with the Agg canvas: no pyplot, no display; the figure
    is this thread's, reused (`TrendFigure`)."""
    chart = trend_figure()
    chart.draw(points, lang, title, y_label=y_label, y_limits=y_limits, empty_text=empty_text)
    return chart.png()


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
