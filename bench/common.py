"""What the benchmarks share: timing, percentiles, peak RSS, the machine and table printing."""

from __future__ import annotations

import gc
import math
import os
import platform
import resource
import secrets
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CACHE = Path(__file__).resolve().parent / ".cache"
MB = 1024 * 1024


# ------------------------------------------------------------------ timing


@dataclass
class Stopwatch:
    """Wall time of a `with` block (perf_counter), readable after it ends."""

    started: float = 0.0
    seconds: float = 0.0

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks; nan if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# ------------------------------------------------------------------ memory


def rss_mb() -> float:
    """The current resident set size of this process, in MiB."""
    status = _proc_status()
    if "VmRSS" in status:
        return status["VmRSS"]
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / MB
    except ImportError:  # no psutil and no /proc: the peak is the best we have
        return peak_rss_mb()


def reset_peak_rss() -> bool:
    """Start measuring the peak RSS from now (Linux >= 4.0: /proc/self/clear_refs "5").

    Returns False where that is impossible; the peak then covers the process's whole life."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """The peak RSS since `reset_peak_rss()` (or since the process started), in MiB."""
    status = _proc_status()
    if "VmHWM" in status:
        return status["VmHWM"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    return peak / MB if sys.platform == "darwin" else peak / 1024


def settled_rss_mb() -> float:
    """RSS after a full garbage collection: what the process holds, not what it just freed."""
    gc.collect()
    return rss_mb()


def _proc_status() -> dict[str, float]:
    """VmRSS, VmHWM... of /proc/self/status in MiB (empty where there is no /proc)."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return {}
    values: dict[str, float] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            values[name] = int(parts[0]) / 1024
    return values


# ------------------------------------------------------------------ the machine


def machine() -> str:
    """One line naming the CPU, cores, Python and OS, printed above every table."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{cpu}, {cores} cores, {python}, {platform.system()} {platform.release()}"


# ------------------------------------------------------------------ PostgreSQL


@asynccontextmanager
async def postgres_schema(server: str) -> AsyncIterator[str]:
    """A new, empty schema on the PostgreSQL `server` for one run: yields a URL whose
    search_path it is (what FEEDBOT_DATABASE is given), and drops it afterwards.

    The server's own durability settings stay (synchronous_commit as configured): the
    benchmark measures what a deployment would get."""
    import asyncpg

    schema = f"bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(server, timeout=10)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
    finally:
        await admin.close()
    separator = "&" if urlsplit(server).query else "?"
    try:
        yield f"{server}{separator}search_path={schema}"
    finally:
        admin = await asyncpg.connect(server, timeout=10)
        try:
            await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await admin.close()


# ------------------------------------------------------------------ tables


@dataclass
class Table:
    """A plain-text table: a title, a header row, rows and notes under it."""

    title: str
    header: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([cell if isinstance(cell, str) else fmt(cell) for cell in cells])

    def render(self) -> str:
        widths = [len(h) for h in self.header]
        for row in self.rows:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

        def line(cells: Sequence[str]) -> str:
            first, *rest = cells
            return "  ".join(
                [
                    first.ljust(widths[0]),
                    *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)),
                ]
            ).rstrip()

        rule = "  ".join("-" * w for w in widths)
        out = [self.title, "", line(self.header), rule, *(line(r) for r in self.rows)]
        if self.notes:
            out.append("")
            out.extend(self.notes)
        return "\n".join(out)


def fmt(value: object, digits: int | None = None) -> str:
    """A number for a table: thousands separators, sensible decimals, "-" for missing."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if digits is None:
            digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
        return f"{value:,.{digits}f}"
    return str(value)


def ratio(value: float, base: float, digits: int = 2) -> str:
    """value / base as "0.83x" ("-" when the base is zero or missing)."""
    if not base or math.isnan(base) or math.isnan(value):
        return "-"
    return f"{value / base:.{digits}f}x"


def verdict(ok: bool) -> str:
    """ "met" or "MISSED", for a target line."""
    return "met" if ok else "MISSED"
