"""Migration 0006: the completion rate's cohort counted from now on, unknown before."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from storage.aggregates import Reads
from storage.db import Database, split_statements
from storage.models import PeriodCounts
from storage.sessions import complete_session, get_active_session, start_session
from surveys.schema import Audience
from tests.reads import read

W47, W48 = "2026-W47", "2026-W48"
SALES = 1
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # in W48


def _database_at_0005(path: Path) -> None:
    """A database before 0006: W47 counted 3 started sessions, one of them still running."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    folder = resources.files("storage") / "migrations"
    names = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
    for name in names[: names.index("0006_session_completions.sql")]:
        for statement in split_statements((folder / name).read_text(encoding="utf-8")):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, '2026-11-01T00:00:00+00:00')", (name,)
        )
    conn.execute(
        "INSERT INTO subjects (id, slug, kind, names_json, survey_id, created_at)"
        " VALUES (?, 'sales', 'department', '{}', 'internal', '2026-11-01T00:00:00+00:00')",
        (SALES,),
    )
    conn.execute(
        "INSERT INTO session_counts (subject_id, week_key, started) VALUES (?, ?, 3)", (SALES, W47)
    )
    conn.execute(
        "INSERT INTO sessions (respondent_id, chat_id, survey_id, survey_version, subject_id,"
        " audience, role, state_json, status, started_at, updated_at, week_key)"
        " VALUES (11, 11, 'internal', 1, ?, 'internal', 'employee', '{}', 'active',"
        " '2026-11-20T10:00:00.000000+00:00', '2026-11-20T10:00:00.000000+00:00', ?)",
        (SALES, W47),
    )
    conn.close()


async def _complete(db: Database, respondent: int) -> None:
    session = await get_active_session(db.conn, respondent)
    assert session is not None
    async with db.transaction() as conn:
        await complete_session(
            conn,
            session,
            records=[],
            marker=f"m{respondent}",
            next_possible=NOW.date(),
            contact_id=None,
            now=NOW,
            week_key=W48,
        )


async def test_weeks_counted_before_0006_stay_unknown_and_new_ones_are_counted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    _database_at_0005(path)
    db = await Database.open(path)
    try:
        await _complete(db, 11)  # started in W47, before the migration: not counted as 1
        w47 = await read(db.conn, Reads.period_counts, SALES, [W47])
        assert w47.started == 3 and w47.started_completed is None
        async with db.transaction() as conn:
            await start_session(
                conn,
                respondent_id=12,
                chat_id=12,
                survey_id="internal",
                survey_version=1,
                subject_id=SALES,
                audience=Audience.INTERNAL,
                role="employee",
                state_json="{}",
                now=NOW,
                week_key=W48,
            )
        await _complete(db, 12)
        assert await read(db.conn, Reads.period_counts, SALES, [W48]) == PeriodCounts(1, 2, 0, 1)
        assert (
            await read(db.conn, Reads.period_counts, SALES, [W47, W48])
        ).started_completed is None
    finally:
        await db.close()
