"""What only the PostgreSQL backend has: its schema (the same as SQLite's, in PostgreSQL's
own types), its migrations, and one-line errors when the server cannot be reached."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from storage import postgres
from storage.connection import DatabaseUnavailable
from storage.db import Database
from tests.backends import POSTGRES_ON, postgres_url

pytestmark = pytest.mark.skipif(
    not POSTGRES_ON, reason="FEEDBOT_TEST_POSTGRES=off: the PostgreSQL half was left out"
)
COVERED = [
    "0001_initial.sql",
    "0002_outbox_lease.sql",
    "0003_unlinkable.sql",
    "0004_disclosures.sql",
    "0005_prompt_pending.sql",
]


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with postgres_url() as address:
        yield address


async def _rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    """The rows as tuples of whatever the driver returns (both drivers' values are Any)."""
    async with db.conn.execute(sql) as cursor:
        return [tuple(row) for row in await cursor.fetchall()]


async def test_the_schema_has_sqlites_tables_and_columns_in_postgresql_types(url: str) -> None:
    sqlite = await Database.open(":memory:")
    pg = await Database.open(url)
    try:
        lite_tables = await _rows(
            sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        pg_tables = await _rows(
            pg,
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() ORDER BY table_name",
        )
        assert [t for (t,) in pg_tables] == [t for (t,) in lite_tables]
        for (table,) in lite_tables:
            lite_columns = [row[1] for row in await _rows(sqlite, f"PRAGMA table_info({table})")]
            pg_columns = await _rows(
                pg,
                "SELECT column_name, data_type FROM information_schema.columns"
                f" WHERE table_schema = current_schema() AND table_name = '{table}'"
                " ORDER BY ordinal_position",
            )
            assert sorted(c for c, _ in pg_columns) == sorted(lite_columns), table
            types = dict(pg_columns)
            for column, kind in types.items():
                name = str(column)
                if name.endswith(("_at", "_until")) or name in ("first_seen", "since"):
                    assert kind == "timestamp with time zone", (table, name)
                if name in ("telegram_id", "chat_id", "respondent_id", "update_id"):
                    assert kind == "bigint", (table, name)
        flags = await _rows(
            pg,
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND data_type = 'boolean' ORDER BY table_name, column_name",
        )
        assert ("prompt_pending",) in flags and ("archived",) in flags
    finally:
        await sqlite.close()
        await pg.close()


async def test_migrations_are_recorded_once_even_when_two_instances_start_together(
    url: str,
) -> None:
    first, second = await asyncio.gather(Database.open(url), Database.open(url))
    try:
        applied = await _rows(first, "SELECT name FROM schema_migrations ORDER BY name")
        later = [name for name, _ in postgres.migration_files()]
        assert [name for (name,) in applied] == COVERED + later
        assert isinstance(first, postgres.PostgresDatabase)
        assert await postgres.migrate(first._pool) == []
        assert await _rows(second, "SELECT name FROM schema_migrations ORDER BY name") == applied
    finally:
        await first.close()
        await second.close()


async def test_placeholders_are_numbered_outside_quotes_only() -> None:
    assert postgres.numbered("SELECT ? WHERE a = '?' AND b = ?") == (
        "SELECT $1 WHERE a = '?' AND b = $2"
    )


async def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        # Port 1 on the loopback: nothing listens there.
        await Database.open("postgresql://feedbot:hunter2@127.0.0.1:1/feedbot")
    message = str(caught.value)
    assert "\n" not in message and "hunter2" not in message
    assert "postgresql://feedbot:***@127.0.0.1:1/feedbot cannot be reached" in message


async def _pool_of(url: str, size: int) -> postgres.PostgresDatabase:
    return await postgres.PostgresDatabase.connect(url, pool_size=size)


async def _sleep_and_read(db: Database, value: int) -> int:
    async with db.conn.execute("SELECT ?::int FROM pg_sleep(0.02)", (value,)) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_more_statements_than_connections_each_get_one_in_turn(url: str) -> None:
    # Two connections, 30 statements and blocks at once: the ones finding both busy wait
    # for the next one given back (none waits forever on the pool, whose connections
    # are kept between statements).
    db = await _pool_of(url, 2)
    try:

        async def block(value: int) -> int:
            async with db.transaction() as conn:
                await conn.execute("SELECT pg_sleep(0.01)")
                async with conn.execute("SELECT ?::int", (value,)) as cursor:
                    row = await cursor.fetchone()
            assert row is not None
            return int(row[0])

        work = [_sleep_and_read(db, n) if n % 2 else block(n) for n in range(30)]
        assert await asyncio.wait_for(asyncio.gather(*work), 60) == list(range(30))
    finally:
        await db.close()


async def test_a_caller_cancelled_while_waiting_for_a_connection_loses_none(url: str) -> None:
    db = await _pool_of(url, 1)
    try:
        first = asyncio.ensure_future(_sleep_and_read(db, 1))
        waiting = asyncio.ensure_future(_sleep_and_read(db, 2))
        third = asyncio.ensure_future(_sleep_and_read(db, 3))
        await asyncio.sleep(0.005)
        waiting.cancel()
        assert await asyncio.wait_for(asyncio.gather(first, third), 30) == [1, 3]
        assert waiting.cancelled()
        # The one connection is still there for the next statements.
        assert await asyncio.wait_for(_sleep_and_read(db, 4), 30) == 4
    finally:
        await db.close()


async def test_a_kept_connection_the_server_ended_is_replaced(url: str) -> None:
    db = await _pool_of(url, 1)
    try:
        pid = (await _rows(db, "SELECT pg_backend_pid()"))[0][0]
        admin = await _pool_of(url, 1)
        try:
            await _rows(admin, f"SELECT pg_terminate_backend({int(pid)})")
        finally:
            await admin.close()
        # The kept connection is gone: a statement on it fails as any lost connection
        # does (one line), and the next one runs on a new connection of the pool.
        outcomes: list[object] = []
        for _ in range(3):
            try:
                outcomes.append((await _rows(db, "SELECT pg_backend_pid()"))[0][0])
            except DatabaseUnavailable as exc:
                outcomes.append(str(exc))
        assert outcomes[-1] != pid and isinstance(outcomes[-1], int)
        assert all(
            isinstance(o, int) or "the connection to the database was lost" in str(o)
            for o in outcomes
        )
    finally:
        await db.close()


async def test_a_closed_database_refuses_statements(url: str) -> None:
    db = await _pool_of(url, 2)
    await _rows(db, "SELECT 1")
    await db.close()
    with pytest.raises(Exception, match=r"pool is (closed|closing)"):
        await _rows(db, "SELECT 1")


@pytest.mark.parametrize(
    "moment",
    [
        "2026-11-25 10:30:00+00",
        "2026-11-25 10:30:00.5+00",
        "2026-11-25 10:30:00.000001+00",
        "2026-11-25 23:59:59.999999+00",
        "0999-01-02 03:04:05.06+00",
    ],
)
async def test_moments_read_back_as_sqlites_text(moment: str) -> None:
    from datetime import datetime

    from storage.db import encode_time

    assert postgres._decode_moment(moment) == encode_time(datetime.fromisoformat(moment))


async def test_moments_read_from_the_server_match_sqlites_text(url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from storage.db import encode_time

    db = await _pool_of(url, 1)
    try:
        start = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
        moments = [start + timedelta(microseconds=n * 123_457) for n in range(40)]
        moments.append(datetime(1, 1, 1, tzinfo=UTC))
        for moment in moments:
            read = await _rows(db, f"SELECT '{encode_time(moment)}'::timestamptz")
            assert read[0][0] == encode_time(moment)
    finally:
        await db.close()
