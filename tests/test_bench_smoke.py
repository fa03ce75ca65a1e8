"""The benchmarks run at tiny sizes so they cannot rot: their checks pass, their tables
print. How fast anything is, is not asserted here (see bench/ and docs/performance.md)."""

from __future__ import annotations

import asyncio
import re
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


# ------------------------------------------------------------------ CPU limits (-cap variants)


def test_a_cpu_limit_is_a_v1_cgroup_with_a_quota_of_its_cores(tmp_path: Path) -> None:
    from bench.instances import CpuLimit

    (tmp_path / "cpu").mkdir()  # cgroup v1: the cpu hierarchy
    limit = CpuLimit.create("feedbot-bench-1-0", 0.5, root=tmp_path)
    group = tmp_path / "cpu" / "feedbot-bench-1-0"
    assert (limit.path, limit.unified) == (group, False)
    assert (group / "cpu.cfs_period_us").read_text() == "100000"
    assert (group / "cpu.cfs_quota_us").read_text() == "50000"
    limit.add(4321)
    assert (group / "cgroup.procs").read_text() == "4321"
    (group / "cpu.stat").write_text("nr_periods 40\nnr_throttled 12\nthrottled_time 99\n")
    assert limit.throttled() == (12, 40)


def test_a_cpu_limit_on_cgroup_v2_enables_the_controller_and_writes_cpu_max(
    tmp_path: Path,
) -> None:
    from bench.instances import CpuLimit

    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory\n")
    limit = CpuLimit.create("feedbot-bench-1-1", 1.25, root=tmp_path)
    assert (limit.path, limit.unified) == (tmp_path / "feedbot-bench-1-1", True)
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
    assert (limit.path / "cpu.max").read_text() == "125000 100000"
    limit.remove()  # a pseudo-file system removes its files with the group; here they stay
    assert limit.path.exists()
    for child in limit.path.iterdir():
        child.unlink()
    limit.remove()
    assert not limit.path.exists()


def test_the_capped_variants_say_why_when_cpu_cannot_be_limited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import instances

    monkeypatch.setattr(instances, "CGROUP_ROOT", tmp_path / "no-cgroups-here")
    with pytest.raises(instances.CpuLimitUnavailable, match="need root"):
        instances.CpuLimit.create("feedbot-bench-1-2", 0.5)
    url = "postgresql://postgres@127.0.0.1:5432/test"
    with pytest.raises(SystemExit):
        burst.parse_args(["--database", url, "--only", "webhook-pg-n-cap"])
    assert "cannot limit CPU" in capsys.readouterr().err
    # The uncapped variants need no cgroup.
    assert burst.parse_args(["--database", url, "--only", "webhook-pg-n"]).only == ["webhook-pg-n"]


def _instance_result(variant: str, answers_per_s: float, cpu_limit: float | None) -> burst.Result:
    seconds = 8000 / answers_per_s
    result = burst.Result(
        variant=variant,
        users=1000,
        latency_ms=50.0,
        answers=8000,
        updates=9000,
        seconds=seconds,
        p50_ms=900.0,
        p95_ms=1500.0,
        p99_ms=2000.0,
        peak_rss_mb=float("nan"),
    )
    result.instances = 2 if "-n" in variant else 1
    result.cpu_limit = cpu_limit
    result.backend = "postgresql"
    return result


def test_the_report_shows_capped_and_uncapped_instances_with_a_target_each() -> None:
    results = {
        "webhook-pg": _instance_result("webhook-pg", 540.0, None),
        "webhook-pg-n": _instance_result("webhook-pg-n", 650.0, None),
        "webhook-pg-cap": _instance_result("webhook-pg-cap", 310.0, 0.5),
        "webhook-pg-n-cap": _instance_result("webhook-pg-n-cap", 490.0, 0.5),
    }
    table = burst.report(results, 1000, 20.0)
    for label in (
        "1 instance, PostgreSQL ",
        "2 instances, PostgreSQL ",
        "1 instance, PG, 0.5 core ",
        "2 instances, PG, 0.5 core each ",
    ):
        assert label in table, table
    assert "target 2 instances >= 1.3x 1 instance (PostgreSQL): 1.20x -> MISSED" in table
    assert (
        "target 2 instances >= 1.3x 1 instance (PostgreSQL, each instance limited to 0.5"
        " core): 1.58x -> met"
    ) in table
    # Without the capped variants their labels are not needed (nor their limit known).
    del results["webhook-pg-cap"], results["webhook-pg-n-cap"]
    table = burst.report(results, 1000, 20.0)
    assert "PG," not in table and "limited to" not in table


def test_burst_capped_instances_run_each_in_a_cgroup_of_its_own() -> None:
    """The -cap variants at a tiny size, where the kernel's cgroups can be written (as
    root, as in .ci/run): every answer checked, the limits applied and removed."""
    from bench import instances

    if SERVER_URL.lower() in ("off", ""):
        pytest.skip("FEEDBOT_TEST_POSTGRES=off: the PostgreSQL half is left out on purpose")
    try:
        instances.CpuLimit.create("feedbot-bench-smoke-probe", 0.5).remove()
    except instances.CpuLimitUnavailable as exc:
        pytest.skip(f"no cgroup CPU limits on this machine: {exc}")
    results = {
        variant: asyncio.run(
            burst.run_variant(
                variant,
                4,
                0.005,
                sequential_users=2,
                sequential_seconds=0.5,
                server=SERVER_URL,
                instances=2,
                instance_cpu=0.5,
            )
        )
        for variant in ("webhook-pg-cap", "webhook-pg-n-cap")
    }
    for result in results.values():
        assert result.answers == 4 * burst.ANSWERS_PER_USER, result
        assert (result.lost, result.duplicated, result.out_of_order, result.errors) == (
            0,
            0,
            0,
            0,
        ), result
        assert result.cpu_limit == 0.5 and "each instance limited to 0.5 core" in result.bound
        # The instances ran inside their limits: the scheduler counted periods for them.
        periods = re.search(r"held back in \d+ of its (\d+) periods", result.bound)
        assert periods is not None and int(periods[1]) > 0, result.bound
    assert results["webhook-pg-n-cap"].instances == 2
    root = instances.CGROUP_ROOT
    groups = root if (root / "cgroup.controllers").is_file() else root / "cpu"
    assert not [p for p in groups.iterdir() if p.name.startswith("feedbot-bench-")]
