"""PostgreSQL's scrub: afterwards neither the row order nor the writing transactions of
answered markers, responses and answers tell in which order people answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from storage.db import Database
from storage.models import SubjectKind
from storage.subjects import add_subject
from tests.backends import POSTGRES_ON, postgres_url

pytestmark = pytest.mark.skipif(not POSTGRES_ON, reason="FEEDBOT_TEST_POSTGRES=off")

# Response ids (random in the bot) and markers, in the order people answered.
ANSWERED = [(9001, "m-c"), (3001, "m-a"), (7001, "m-d"), (5001, "m-b")]


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    async with postgres_url() as url:
        database = await Database.open(url)
        try:
            yield database
        finally:
            await database.close()


async def _layout(db: Database, table: str, key: str) -> tuple[list[object], set[object]]:
    """The table's keys in the order its rows lie, and the transactions that wrote them."""
    async with db.conn.execute(f"SELECT {key}, xmin::text FROM {table} ORDER BY ctid") as cursor:
        rows = await cursor.fetchall()
    return [row[0] for row in rows], {row[1] for row in rows}


async def _files(db: Database) -> dict[str, int]:
    async with db.conn.execute(
        "SELECT relname::text, pg_relation_filenode(oid)::bigint FROM pg_class"
        " WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
    ) as cursor:
        return {str(row[0]): int(row[1]) for row in await cursor.fetchall()}


async def _answer(db: Database, subject_id: int, now: datetime) -> None:
    for response_id, marker in ANSWERED:  # one transaction each, as the bot does
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO answered_markers (marker) VALUES (?)", (marker,))
            await conn.execute(
                "INSERT INTO responses (id, subject_id, survey_id, survey_version, audience,"
                " week_key, status, submitted_at)"
                " VALUES (?, ?, 'internal', 1, 'internal', '2026-W48', 'completed', ?)",
                (response_id, subject_id, now),
            )
            for position in (1, 0):
                await conn.execute(
                    "INSERT INTO answers (response_id, position, question_id, question_type,"
                    " number) VALUES (?, ?, ?, 'rating', ?)",
                    (response_id, position, f"q{position}", response_id % 5),
                )


async def test_scrub_rewrites_the_answers_tables_in_key_order_in_one_transaction(
    db: Database, now: datetime
) -> None:
    async with db.transaction() as conn:
        subject = await add_subject(
            conn,
            slug="sales",
            kind=SubjectKind.DEPARTMENT,
            names={"en": "Sales"},
            survey_id="internal",
            now=now,
        )
    await _answer(db, subject.id, now)
    async with db.conn.execute("SELECT * FROM answers ORDER BY response_id, position") as c:
        answers_before = [tuple(row) for row in await c.fetchall()]
    # Before: rows lie in the order answered, each written by its own transaction.
    markers, writers = await _layout(db, "answered_markers", "marker")
    assert markers == [marker for _, marker in ANSWERED] and len(writers) == len(ANSWERED)

    files_before = await _files(db)
    await db.scrub()

    for table, key, expected in [
        ("answered_markers", "marker", sorted(m for _, m in ANSWERED)),
        ("responses", "id", sorted(r for r, _ in ANSWERED)),
        ("answers", "response_id", sorted(r for r, _ in ANSWERED for _ in (0, 1))),
    ]:
        keys, writers = await _layout(db, table, key)
        assert keys == expected, table
        assert len(writers) == 1, table  # one transaction wrote them all
    async with db.conn.execute("SELECT * FROM answers ORDER BY response_id, position") as c:
        assert [tuple(row) for row in await c.fetchall()] == answers_before
    # Every table has a new file, holding only its live rows: the old row versions
    # (these, deleted sessions, erased update bodies) are gone with the old files.
    assert not set(files_before.items()) & set((await _files(db)).items())
