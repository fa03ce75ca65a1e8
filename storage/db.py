"""The database interface of both backends (`Database.open` picks SQLite or PostgreSQL),
and what the storage functions share: time encoding, placeholders, SQL scripts."""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

from storage.connection import Connection, SyncConnection

Synchronous = Literal["NORMAL", "FULL"]
T = TypeVar("T")

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 5000
# How long a batch of SQLite transaction blocks may stay open gathering more blocks before
# it is committed (sooner once no new block joins it; see storage.sqlite).
MAX_BATCH_DELAY = 0.005


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


def migration_names() -> list[str]:
    """The file names of every migration this version knows, in the order applied (the
    same names on both backends: PostgreSQL records its baseline under them)."""
    folder = resources.files("storage") / "migrations"
    return sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))


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


# --- the interface ----------------------------------------------------------------------


def read_in_thread(conn: Connection, fn: Callable[[SyncConnection], T]) -> Awaitable[T]:
    """Run `fn(connection)`, a synchronous function doing several reads, in one go where
    `conn` runs them: for reports (a digest's aggregates), whose queries are too heavy
    for `conn`'s inline reads and would only be interrupted and redone.

    `conn` is `Database.conn` or a transaction's connection. With a file database's
    `conn`, `fn` runs on the reader's thread with its sqlite3 connection, the whole
    function in one trip, none of it on the event loop's thread, and is queued at once:
    the caller may do other work before awaiting the result. With an in-memory
    database's `conn`, or a transaction's connection (inside the transaction, seeing
    its writes), it runs at once, inline, as every read there does. On PostgreSQL `fn`
    runs on a thread whose statements go through the loop's connection pool. Rows come
    back as plain tuples. `fn` must only read, and must not keep the connection or its
    cursors once it returns."""
    return conn.read_in_thread(fn)


def read_at_once(conn: Connection, fn: Callable[[SyncConnection], T]) -> Awaitable[T]:
    """Run `fn(connection)`, a synchronous function doing a few small reads, at once on
    the event loop's thread, as `conn` runs a SELECT: within INLINE_READ_BUDGET, on the
    connection `conn` keeps for that; if the budget runs out (or the database is busy)
    `fn` is abandoned and run again on the reader's thread. For a report the caller
    knows to be small; `read_in_thread` is for the others, which would only be
    interrupted and redone. Rows come back as plain tuples; `fn` must only read (it may
    run twice), and must not keep the connection or its cursors once it returns."""
    return conn.read_at_once(fn)


class Database(ABC):
    """The database of one process, whichever backend: `conn` for reads, `transaction()`
    for writes, `read_in_thread`/`read_at_once` for reports. `Database.open(target)`
    opens (and migrates) SQLite for a path, PostgreSQL for a postgresql:// URL; the rest
    of the code never asks which."""

    path: str
    dialect: str

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        max_batch_delay: float = MAX_BATCH_DELAY,
    ) -> Database:
        """Open (creating the file and its folder on first use) and migrate a database.

        `path` may be ":memory:" for a private in-memory database (tests), or a
        postgresql:// URL (`synchronous`, `busy_timeout_ms` and `max_batch_delay`, see
        MAX_BATCH_DELAY, are SQLite's)."""
        target = str(path)
        # Imports pointing back: each backend subclasses Database, so it imports this
        # module; only the backend chosen here is loaded (asyncpg only for PostgreSQL).
        if is_postgres_url(target):
            from storage.postgres import PostgresDatabase  # a backend: see above

            return await PostgresDatabase.connect(target)
        from storage.sqlite import SqliteDatabase  # a backend: see above

        return await SqliteDatabase.open_sqlite(
            target,
            synchronous=synchronous,
            busy_timeout_ms=busy_timeout_ms,
            max_batch_delay=max_batch_delay,
        )

    @property
    @abstractmethod
    def conn(self) -> Connection:
        """The connection for reads (writes go through `transaction()`)."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """`async with db.transaction() as conn:` — one write transaction, committed
        (durable) when the block ends, rolled back by an exception."""

    @abstractmethod
    def one_statement(self) -> AbstractAsyncContextManager[Connection]:
        """`async with db.one_statement() as conn:` — for a storage function whose write
        is a single statement on PostgreSQL (a conditional write, or a call of one of
        the functions PostgreSQL's migrations define), atomic by itself.

        On PostgreSQL the block gets a pooled connection outside any transaction: each
        statement commits on its own (autocommit), one round trip instead of BEGIN, the
        statement and COMMIT, which under load is most of an update's cost (bench/burst).
        On SQLite it is a `transaction()` block: commits are grouped there, so a
        function may still run several statements, as they are atomic together."""

    def read_in_thread(self, fn: Callable[[SyncConnection], T]) -> Awaitable[T]:
        """`fn(connection)`, several reads in one go off the event loop's thread (see the
        module's `read_in_thread`): for reports."""
        return self.conn.read_in_thread(fn)

    def read_at_once(self, fn: Callable[[SyncConnection], T]) -> Awaitable[T]:
        """`fn(connection)`, a few small reads, at once where the backend can (see the
        module's `read_at_once`)."""
        return self.conn.read_at_once(fn)

    @abstractmethod
    async def scrub(self, *, vacuum: bool = True) -> None:
        """Leave no trace of past writes in the storage files (see each backend)."""

    @abstractmethod
    async def close(self) -> None:
        """Finish what is pending and close."""


def is_postgres_url(target: str) -> bool:
    """Whether a FEEDBOT_DATABASE value names a PostgreSQL server (else an SQLite path)."""
    return target.startswith(("postgresql://", "postgres://"))
