"""The database: file creation, pragmas, migrations, transactions and crash safety."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.connection import Connection
from storage.db import Database, encode_time, split_statements
from storage.models import SubjectKind
from storage.sqlite import _InlineConnection, _ReadConnection, migrate
from storage.subjects import add_subject, get_subject, list_subjects

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


async def _schema(conn: Connection) -> list[tuple[str, str, str]]:
    async with conn.execute(
        "SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name"
    ) as cur:
        return [tuple(row) for row in await cur.fetchall()]


async def _applied(conn: Connection) -> list[tuple[str, str]]:
    async with conn.execute("SELECT name, applied_at FROM schema_migrations ORDER BY name") as cur:
        return [tuple(row) for row in await cur.fetchall()]


async def _pragma(conn: Connection, name: str) -> object:
    async with conn.execute(f"PRAGMA {name}") as cur:
        row = await cur.fetchone()
    assert row is not None
    return row[0]


async def test_open_creates_the_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "bot.sqlite3"
    db = await Database.open(path)
    try:
        assert path.exists()
        assert await _pragma(db.conn, "journal_mode") == "wal"
        assert await _pragma(db.conn, "foreign_keys") == 1
        assert await _pragma(db.conn, "synchronous") == 1  # NORMAL
        assert await _pragma(db.conn, "busy_timeout") == 5000
    finally:
        await db.close()


async def test_synchronous_full_is_offered(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "full.sqlite3", synchronous="FULL")
    try:
        assert await _pragma(db.conn, "synchronous") == 2
    finally:
        await db.close()


async def test_an_unknown_synchronous_level_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        await Database.open(tmp_path / "x.sqlite3", synchronous="OFF")  # type: ignore[arg-type]


async def test_migrations_are_recorded_and_applying_them_twice_changes_nothing(
    sqlite_db: Database,
) -> None:
    db = sqlite_db
    applied = await _applied(db.conn)
    assert [name for name, _ in applied] == [
        "0001_initial.sql",
        "0002_outbox_lease.sql",
        "0003_unlinkable.sql",
        "0004_disclosures.sql",
        "0005_prompt_pending.sql",
        "0006_session_completions.sql",
        "0008_inbox.sql",
        "0009_dashboard.sql",
        "0010_menu_buttons.sql",
        "0011_schedule_runs.sql",
        "0012_pending_thanks.sql",
        "0013_one_trip_writes.sql",
        "0014_one_trip_starts.sql",
    ]
    schema = await _schema(db.conn)
    async with db.transaction() as conn:
        await add_subject(
            conn,
            slug="sales",
            kind=SubjectKind.DEPARTMENT,
            names={"en": "Sales"},
            survey_id="internal",
            now=NOW,
        )

    conn = db.conn
    assert isinstance(conn, _InlineConnection | _ReadConnection)  # what migrate() takes
    assert await migrate(conn) == []
    assert await migrate(conn) == []

    assert await _schema(db.conn) == schema
    assert await _applied(db.conn) == applied
    assert [s.slug for s in await list_subjects(db.conn)] == ["sales"]


async def test_reopening_a_file_database_keeps_schema_and_rows(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    first = await Database.open(path)
    async with first.transaction() as conn:
        await add_subject(
            conn,
            slug="sales",
            kind=SubjectKind.DEPARTMENT,
            names={"en": "Sales"},
            survey_id="internal",
            now=NOW,
        )
    schema, applied = await _schema(first.conn), await _applied(first.conn)
    await first.close()

    second = await Database.open(path)
    try:
        assert await _schema(second.conn) == schema
        assert await _applied(second.conn) == applied
        assert await get_subject(second.conn, "sales") is not None
    finally:
        await second.close()


def test_split_statements_understands_comments_and_triggers() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (x INTEGER);
    CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN
        UPDATE t SET x = x + 1;
    END;
    -- trailing comment
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


async def test_a_failing_transaction_rolls_back(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await add_subject(
                conn,
                slug="sales",
                kind=SubjectKind.DEPARTMENT,
                names={"en": "Sales"},
                survey_id="internal",
                now=NOW,
            )
            raise RuntimeError("boom")
    assert await get_subject(db.conn, "sales") is None
    if db.dialect == "sqlite":
        conn = db.conn
        assert isinstance(conn, _InlineConnection)  # in memory: the writer's own connection
        assert not conn.in_transaction


async def test_concurrent_transactions_do_not_interleave(db: Database) -> None:
    """A task's rollback must not take another task's writes with it."""
    inside = asyncio.Event()

    async def failing() -> None:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await add_subject(
                    conn,
                    slug="doomed",
                    kind=SubjectKind.PRODUCT,
                    names={"en": "D"},
                    survey_id="external",
                    now=NOW,
                )
                inside.set()
                await asyncio.sleep(0.05)  # the other task runs meanwhile
                raise RuntimeError("boom")

    async def succeeding() -> None:
        await inside.wait()
        async with db.transaction() as conn:
            await add_subject(
                conn,
                slug="kept",
                kind=SubjectKind.PRODUCT,
                names={"en": "K"},
                survey_id="external",
                now=NOW,
            )

    await asyncio.gather(failing(), succeeding())
    assert [s.slug for s in await list_subjects(db.conn)] == ["kept"]


def test_encode_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        encode_time(NOW.replace(tzinfo=None))


# The crash test's writer: answers in a loop, each committed (with its update id) before
# it is printed, until it is killed.
_WRITER = """
import asyncio, json, sys
from datetime import UTC, datetime
from storage.db import Database
from storage.models import SubjectKind
from storage.sessions import save_state, start_session
from storage.subjects import add_subject
from storage.updates import mark_processed
from surveys.schema import Audience

async def main(path):
    db = await Database.open(path)
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        subject = await add_subject(conn, slug="sales", kind=SubjectKind.DEPARTMENT,
                                    names={"en": "Sales"}, survey_id="internal", now=now)
        session = await start_session(
            conn, respondent_id=1, chat_id=1, survey_id="internal", survey_version=1,
            subject_id=subject.id, audience=Audience.INTERNAL, role="employee",
            state_json="[]", now=now, week_key="2026-W48")
    print("ready", session.id, flush=True)
    answers = []
    while True:
        answers.append(len(answers))
        async with db.transaction() as conn:
            await mark_processed(conn, answers[-1], now=now)
            await save_state(conn, session.id, state_json=json.dumps(answers), now=now)
        print(answers[-1], flush=True)

asyncio.run(main(sys.argv[1]))
"""


async def test_every_committed_answer_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite3"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    # A plain Popen read from a thread: asyncio's child watcher can report 255 instead of
    # the signal when another test's loop reaps children, which would make this flaky.
    process = subprocess.Popen(  # noqa: ASYNC220 - see above
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    lines: list[str] = []
    stdout = process.stdout

    def read_all() -> None:
        for line in iter(stdout.readline, b""):
            lines.append(line.decode())

    try:
        first = await asyncio.wait_for(asyncio.to_thread(stdout.readline), timeout=30)
        assert first.startswith(b"ready"), process.stderr.read().decode()
        lines.append(first.decode())
        reader = asyncio.create_task(asyncio.to_thread(read_all))
        await asyncio.sleep(0.5)
        assert process.poll() is None, "the writer stopped by itself"
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(reader, timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL

    session_id = int(lines[0].split()[1])
    # A line cut short by the kill has no newline: only whole lines were surely printed.
    printed = [int(line) for line in lines[1:] if line.endswith("\n")]
    assert len(printed) > 10, "the writer committed too few answers to test anything"
    assert printed == list(range(len(printed)))

    db = await Database.open(path)
    try:
        assert await _pragma(db.conn, "integrity_check") == "ok"
        async with db.conn.execute(
            "SELECT state_json FROM sessions WHERE id = ?", (session_id,)
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        saved = json.loads(row[0])
        assert saved[: len(printed)] == printed
        async with db.conn.execute("SELECT update_id FROM processed_updates") as cur:
            processed = {r[0] for r in await cur.fetchall()}
        assert set(printed) <= processed
    finally:
        await db.close()
