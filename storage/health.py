"""What /healthz asks the database: which migrations are applied, whether a new
connection can take the SQLite write lock, whether PostgreSQL takes writes."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from storage.connection import Connection
from storage.db import migration_names


async def applied_migrations(conn: Connection) -> set[str]:
    """The names in schema_migrations, through an open connection (either backend)."""
    async with conn.execute("SELECT name FROM schema_migrations") as cursor:
        return {str(row[0]) for row in await cursor.fetchall()}


async def postgres_problem(conn: Connection) -> str | None:
    """None when the PostgreSQL server behind `conn` takes writes (not a standby in
    recovery, not read-only: after a fail-over the old address may lead to one) and is
    migrated; else the reason in one line. The webhook must commit each update before it
    answers, so a server that only reads is not healthy."""
    async with conn.execute(
        "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
    ) as cursor:
        row = await cursor.fetchone()
    if row is not None and row[0]:
        return "database is a standby in recovery: it takes no writes"
    if row is not None and row[1] == "on":
        return "database is read-only (transaction_read_only is on)"
    return migrations_behind(await applied_migrations(conn))


def sqlite_file_problem(path: str) -> str | None:
    """None when the SQLite file is there, writable by a new connection and migrated;
    else the reason in one line. A new connection, not the bot's: an open one keeps
    reading a file that was deleted or replaced. Blocking: run it in a thread."""
    if not Path(path).is_file():
        return "database file is missing"
    try:
        # mode=rw: a missing file is an error, never a new empty database.
        uri = f"file:{path}?mode=rw"
        with closing(sqlite3.connect(uri, uri=True, timeout=1.0, isolation_level=None)) as conn:
            # The write lock, taken and given back (nothing is written): a database another
            # process keeps locked cannot take the webhook's updates.
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute("SELECT name FROM schema_migrations").fetchall()
            finally:
                conn.execute("ROLLBACK")
            applied = {str(row[0]) for row in rows}
    except sqlite3.Error as exc:
        return f"database error: {exc}"
    return migrations_behind(applied)


def migrations_behind(applied: set[str]) -> str | None:
    """The migrations this version knows that `applied` lacks, as one line (None: none)."""
    missing = [name for name in migration_names() if name not in applied]
    return f"migrations not applied: {', '.join(missing)}" if missing else None
