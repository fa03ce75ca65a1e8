"""The benchmarks run at tiny sizes so they cannot rot: their checks pass, their tables
print. How fast anything is, is not asserted here (see bench/ and docs/performance.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import burst, digest, memory


def test_burst_echo_feedbot_and_sequential_run_without_a_lost_or_misordered_answer() -> None:
    results = {
        variant: asyncio.run(
            burst.run_variant(variant, 4, 0.005, sequential_users=2, sequential_seconds=0.5)
        )
        for variant in burst.VARIANTS
    }
    for result in results.values():
        assert result.answers > 0, result
        assert (result.lost, result.duplicated, result.out_of_order, result.errors) == (
            0,
            0,
            0,
            0,
        ), result
    assert results["feedbot"].answers == 4 * burst.ANSWERS_PER_USER
    assert "feedbot checks: 4 responses" in burst.report(results, 4, 0.5)
    table = burst.report(results, 4, 0.5)
    for row in ("echo (ceiling)", "feedbot", "sequential, measured", "sequential, extrapolated"):
        assert row in table


def test_digest_times_feedbot_beside_the_bare_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digest, "CACHE", tmp_path)
    shape = digest.Shape(answers=3000, subjects=6, weeks=6)
    measured = asyncio.run(digest.measure(shape, repeat=1, chart=False))
    assert 2500 < measured.answers < 3500
    assert measured.queries > 0 and measured.floor > 0 and measured.feedbot > 0
    assert measured.sequential > 0 and measured.at_once > 1
    assert measured.digests_with_scores > 0
    again = asyncio.run(digest.measure(shape, repeat=1, chart=True))
    assert again.generated_in is None  # the cached database was reused
    table = digest.report([measured], 1)
    assert "vs floor" in table and "target feedbot <= 1.5x floor" in table
    assert "one at a time (no overlap)" in table
    assert "charts/s" not in table  # not asked for
    # With --chart: the charts drawn, and the same digests' sends at Telegram's rate.
    assert 0 < again.charts <= shape.subjects and again.messages >= shape.subjects
    assert again.chart is not None and again.chart > 0
    assert again.send_seconds == (again.charts + again.messages) / digest.SEND_RATE
    charts = digest.report([again], 1)
    assert f"{again.charts} of {shape.subjects} digests have one" in charts
    assert f"{again.charts} photos + {again.messages} messages" in charts


def test_memory_measures_a_running_bot_per_session_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "CACHE", tmp_path)
    found = [memory.measure(0), memory.measure(100)]
    # The buyer who answered a few questions has an unfinished survey of their own.
    assert found[1].active_found + found[1].closed == 100 + 1
    assert all(f.running_mb > 0 for f in found)
    table = memory.report(found)
    assert "RSS running MB" in table and "target flat within 20 MB" in table
