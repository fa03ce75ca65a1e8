"""The database: opening it with the right pragmas, migrations and serialized write transactions."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Literal

import aiosqlite

Synchronous = Literal["NORMAL", "FULL"]

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 5000


# --- helpers shared by the repositories -------------------------------------------------


def encode_time(moment: datetime) -> str:
    """A timezone-aware datetime as fixed-width ISO-8601 UTC text (sorts like time)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: storage needs timezone-aware times")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def decode_time(text: str) -> datetime:
    """The datetime stored by `encode_time`."""
    return datetime.fromisoformat(text)


def decode_optional_time(text: str | None) -> datetime | None:
    """`decode_time`, passing None through."""
    return None if text is None else decode_time(text)


def placeholders(values: Sequence[object]) -> str:
    """The "?, ?, ?" of an `IN (...)` list of `values` (at least one)."""
    if not values:
        raise ValueError("an IN list needs at least one value")
    return ", ".join("?" * len(values))


# --- migrations -------------------------------------------------------------------------


def _migration_files() -> list[tuple[str, str]]:
    """(file name, SQL) of every migration, in file-name order."""
    folder = resources.files("storage") / "migrations"
    files = [f for f in folder.iterdir() if f.name.endswith(".sql")]
    return [(f.name, f.read_text(encoding="utf-8")) for f in sorted(files, key=lambda f: f.name)]


def split_statements(script: str) -> list[str]:
    """The statements of an SQL script (sqlite3 decides where one ends, so triggers work).

    `executescript` cannot be used: it commits any open transaction first, and each
    migration must be applied inside its own."""
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if _has_code(buffer):
                statements.append(buffer.strip())
            buffer = ""
    if _has_code(buffer.rstrip(";")):
        raise ValueError(f"incomplete SQL statement at the end: {buffer.strip()[:80]!r}")
    return statements


def _has_code(sql: str) -> bool:
    lines = (line.split("--", 1)[0].strip() for line in sql.splitlines())
    return any(line.strip(";").strip() for line in lines)


async def migrate(conn: aiosqlite.Connection) -> list[str]:
    """Apply the migrations not applied yet, each in its own transaction; return their names.

    Idempotent, and safe when two processes (the bot and the CLI) start together:
    whether a migration is applied is re-checked inside its write transaction."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    applied: list[str] = []
    for name, script in _migration_files():
        statements = split_statements(script)
        await conn.execute("BEGIN IMMEDIATE")
        try:
            async with conn.execute(
                "SELECT 1 FROM schema_migrations WHERE name = ?", (name,)
            ) as cursor:
                done = await cursor.fetchone() is not None
            if not done:
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (name, encode_time(datetime.now(UTC))),
                )
                applied.append(name)
        except BaseException:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
    return applied


# --- the database -----------------------------------------------------------------------


class Database:
    """One aiosqlite connection shared by all tasks of a process.

    Writers go through `transaction()`, which serializes them with a lock: on a shared
    connection two interleaved multi-statement transactions would otherwise become one.
    Reads may use `conn` directly; note that a read issued while another task's
    transaction is open runs inside it and may see its uncommitted rows."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> Database:
        """Open (creating the file and its folder on first use) and migrate a database.

        `path` may be ":memory:" for a private in-memory database (tests)."""
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        target = str(path)
        if target != MEMORY:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, so every transaction is an explicit BEGIN.
        conn = await aiosqlite.connect(target, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            # WAL: readers never block the writer and a commit is one sequential append.
            await conn.execute("PRAGMA journal_mode=WAL")
            # Foreign keys are off by default in SQLite; the schema relies on them.
            await conn.execute("PRAGMA foreign_keys=ON")
            # The CLI and the bot share the file: wait for the other's write lock
            # instead of failing at once with "database is locked".
            await conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a committed
            # transaction survives a crash of the *process* (it is in the WAL file, which
            # the OS keeps), and only an OS crash or power loss can lose the last commits
            # (never corrupting the file). FULL syncs the WAL at every commit and survives
            # those too, at the cost of one fsync per answer.
            await conn.execute(f"PRAGMA synchronous={synchronous}")
            await migrate(conn)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, target)

    @property
    def conn(self) -> aiosqlite.Connection:
        """The connection, for reads (writes go through `transaction()`)."""
        return self._conn

    async def close(self) -> None:
        """Close the connection (waits for a running transaction to finish)."""
        async with self._lock:
            await self._conn.close()

    def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """`async with db.transaction() as conn:` — one serialized write transaction.

        BEGIN IMMEDIATE takes SQLite's write lock up front, so a transaction never fails
        half-way for lack of it; commits on success, rolls back on any exception."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise
            try:
                await self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise
