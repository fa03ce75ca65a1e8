"""GET /healthz's check on PostgreSQL: a server that takes writes and is migrated is
healthy; one that is behind on migrations, read-only or cannot be reached is not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from bot.web.health import database_check
from storage.db import Database
from storage.health import postgres_problem
from storage.postgres import PostgresDatabase
from tests.backends import POSTGRES_ON, postgres_url
from tests.test_cli_errors import closed_port

pytestmark = pytest.mark.skipif(not POSTGRES_ON, reason="FEEDBOT_TEST_POSTGRES=off")


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    async with postgres_url() as url:
        database = await Database.open(url)
        try:
            yield database
        finally:
            await database.close()


async def test_a_migrated_server_that_takes_writes_is_healthy(db: Database) -> None:
    assert await database_check(db)() is None


async def test_a_server_behind_on_migrations_is_not(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "DELETE FROM schema_migrations WHERE name = ?", ("0011_schedule_runs.sql",)
        )
    assert await database_check(db)() == "migrations not applied: 0011_schedule_runs.sql"


async def test_a_read_only_server_is_not(db: Database) -> None:
    # As a fail-over can leave the bot's address on a server that takes no writes.
    async with db.transaction() as conn:
        await conn.execute("SET LOCAL transaction_read_only = on")
        assert await postgres_problem(conn) == (
            "database is read-only (transaction_read_only is on)"
        )


async def test_a_server_that_went_away_is_one_line() -> None:
    # A pool whose server is gone: every new connection is refused.
    url = f"postgresql://feedbot:s3cret@127.0.0.1:{closed_port()}/feedbot"
    pool = await asyncpg.create_pool(url, min_size=0, max_size=1)
    db = PostgresDatabase(pool, url)
    try:
        problem = await database_check(db)()
    finally:
        await db.close()
    assert problem is not None and problem.startswith("the connection to the database was lost")
    assert "\n" not in problem and "s3cret" not in problem
