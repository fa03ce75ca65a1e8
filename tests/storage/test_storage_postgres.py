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
