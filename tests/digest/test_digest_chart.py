"""The trend chart is a small PNG drawn headless, with gaps for weeks without a score; its
figure is reused chart after chart, and a chart drawn on it is the one a fresh figure draws."""

from __future__ import annotations

import io
import math
import struct
import threading
from collections.abc import Sequence

import numpy as np
from PIL import Image

from bot.digest.chart import TrendFigure, digest_chart, render_trend_png
from bot.digest.data import DigestData
from bot.digest.model import TrendPoint
from surveys import periods
from surveys.scoring import Estimate
from tests.digest.digest_support import DEPARTMENT, INTERNAL, W47, W48, build, disclose, window

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LINE_RGB = (0x25, 0x63, 0xEB)  # the line and its markers
BAR_RGB = (0x93, 0xC5, 0xFD)  # the interval of a week between two gaps
GAPS = (2, 3, 9, 11)  # weeks without a score: 10 is then a week alone between two gaps


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk."""
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def pixels_of(png: bytes, rgb: tuple[int, int, int]) -> int:
    """How many pixels of the decoded PNG have exactly this colour."""
    colours = Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None  # None only above maxcolors
    return sum(count for count, colour in colours if colour == rgb)


def series(gaps: Sequence[int] = GAPS, base: float = 10.0) -> list[TrendPoint]:
    """Twelve weeks ending with W48; week i scores base + 4i (interval ±20), but the gaps."""
    points = []
    for i, key in enumerate(periods.last_n(W48, 12)):
        value = base + 4 * i
        estimate = None if i in gaps else Estimate(value, value - 20, value + 20, 30)
        points.append(TrendPoint(periods.span(key), estimate))
    return points


def band_runs(chart: TrendFigure) -> set[tuple[float, float]]:
    """The first and last week of each stretch the band covers."""
    xs = [np.asarray(path.vertices, dtype=float)[:, 0] for path in chart.band.get_paths()]
    return {(float(x.min()), float(x.max())) for x in xs if x.max() > x.min()}


def line_data(chart: TrendFigure) -> tuple[list[float], list[float]]:
    """The x and y values of the chart's line (NaN where a week has no score)."""
    xs, ys = chart.line.get_data()
    return np.asarray(xs, dtype=float).tolist(), np.asarray(ys, dtype=float).tolist()


def draw(figure: TrendFigure, points: Sequence[TrendPoint], lang: str = "pl") -> bytes:
    figure.draw(
        points, lang, "Czajnik $5: NPS", y_label="NPS (od −100 do 100)", y_limits=(-100, 100)
    )
    return figure.png()


def test_the_figure_holds_the_weeks_values_intervals_and_gaps() -> None:
    chart = TrendFigure()
    points = series()
    chart.draw(points, "pl", "Czajnik $5: NPS", y_label="NPS", y_limits=(-100, 100))

    xs, ys = line_data(chart)
    assert xs == list(range(12))
    assert [math.isnan(y) for y in ys] == [i in GAPS for i in range(12)]
    assert [y for y in ys if not math.isnan(y)] == [
        10.0 + 4 * i for i in range(12) if i not in GAPS
    ]
    # The band covers each run of two or more weeks; the week alone (10) gets a bar.
    assert band_runs(chart) == {(0.0, 1.0), (4.0, 8.0)}
    assert [seg.tolist() for seg in chart.bars.get_segments()] == [[[10, 30], [10, 70]]]
    # One label per week with a score, in Polish (decimal comma where digits are shown).
    labels = [(a.get_text(), a.xy) for a in chart.values if a.get_visible()]
    assert labels == [(f"{10 + 4 * i}", (i, 10.0 + 4 * i)) for i in range(12) if i not in GAPS]
    weeks = [label.get_text() for label in chart.axes.get_xticklabels()]
    assert weeks == [f"{p.period.start.day}.{p.period.start.month:02d}" for p in points]
    assert chart.title.get_text() == r"Czajnik \$5: NPS"  # "$" is not mathtext
    assert chart.axes.get_ylabel() == "NPS"
    assert chart.axes.get_ylim() == (-116.0, 116.0)  # the whole scale and 8% more
    assert chart.empty.get_text() == ""


def test_an_interval_of_one_answer_is_not_drawn() -> None:
    points = series()
    one = Estimate(4.0, 4.0, 4.0, 1)  # one answer: no spread, no interval
    nps_of_one = Estimate(100.0, -20.0, 100.0, 1)  # an interval, but of one answer
    points[1] = TrendPoint(points[1].period, one)
    points[10] = TrendPoint(points[10].period, nps_of_one)
    chart = TrendFigure()
    chart.draw(points, "en", "Kettle", y_label="NPS", y_limits=(-100, 100))
    ys = line_data(chart)[1]
    assert ys[1] == 4.0 and ys[10] == 100.0
    # Week 0 keeps its interval, now alone (a bar); week 10 has none to draw.
    assert [seg.tolist() for seg in chart.bars.get_segments()] == [[[0, -10], [0, 30]]]
    assert band_runs(chart) == {(4.0, 8.0)}


def test_the_png_shows_the_line_and_the_bar_of_a_week_alone() -> None:
    png = draw(TrendFigure(), series())
    assert png.startswith(PNG_SIGNATURE) and png_size(png) == (800, 400)
    assert pixels_of(png, LINE_RGB) > 200  # eight markers and the line between them
    assert pixels_of(png, BAR_RGB) > 100  # the bar is drawn in the band's colour, opaque
    without_lone_week = draw(TrendFigure(), series(gaps=(2, 3, 11)))
    assert pixels_of(without_lone_week, BAR_RGB) == 0


def test_a_reused_figure_draws_each_chart_as_a_fresh_figure_does() -> None:
    first, other = series(), series(gaps=(0, 5, 6, 7, 8, 11), base=-50)
    nps = (-100.0, 100.0)
    # Each differs from the one before in one thing: the series (more values, fewer, more
    # again), the title, the y label, the language (week labels) or the scale.
    charts = [
        (first, "pl", "Czajnik", "NPS", nps),
        (other, "pl", "Czajnik", "NPS", nps),
        (first, "pl", "Czajnik", "NPS", nps),
        (first, "pl", "Sprzedaż", "NPS", nps),
        (first, "pl", "Sprzedaż", "Ocena ogólna (średnia, 1–5)", nps),
        (first, "en", "Sprzedaż", "Ocena ogólna (średnia, 1–5)", nps),
        (first, "en", "Sprzedaż", "Ocena ogólna (średnia, 1–5)", None),
        (first, "pl", "Czajnik", "NPS", nps),
    ]
    reused = TrendFigure()
    pictures = []
    for points, lang, title, y_label, y_limits in charts:
        reused.draw(points, lang, title, y_label=y_label, y_limits=y_limits)
        fresh = TrendFigure()
        fresh.draw(points, lang, title, y_label=y_label, y_limits=y_limits)
        pictures.append(reused.png())
        assert pictures[-1] == fresh.png(), (lang, title, y_label, y_limits)
    assert len(set(pictures)) == len(charts) - 2  # the first is drawn three times


def test_each_thread_draws_on_its_own_figure() -> None:
    here = render_trend_png(series(), "pl", "Czajnik", y_label="NPS", y_limits=(-100, 100))
    there: list[bytes] = []
    thread = threading.Thread(
        target=lambda: there.append(
            render_trend_png(series(), "pl", "Czajnik", y_label="NPS", y_limits=(-100, 100))
        )
    )
    thread.start()
    thread.join()
    assert there == [here]


def test_trend_png_without_any_point_says_so() -> None:
    points = [TrendPoint(periods.span(key), None) for key in periods.last_n(W48, 12)]
    chart = TrendFigure()
    chart.draw(points, "en", "Nothing yet", empty_text="not enough responses")
    assert chart.empty.get_text() == "not enough responses"
    assert not any(a.get_visible() for a in chart.values)
    png = chart.png()
    assert png.startswith(PNG_SIGNATURE) and pixels_of(png, LINE_RGB) == 0
    # The next chart on the same figure has data: the notice is gone.
    chart.draw(series(), "en", "Kettle", empty_text="not enough responses")
    assert chart.empty.get_text() == ""


def test_digest_chart_draws_the_headline_or_nothing() -> None:
    data = DigestData(
        window(W48, 6, {"overall": {4: 3, 5: 3}}), window(W47, 0), trend={W48: {4: 3, 5: 3}}
    )
    png = digest_chart(build(DEPARTMENT, INTERNAL, disclose(data)), "en")
    assert png is not None and png.startswith(PNG_SIGNATURE)
    assert png_size(png) == (800, 400) and pixels_of(png, LINE_RGB) > 0
    # Below the anonymity threshold no week is drawn, so there is no chart to send.
    few = DigestData(window(W48, 3), window(W47, 0), trend={W48: {4: 3}})
    assert digest_chart(build(DEPARTMENT, INTERNAL, disclose(few)), "en") is None
