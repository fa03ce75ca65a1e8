"""The benchmarks run at tiny sizes so they cannot rot: their checks pass, their tables
print. How fast anything is, is not asserted here (see bench/ and docs/performance.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import burst, digest, memory
from tests.backends import SERVER_URL, backend_params


def test_burst_echo_feedbot_and_sequential_run_without_a_lost_or_misordered_answer() -> None:
    results = {
        variant: asyncio.run(
            burst.run_variant(variant, 4, 0.005, sequential_users=2, sequential_seconds=0.5)
        )
        for variant in ("echo", "feedbot", "inbox", "sequential")
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


@pytest.mark.parametrize("backend", backend_params())
def test_burst_instances_lose_duplicate_and_misorder_nothing(backend: str) -> None:
    """The instance variants at a tiny size: webhook processes sharing one database (and,
    on PostgreSQL, feedbot in process and two instances behind the load balancer), every
    answer checked against the database afterwards."""
    if backend == "sqlite":
        variants, server = ["webhook"], None
    else:
        variants, server = ["postgres", "webhook-pg", "webhook-pg-n"], SERVER_URL
    results = {
        variant: asyncio.run(
            burst.run_variant(
                variant,
                6,
                0.005,
                sequential_users=2,
                sequential_seconds=0.5,
                server=server,
                instances=2,
            )
        )
        for variant in variants
    }
    for result in results.values():
        assert result.answers == 6 * burst.ANSWERS_PER_USER, result
        assert (result.lost, result.duplicated, result.out_of_order) == (0, 0, 0), result
        assert "6 responses and 54 processed updates checked" in result.checked, result
        # Errors: no ERROR log, traceback, timeout, update left in the inbox or Bot API
        # call the fake refused, with two instances too (an instance that answers the
        # question the other one sent, before that one's note of it is committed, removes
        # no keyboard a second time).
        assert result.errors == sum(result.refused.values()) == 0, result
    table = burst.report(results, 6, 0.5)
    if backend == "sqlite":
        assert "1 instance, SQLite" in table
    else:
        assert "feedbot on PostgreSQL" in table and "2 instances, PostgreSQL" in table
        assert results["webhook-pg-n"].instances == 2
        assert "target 2 instances >= 1.3x 1 instance (PostgreSQL)" in table


def test_burst_asks_for_a_postgresql_server_for_its_postgresql_variants() -> None:
    with pytest.raises(SystemExit):
        burst.parse_args(["--only", "webhook-pg"])
    with pytest.raises(SystemExit):
        burst.parse_args(["--database", "feedbot.sqlite3"])
    url = "postgresql://postgres@127.0.0.1:5432/test"
    assert burst.default_variants(burst.parse_args([])) == ["echo", "feedbot", "sequential"]
    assert burst.default_variants(burst.parse_args(["--database", url, "--instances", "1"])) == [
        "echo",
        "feedbot",
        "postgres",
        "webhook",
        "webhook-pg",
        "sequential",
    ]
    assert "webhook-pg-n" in burst.default_variants(burst.parse_args(["--database", url]))


def test_burst_drops_the_schema_it_made_on_postgresql() -> None:
    """Each PostgreSQL run has a fresh schema, dropped afterwards (also when it fails)."""
    import asyncpg

    from bench.common import postgres_schema

    if SERVER_URL.lower() in ("off", ""):
        pytest.skip("FEEDBOT_TEST_POSTGRES=off: the PostgreSQL half is left out on purpose")

    async def schemas() -> set[str]:
        admin = await asyncpg.connect(SERVER_URL, timeout=60)
        try:
            rows = await admin.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_%'"
            )
        finally:
            await admin.close()
        return {str(r[0]) for r in rows}

    async def run() -> tuple[str, set[str], set[str]]:
        made = ""
        during: set[str] = set()
        with pytest.raises(RuntimeError):
            async with postgres_schema(SERVER_URL) as url:
                made = url.rsplit("search_path=", 1)[1].split("&", 1)[0]
                during = await schemas()
                raise RuntimeError("the run failed")
        return made, during, await schemas()

    made, during, after = asyncio.run(run())
    assert made.startswith("bench_") and made in during and made not in after


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
