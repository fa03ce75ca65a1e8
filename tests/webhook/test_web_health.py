"""GET /healthz: 200 while the database answers with a current schema, 503 otherwise."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from tests.webhook.conftest import Hooked


def database_file(hooked: Hooked) -> Path:
    return Path(hooked.world.services.db.path)


async def test_healthz_answers_200_when_the_database_is_current(hooked: Hooked) -> None:
    response = await hooked.client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok\n"


def _forget_migration(path: Path, name: str) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM schema_migrations WHERE name = ?", (name,))


async def test_healthz_answers_503_when_migrations_are_behind(hooked: Hooked) -> None:
    # Off the event loop: the bot's writer commits on it, and a blocked loop would keep
    # its lock from being released.
    await asyncio.to_thread(_forget_migration, database_file(hooked), "0008_inbox.sql")
    response = await hooked.client.get("/healthz")
    assert response.status_code == 503
    assert "0008_inbox.sql" in response.text


async def test_healthz_answers_503_when_the_database_file_is_gone(hooked: Hooked) -> None:
    path = database_file(hooked)
    moved = path.with_name("moved.sqlite3")
    path.rename(moved)  # the bot's open connections still read the old file
    try:
        response = await hooked.client.get("/healthz")
        assert response.status_code == 503
        assert "missing" in response.text
        assert not path.exists()  # the check did not create an empty database
    finally:
        moved.rename(path)
    assert (await hooked.client.get("/healthz")).status_code == 200


async def test_healthz_answers_503_while_another_process_locks_the_database(
    hooked: Hooked,
) -> None:
    locker = sqlite3.connect(database_file(hooked), isolation_level=None, check_same_thread=False)
    try:
        # Another process (a stuck CLI, a backup tool) holding the write lock.
        await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
        await asyncio.to_thread(locker.execute, "UPDATE schema_migrations SET name = name")
        response = await hooked.client.get("/healthz")
        assert response.status_code == 503
        assert "locked" in response.text
    finally:
        if locker.in_transaction:
            locker.execute("ROLLBACK")
        locker.close()
    assert (await hooked.client.get("/healthz")).status_code == 200
