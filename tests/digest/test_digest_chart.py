"""The trend chart is a small PNG drawn headless, with gaps for weeks without a score."""

from __future__ import annotations

import struct

from digest_support import DEPARTMENT, INTERNAL, W47, W48, build, disclose, window

from bot.digest.chart import digest_chart, render_trend_png
from bot.digest.compose import DigestData
from bot.digest.model import TrendPoint
from surveys import periods, scoring

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk."""
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_trend_png_with_gaps_and_a_lone_point() -> None:
    keys = periods.last_n(W48, 12)
    points = [
        TrendPoint(periods.span(key), None if i in (2, 3, 9) else scoring.nps(5 + i, 3, 4))
        for i, key in enumerate(keys)
    ]
    png = render_trend_png(
        points, "pl", "Czajnik $5: NPS, ostatnie 12 tygodni", y_label="NPS", y_limits=(-100, 100)
    )
    assert png.startswith(PNG_SIGNATURE)
    assert png_size(png) == (800, 400)


def test_trend_png_without_any_point_still_renders() -> None:
    points = [TrendPoint(periods.span(key), None) for key in periods.last_n(W48, 12)]
    png = render_trend_png(points, "en", "Nothing yet", empty_text="not enough responses")
    assert png.startswith(PNG_SIGNATURE)


def test_digest_chart_draws_the_headline_or_nothing() -> None:
    overall = {4: 3, 5: 3}
    data = DigestData(window(W48, 6, {"overall": overall}), window(W47, 0), trend={W48: overall})
    png = digest_chart(build(DEPARTMENT, INTERNAL, disclose(data)), "en")
    assert png is not None and png.startswith(PNG_SIGNATURE)
    # Below the anonymity threshold no week is drawn, so there is no chart to send.
    few = DigestData(window(W48, 3), window(W47, 0), trend={W48: {4: 3}})
    assert digest_chart(build(DEPARTMENT, INTERNAL, disclose(few)), "en") is None
