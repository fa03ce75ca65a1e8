"""bench/memory: the running bot's memory with many unfinished surveys in the database.

    python -m bench.memory [--sessions 0,10000,100000]

For each count a database with that many unfinished (active) sessions is generated once
and cached in bench/.cache/ (sessions bulk-inserted on the schema, a few answers in each
state; 10% of them idle long enough to be reminded, 1% long enough to be closed). Each
count is then measured in a fresh child process, on a copy of that database: the bot is
built and started as in production (bot.app.build_application, database opened in
post_init) over the in-process fake Bot API, one buyer answers a few questions, the
reminder and stale-session jobs run once each, and the RSS is read after a full garbage
collection: what the process holds while serving, not the garbage of starting up. A
fresh process per count, so that neither generating the database nor the previous
count's allocations are counted; 0 sessions is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from bench.common import CACHE, Table, fmt, machine, peak_rss_mb, settled_rss_mb, verdict

GENERATOR_VERSION = 1
TOKEN = "123456:BENCH-token"
SECRET = "bench-secret-0123456789abcdef"
SUBJECTS = 20
FIRST_RESPONDENT = 20_000_000


def cache_path(sessions: int) -> Path:
    migrations = resources.files("storage") / "migrations"
    digest = hashlib.sha256()
    for item in sorted(migrations.iterdir(), key=lambda f: f.name):
        if item.name.endswith(".sql"):
            digest.update(item.read_bytes())
    return CACHE / f"memory-{sessions}s-v{GENERATOR_VERSION}-{digest.hexdigest()[:10]}.sqlite3"


async def generate(sessions: int, seed: int = 1) -> Path:
    """The database with `sessions` active sessions (cached)."""
    path = cache_path(sessions)
    if path.exists():
        return path
    from storage import subjects as subject_repo
    from storage.db import Database
    from storage.models import SubjectKind
    from surveys import periods

    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    now = datetime.now(UTC)
    db = await Database.open(partial)
    try:
        async with db.transaction() as conn:
            for n in range(SUBJECTS):
                internal = n % 2 == 0
                await subject_repo.add_subject(
                    conn,
                    slug=f"{'dept' if internal else 'product'}-{n:02d}",
                    kind=SubjectKind.DEPARTMENT if internal else SubjectKind.PRODUCT,
                    names={"pl": f"Temat {n}", "en": f"Subject {n}"},
                    survey_id="internal" if internal else "external",
                    now=now - timedelta(days=400),
                )
        subjects = await subject_repo.list_subjects(db.conn)
    finally:
        await db.close()
    rng = random.Random(seed)
    states = {
        "internal": [
            {"answers": {"overall": 4, "reliability": 5}, "history": ["overall", "reliability"]},
            {"answers": {"overall": 2}, "history": ["overall"]},
        ],
        "external": [
            {
                "answers": {"nps": 9, "nps_promoter": "Tasty and quick."},
                "history": ["nps", "nps_promoter"],
            },
            {"answers": {"nps": 6}, "history": ["nps"], "pending": ["price"]},
        ],
    }
    rows = []
    for n in range(sessions):
        subject = subjects[n % len(subjects)]
        internal = subject.survey_id == "internal"
        roll = rng.random()
        # Most answered within the last hours; 10% idle for a reminder, 1% stale for closing.
        idle = timedelta(hours=rng.uniform(0, 12))
        if roll < 0.01:
            idle = timedelta(days=8)
        elif roll < 0.11:
            idle = timedelta(hours=rng.uniform(25, 100))
        at = now - idle
        state = dict(rng.choice(states[subject.survey_id]), pending=[])
        respondent = FIRST_RESPONDENT + n
        rows.append(
            (
                respondent,
                respondent,
                subject.survey_id,
                1,
                subject.id,
                "internal" if internal else "external",
                "employee" if internal else None,
                json.dumps(state, separators=(",", ":")),
                at.isoformat(timespec="microseconds"),
                at.isoformat(timespec="microseconds"),
                1000 + n,
                periods.week_key(at.date()),
            )
        )
    raw = sqlite3.connect(partial, isolation_level=None)
    try:
        raw.execute("BEGIN")
        raw.executemany(
            "INSERT INTO sessions (respondent_id, chat_id, survey_id, survey_version,"
            " subject_id, audience, role, state_json, status, started_at, updated_at,"
            " message_id, week_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)",
            rows,
        )
        raw.execute("COMMIT")
    finally:
        raw.close()
    partial.rename(path)
    return path


# ------------------------------------------------------------------ the child: a running bot


@dataclass
class Footprint:
    """One child's measurements (MiB), JSON between the child and the parent."""

    sessions: int
    active_found: int
    database_mb: float
    imported_mb: float
    running_mb: float
    peak_mb: float
    reminded: int
    closed: int


async def run_bot(database: Path, sessions: int) -> Footprint:
    """Start the bot on `database`, let it work a little, and measure it."""
    from bot import jobs
    from bot.app import build_application
    from bot.config import load_settings
    from bot.context import FeedbotContext
    from storage import invites as invite_repo
    from storage import sessions as session_repo
    from storage.models import InviteKind
    from tests.fakes.request import FakeRequest
    from tests.fakes.telegram_server import FakeTelegram

    imported = settled_rss_mb()
    settings = load_settings(
        None,
        TELEGRAM_BOT_TOKEN=TOKEN,
        FEEDBOT_SECRET=SECRET,
        FEEDBOT_DATABASE=str(database),
        FEEDBOT_TIMEZONE="Europe/Warsaw",
    )
    # Calls are recorded to count the reminders (a few hundred small records).
    telegram = FakeTelegram(token=TOKEN)
    app = build_application(
        settings, request=FakeRequest(telegram), rate_limiter=False, schedule_jobs=False
    )
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    await app.start()
    try:
        services = app.services
        subjects = {}
        async with services.db.conn.execute("SELECT id, slug FROM subjects") as cursor:
            subjects = {row["slug"]: row["id"] for row in await cursor.fetchall()}
        async with services.db.transaction() as conn:
            _, token = await invite_repo.create_invite(
                conn,
                services.secret,
                kind=InviteKind.BUYER,
                subject_id=subjects["product-01"],
                role=None,
                max_uses=None,
                expires_at=None,
                created_by=None,
                now=services.now(),
            )
        buyer = telegram.user(1, "Buyer")
        for act in (
            lambda: buyer.send_command("/start", token),
            lambda: buyer.press("9"),
            lambda: buyer.send_text("Tasty."),
            lambda: buyer.press("5"),
        ):
            act()
            for data in telegram.pending_updates():
                from telegram import Update

                await app.process_update(Update.de_json(data, app.bot))
        context = FeedbotContext(app)
        before = len(telegram.calls_of("sendMessage"))
        await jobs.send_reminders(context)
        reminded = len(telegram.calls_of("sendMessage")) - before
        closed = await jobs.abandon_stale(services)
        active = await session_repo.count_active_sessions(services.db.conn)
        running = settled_rss_mb()
    finally:
        await app.stop()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        await app.shutdown()
    return Footprint(
        sessions=sessions,
        active_found=active,
        database_mb=await asyncio.to_thread(os.path.getsize, database) / 2**20,
        imported_mb=imported,
        running_mb=running,
        peak_mb=peak_rss_mb(),
        reminded=reminded,
        closed=closed,
    )


def measure(sessions: int) -> Footprint:
    """Generate (or reuse) the database and measure a bot on a copy of it in a child."""
    cached = asyncio.run(generate(sessions))
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="feedbot-memory-") as folder:
        copy = Path(folder) / "bot.sqlite3"
        shutil.copyfile(cached, copy)
        env = {**os.environ, "PYTHONPATH": str(root)}
        done = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--child", str(copy), "--count", str(sessions)],
            capture_output=True,
            text=True,
            cwd=root,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"bench.memory child failed:\n{done.stderr}")
    return Footprint(**json.loads(done.stdout.strip().splitlines()[-1]))


def report(found: Sequence[Footprint]) -> str:
    base = found[0]
    table = Table(
        f"memory: RSS of the running bot (after gc.collect) by unfinished sessions in the"
        f" database\n{machine()}",
        [
            "sessions",
            "active found",
            "database MB",
            "RSS imported MB",
            "RSS running MB",
            "vs first",
            "peak MB",
            "reminded",
            "closed",
        ],
    )
    for f in found:
        table.add(
            f.sessions,
            f.active_found,
            fmt(f.database_mb, 1),
            fmt(f.imported_mb, 1),
            fmt(f.running_mb, 1),
            f"{f.running_mb - base.running_mb:+.1f}",
            fmt(f.peak_mb, 1),
            f.reminded,
            f.closed,
        )
    spread = max(f.running_mb for f in found) - min(f.running_mb for f in found)
    top = max(max(f.running_mb, f.peak_mb) for f in found)
    table.notes.append(
        "Each row a fresh process on a copy of its database: the bot built and started as in"
        " production, one buyer answering, the reminder and stale-session jobs run once"
        " (one batch of 200 reminders; every stale session closed). Active found: the"
        " unfinished sessions left after that, the buyer's own included."
    )
    table.notes.append(
        f"target flat within 20 MB: spread {spread:.1f} MB -> {verdict(spread <= 20)}"
    )
    table.notes.append(
        f"target under 150 MB (running and peak): {top:.1f} MB -> {verdict(top < 150)}"
    )
    return table.render()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sessions",
        default="0,10000,100000",
        help="unfinished sessions per run, comma-separated (0,10000,100000)",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        footprint = asyncio.run(run_bot(args.child, args.count))
        print(json.dumps(asdict(footprint)))
        return 0
    counts = sorted(int(s.replace("_", "")) for s in args.sessions.split(",") if s.strip())
    print(report([measure(n) for n in counts]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
