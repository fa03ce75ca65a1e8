"""Migration 0003 moves a database of the old form (pseudonyms in responses, ended sessions
kept) to the unlinkable one, scrubbing what it must, and the digest numbers stay the same."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from storage.aggregates import Reads
from storage.db import Database, split_statements
from storage.sqlite import _InlineConnection, _ReadConnection, migrate
from tests.reads import read

SECRET = b"migration-secret"
W47, W48 = "2026-W47", "2026-W48"
WEEK_START = {W47: "2026-11-16T00:00:00.000000+00:00", W48: "2026-11-23T00:00:00.000000+00:00"}
SALES, COFFEE = 1, 2


def pseudonym(telegram_id: int, subject_id: int, key: str) -> str:
    """What the bot stored in responses.pseudonym (bot.services.Services.pseudonym)."""
    message = f"respondent:{telegram_id}:{subject_id}:{key}".encode()
    return hmac.new(SECRET, message, hashlib.sha256).hexdigest()


def _old_database(path: Path) -> None:
    """A database at migration 0002 with a fortnight of traffic, written as the old code did."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    folder = resources.files("storage") / "migrations"
    for name in ("0001_initial.sql", "0002_outbox_lease.sql"):
        for statement in split_statements((folder / name).read_text(encoding="utf-8")):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, '2026-11-01T00:00:00+00:00')", (name,)
        )
    conn.executemany(
        "INSERT INTO subjects (id, slug, kind, names_json, survey_id, created_at)"
        " VALUES (?, ?, ?, '{}', ?, '2026-11-01T00:00:00+00:00')",
        [(SALES, "sales", "department", "internal"), (COFFEE, "coffee", "product", "external")],
    )
    session_id = 0

    def session(subject: int, week: str, status: str, started: str, **active: object) -> None:
        nonlocal session_id
        session_id += 1
        audience = "internal" if subject == SALES else "external"
        conn.execute(
            "INSERT INTO sessions (id, respondent_id, chat_id, survey_id, survey_version,"
            " subject_id, audience, role, state_json, status, started_at, updated_at,"
            " message_id, week_key) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                active.get("respondent"),
                active.get("respondent"),
                audience,
                subject,
                audience,
                "employee" if subject == SALES else None,
                active.get("state", "{}"),
                status,
                started,
                started,
                active.get("message"),
                week,
            ),
        )

    response_id = 0

    def response(
        subject: int,
        week: str,
        who: int,
        at: str,
        status: str,
        answers: list[tuple[str, float | None, str | None, str | None]],
        *,
        role: str | None = None,
        contact: int | None = None,
    ) -> None:
        nonlocal response_id
        response_id += 1
        audience = "internal" if subject == SALES else "external"
        conn.execute(
            "INSERT INTO responses (id, subject_id, survey_id, survey_version, audience,"
            " week_key, unique_key, pseudonym, status, role, contact_id, submitted_at)"
            " VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                response_id,
                subject,
                audience,
                audience,
                week,
                week,
                pseudonym(who, subject, week),
                status,
                role,
                contact,
                at,
            ),
        )
        conn.executemany(
            "INSERT INTO answers (response_id, question_id, question_type, metric, number,"
            " text, choice) VALUES (?, ?, 'x', NULL, ?, ?, ?)",
            [(response_id, *answer) for answer in answers],
        )

    # Internal: seven completed (two weeks, two roles), one partial, one cancelled, one
    # abandoned without answers; an active session still running.
    for n, (week, day, rating, role) in enumerate(
        [
            (W47, 17, 4, "employee"),
            (W47, 18, 5, "contractor"),
            (W47, 19, 3, "employee"),
            (W48, 23, 2, "employee"),
            (W48, 24, 4, "employee"),
            (W48, 25, 5, "contractor"),
            (W48, 26, 4, "employee"),
        ]
    ):
        at = f"2026-11-{day}T09:{10 + n}:07.123456+00:00"
        session(SALES, week, "completed", at)
        response(
            SALES,
            week,
            1000 + n,
            at,
            "completed",
            [
                ("reliability", rating, None, None),
                ("channels", None, None, "chat" if n % 2 else "email"),
                ("channels", None, None, "phone"),
                ("comment", None, f"comment number {n} about sales", None),
            ],
            role=role,
        )
    session(SALES, W48, "abandoned", "2026-11-20T08:00:00.000000+00:00")
    response(
        SALES,
        W48,
        1100,
        "2026-11-27T08:00:00.000000+00:00",
        "partial",
        [("reliability", 1, None, None)],
        role="supplier",
    )
    session(SALES, W48, "cancelled", "2026-11-24T12:00:00.000000+00:00")
    session(SALES, W48, "abandoned", "2026-11-24T13:00:00.000000+00:00")
    session(
        SALES,
        W48,
        "active",
        "2026-11-27T15:00:00.000000+00:00",
        respondent=2000,
        state='{"answers": {"reliability": 2}}',
        message=77,
    )
    # External: three completed (one consented to contact), one still running.
    for n, (week, day, nps) in enumerate([(W47, 18, 9), (W48, 24, 3), (W48, 25, 10)]):
        at = f"2026-11-{day}T14:0{n}:00.000000+00:00"
        session(COFFEE, week, "completed", at)
        response(
            COFFEE,
            week,
            3000 + n,
            at,
            "completed",
            [("nps", nps, None, None), ("improve", None, None, "price")],
            contact=3000 + n if n == 1 else None,
        )
    session(COFFEE, W48, "active", "2026-11-27T16:00:00.000000+00:00", respondent=3100, state="{}")
    conn.close()


def _old_numbers(path: Path) -> dict[str, object]:
    """The digest numbers, by the queries of the old code (before the migration)."""
    conn = sqlite3.connect(path)
    numbers: dict[str, object] = {}
    for subject in (SALES, COFFEE):
        for weeks in ([W47], [W48], [W47, W48]):
            marks = ", ".join("?" * len(weeks))
            started = conn.execute(
                f"SELECT COUNT(*) FROM sessions WHERE subject_id = ? AND week_key IN ({marks})",
                (subject, *weeks),
            ).fetchone()[0]
            by_status = dict(
                conn.execute(
                    "SELECT status, COUNT(*) FROM responses WHERE subject_id = ?"
                    f" AND week_key IN ({marks}) GROUP BY status",
                    (subject, *weeks),
                ).fetchall()
            )
            numbers[f"{subject}{weeks}counts"] = (
                started,
                by_status.get("completed", 0),
                by_status.get("partial", 0),
            )
    conn.close()
    return numbers


def _rows(path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """The rows as tuples of what sqlite3 returns (its values are Any)."""
    conn = sqlite3.connect(path)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def _contents(path: Path, ordered: str) -> Counter[tuple[object, ...]]:
    """Each response with its answers in their order, as a multiset (ids left out)."""
    found: dict[object, list[object]] = {}
    for row in _rows(
        path,
        "SELECT r.id, r.subject_id, r.week_key, r.status, r.role, r.contact_id,"
        " a.question_id, a.number, a.text, a.choice FROM responses r"
        f" JOIN answers a ON a.response_id = r.id ORDER BY r.id, {ordered}",
    ):
        found.setdefault(row[0], list(row[1:6])).append(row[6:])
    return Counter(tuple(value) for value in found.values())


async def test_an_old_database_is_moved_to_the_unlinkable_form_and_scrubbed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feedbot.sqlite3"
    _old_database(path)
    before = _old_numbers(path)
    contents = _contents(path, "a.id")
    old_ids = {row[0] for row in _rows(path, "SELECT id FROM responses")}
    old_times = {row[0] for row in _rows(path, "SELECT submitted_at FROM responses")}
    old_markers = {
        row[0] for row in _rows(path, "SELECT pseudonym FROM responses WHERE status = 'completed'")
    }
    old_active = _rows(path, "SELECT * FROM sessions WHERE status = 'active' ORDER BY id")
    assert len(old_markers) == 10 and len(old_active) == 2

    db = await Database.open(path)
    try:
        # Applying the migrations again changes nothing.
        conn = db.conn
        assert isinstance(conn, _InlineConnection | _ReadConnection)  # what migrate() takes
        assert await migrate(conn) == []
        assert await migrate(conn) == []
        after: dict[str, object] = {}
        for subject in (SALES, COFFEE):
            for weeks in ([W47], [W48], [W47, W48]):
                counts = await read(db.conn, Reads.period_counts, subject, weeks)
                after[f"{subject}{weeks}counts"] = (
                    counts.started,
                    counts.completed,
                    counts.partial,
                )
        distributions = await read(db.conn, Reads.distributions, SALES, [W47, W48])
        roles = await read(db.conn, Reads.role_counts, SALES, [W48])
        comments = await read(db.conn, Reads.comments, SALES, [W48], limit=10)
    finally:
        await db.close()

    # The digest counts the same: sessions started, completed and partial responses.
    assert after == before
    assert distributions["reliability"] == {4: 3, 5: 2, 3: 1, 2: 1}
    assert distributions["channels"] == {"email": 4, "chat": 3, "phone": 7}
    assert roles == {"employee": 3, "contractor": 1}
    assert sorted(c.text for c in comments) == [
        f"comment number {n} about sales" for n in (3, 4, 5, 6)
    ]
    assert {c.submitted_at.isoformat() for c in comments} == {"2026-11-23T00:00:00+00:00"}

    # "Has answered" is a marker apart, the same HMAC, in a table without rowid.
    assert {row[0] for row in _rows(path, "SELECT marker FROM answered_markers")} == old_markers
    assert _rows(path, "SELECT sql FROM sqlite_master WHERE name = 'answered_markers'")[0][
        0
    ].endswith("WITHOUT ROWID")
    with pytest.raises(sqlite3.OperationalError):
        _rows(path, "SELECT rowid FROM answered_markers")
    # Responses: every one kept with its answers in order, under a new random id, without
    # pseudonym or period key; internal ones stamped with their week's start.
    columns = {row[1] for row in _rows(path, "PRAGMA table_info(responses)")}
    assert "pseudonym" not in columns and "unique_key" not in columns
    assert _contents(path, "a.position") == contents
    new_ids = [row[0] for row in _rows(path, "SELECT id FROM responses")]
    assert len(new_ids) == 11 and not set(new_ids) & old_ids
    assert all(0 < i < 2**62 and i % 2 == 1 for i in new_ids)
    for week, audience, at in _rows(path, "SELECT week_key, audience, submitted_at FROM responses"):
        if audience == "internal":
            assert at == WEEK_START[str(week)]
        else:
            assert at in old_times
    with pytest.raises(sqlite3.OperationalError):
        _rows(path, "SELECT rowid FROM answers")
    indexes = {row[0] for row in _rows(path, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "responses_one_per_period" not in indexes and "responses_submitted" not in indexes
    # Sessions: only the running ones are left, as they were; their starts are counted.
    # (0005 adds prompt_pending, FALSE for sessions older than it.)
    sessions = _rows(path, "SELECT * FROM sessions ORDER BY id")
    assert [row[:-1] for row in sessions] == old_active
    assert [row[-1] for row in sessions] == [0] * len(old_active)
    assert _rows(path, "SELECT seq FROM sqlite_sequence WHERE name = 'sessions'") == [(15,)]
    _assert_scrubbed(path, {str(at) for at in old_times if "T09:" in str(at)})


def _assert_scrubbed(path: Path, internal_times: set[str]) -> None:
    """Scrubbed from the files, not only from the tables: the exact times of internal
    responses and of ended sessions are nowhere in their bytes (secure_delete, and the
    WAL checkpointed and truncated on close)."""
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    raw = path.read_bytes()
    assert len(internal_times) == 7
    for at in internal_times:
        assert at.encode() not in raw
    assert b"2026-11-24T12:00:00.000000+00:00" not in raw  # a cancelled session's start


async def test_a_started_session_after_the_migration_never_reuses_an_old_id(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feedbot.sqlite3"
    _old_database(path)
    db = await Database.open(path)
    try:
        async with db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO sessions (respondent_id, chat_id, survey_id, survey_version,"
                " subject_id, audience, state_json, status, started_at, updated_at, week_key)"
                " VALUES (5, 5, 'internal', 1, 1, 'internal', '{}', 'active', 'x', 'x', ?)"
                " RETURNING id",
                (W48,),
            )
            # 15 sessions existed before, 13 of them ended
            row = await cursor.fetchone()
            assert row is not None and row[0] == 16
    finally:
        await db.close()
