"""The PostgreSQL backend: the storage interface of storage.db over an asyncpg pool.

asyncpg because it is the well-kept asyncio driver (MagicStack, released with each
PostgreSQL and Python version), the fastest of them (PostgreSQL's binary protocol,
prepared statements cached per connection), and it exposes what running several
instances needs: advisory locks, LISTEN/NOTIFY and COPY, all as plain SQL or methods.

The storage functions are written once, with `?` placeholders; here they are numbered
($1, $2, ...) once per distinct statement. Moments are timestamptz columns; the driver
is given a codec that reads and writes them as the fixed-width ISO-8601 UTC text
`storage.db.encode_time` produces, so the storage code (and what it returns) is the
same on both backends, byte for byte.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.connection import (
    Connection,
    DatabaseUnavailable,
    IntegrityError,
    Result,
    Statement,
    SyncConnection,
)
from storage.db import Database, encode_time
from storage.pg_connections import Kept, gone, unavailable

T = TypeVar("T")

# Taken by every `migrate` in one transaction: two instances starting together apply each
# migration once (the second waits, then finds it recorded).
MIGRATION_LOCK = 0x66656564_626F74  # "feedbot"
POOL_SIZE = 16
_RETURNS_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES)\b|\bRETURNING\b", re.IGNORECASE)


def numbered(sql: str) -> str:
    """`sql` with its `?` placeholders numbered as PostgreSQL wants them ($1, $2, ...);
    a `?` inside a quoted literal or identifier is left alone."""
    out: list[str] = []
    number = 0
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "?":
            number += 1
            out.append(f"${number}")
            continue
        out.append(char)
    return "".join(out)


@lru_cache(maxsize=1024)
def _statement(sql: str) -> tuple[str, bool]:
    """`sql` numbered, and whether it returns rows (fetch) or only a count (execute):
    worked out once per distinct statement, not on every call."""
    return numbered(sql), _RETURNS_ROWS.search(sql) is not None


def redacted(url: str) -> str:
    """The URL without its password (for messages and `Database.path`)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _encode_moment(value: str | datetime) -> str:
    # Storage passes encode_time's text; a datetime (migrate-data, tests) is accepted too.
    return encode_time(value) if isinstance(value, datetime) else value


def _decode_moment(text: str) -> str:
    """The server's text of a moment back in encode_time's form, so that decode_time,
    sorting and digests match SQLite's: "2026-11-25 10:30:00.5+00" (TimeZone is UTC on
    these connections; the fraction has no trailing zeros, and none at all when zero)
    becomes "2026-11-25T10:30:00.500000+00:00". Rewritten as text, not parsed and
    formatted again (a session row has four moments, read on every answer); any other
    shape (a year past 9999, an offset) takes the parsing way."""
    if len(text) >= 22 and text[10] == " " and text.endswith("+00") and text[4] == "-":
        fraction = text[20:-3]  # "" or the digits after the point
        return f"{text[:10]}T{text[11:19]}.{fraction:0<6}+00:00"
    return encode_time(datetime.fromisoformat(text))


async def _prepare(conn: asyncpg.Connection) -> None:
    """Each pooled connection: moments as encode_time text (see the module docstring)."""
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_encode_moment,
        decoder=_decode_moment,
        format="text",
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection given back to the pool needs beyond asyncpg's own rollback of
    an open transaction: nothing. asyncpg's default reset is one more round trip on
    every release (advisory unlock all, CLOSE ALL, UNLISTEN *, RESET ALL), and none of
    that state is ever set here: advisory locks are transaction-scoped, no LISTEN, no
    cursor outlives its statement, no SET (settings are the connection's startup ones)."""
    del conn


def _rowcount(status: str) -> int:
    """The row count of a command tag ("INSERT 0 1", "UPDATE 3", "DELETE 0")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """Errors of a server that went away as DatabaseUnavailable (storage.pg_connections
    .gone says which)."""
    try:
        yield
    except Exception as exc:
        if gone(exc):
            raise unavailable(exc) from exc
        raise


def _integrity(exc: asyncpg.IntegrityConstraintViolationError) -> IntegrityError:
    return IntegrityError(str(exc), unique=isinstance(exc, asyncpg.UniqueViolationError))


async def _run(conn: asyncpg.Connection, sql: str, parameters: Sequence[object]) -> Result:
    query, returns_rows = _statement(sql)
    try:
        if returns_rows:
            rows = await conn.fetch(query, *parameters)
            return Result(rows, len(rows))
        return Result([], _rowcount(await conn.execute(query, *parameters)))
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise _integrity(exc) from exc
    except Exception as exc:
        if gone(exc):
            raise unavailable(exc) from exc
        raise


async def _run_many(
    conn: asyncpg.Connection, sql: str, parameters: Iterable[Sequence[object]]
) -> None:
    rows = [tuple(row) for row in parameters]
    if not rows:
        return
    try:
        async with _translated():
            await conn.executemany(_statement(sql)[0], rows)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise _integrity(exc) from exc


class _Rows:
    """What a `read_in_thread` function's `execute` returns: rows as plain tuples."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchall(self) -> list[Any]:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None


class _Bridge:
    """A blocking connection for a report function run on a worker thread: each
    `execute` runs on the event loop, on `conn`, and waits for its rows. Lets the same
    synchronous report code (storage.aggregates.Reads) run on both backends."""

    __slots__ = ("_conn", "_loop")

    def __init__(self, conn: asyncpg.Connection, loop: asyncio.AbstractEventLoop) -> None:
        self._conn = conn
        self._loop = loop

    def execute(self, sql: str, parameters: Sequence[object] = (), /) -> _Rows:
        job = asyncio.run_coroutine_threadsafe(
            self._fetch(_statement(sql)[0], parameters), self._loop
        )
        return _Rows([tuple(row) for row in job.result()])

    async def _fetch(self, query: str, parameters: Sequence[object]) -> list[Any]:
        async with _translated():
            return list(await self._conn.fetch(query, *parameters))


async def _report(conn: asyncpg.Connection, fn: Callable[[SyncConnection], T]) -> T:
    loop = asyncio.get_running_loop()
    return await asyncio.to_thread(fn, _Bridge(conn, loop))


class _TransactionConnection:
    """The connection a `PostgresDatabase.transaction()` block gets (one pooled
    connection inside a transaction; reads see the block's own writes), and a
    `one_statement()` block (the same, outside a transaction: each statement commits)."""

    __slots__ = ("_conn",)
    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Statement:
        return Statement(pending=_run(self._conn, sql, parameters))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[object]]) -> None:
        await _run_many(self._conn, sql, parameters)

    def read_in_thread(self, fn: Callable[[SyncConnection], T]) -> Awaitable[T]:
        return _report(self._conn, fn)

    read_at_once = read_in_thread


class _PoolConnection:
    """`PostgresDatabase.conn`: each statement on a connection of the pool (autocommit:
    it sees committed rows only)."""

    __slots__ = ("_kept",)
    dialect = "postgresql"

    def __init__(self, kept: Kept) -> None:
        self._kept = kept

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Statement:
        return Statement(pending=self._execute(sql, parameters))

    async def _execute(self, sql: str, parameters: Sequence[object]) -> Result:
        async with self._kept.lease() as conn:
            return await _run(conn, sql, parameters)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[object]]) -> None:
        async with self._kept.lease() as conn:
            await _run_many(conn, sql, parameters)

    def read_in_thread(self, fn: Callable[[SyncConnection], T]) -> Awaitable[T]:
        # A task, so it starts now: the caller may do other reads before awaiting it.
        return asyncio.ensure_future(self._read(fn))

    async def _read(self, fn: Callable[[SyncConnection], T]) -> T:
        async with self._kept.lease() as conn:
            return await _report(conn, fn)

    # Every read is a trip to the server: nothing to gain from trying it inline first.
    read_at_once = read_in_thread


# Tables whose rows, in the order written, would tell who answered when (issue 10), with
# the key each is rewritten in; parents before children (answers reference responses).
_REWRITTEN = (
    ("answered_markers", "marker"),
    ("responses", "id"),
    ("answers", "response_id, position"),
)


async def _rewrite_in_key_order(conn: asyncpg.Connection) -> None:
    """Delete and insert again every row of the _REWRITTEN tables, in key order, in the
    caller's transaction; writes to them wait until it commits (reads go on)."""
    names = ", ".join(table for table, _ in _REWRITTEN)
    await conn.execute(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE")
    for table, _ in _REWRITTEN:
        await conn.execute(
            f"CREATE TEMPORARY TABLE scrub_{table} ON COMMIT DROP AS SELECT * FROM {table}"
        )
    for table, _ in reversed(_REWRITTEN):
        await conn.execute(f"DELETE FROM {table}")
    for table, key in _REWRITTEN:
        await conn.execute(f"INSERT INTO {table} SELECT * FROM scrub_{table} ORDER BY {key}")


class PostgresDatabase(Database):
    """A PostgreSQL database: a pool of asyncpg connections.

    `transaction()` blocks run concurrently, each on a connection of the pool (as they
    do across instances): no storage function relies on being the only writer. Writes
    that must not both happen are conditional (ON CONFLICT, `UPDATE ... WHERE` with a
    row count, SKIP LOCKED claims), and a decision that reads other rows first takes an
    advisory lock first (storage.locks: a user's inbox queue, a subject's disclosure
    units). One user's updates are applied one at a time by the inbox claims or the
    per-user update processor. Each block commits (durably, synchronous_commit as the
    server sets it) before its caller goes on; the server flushes the WAL of commits
    arriving together at once. Reads through `conn` see committed rows."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._kept = Kept(pool)
        self._conn = _PoolConnection(self._kept)
        self.path = redacted(url)
        self.dialect = "postgresql"

    @classmethod
    async def connect(cls, url: str, *, pool_size: int = POOL_SIZE) -> PostgresDatabase:
        """Connect to `url` and migrate. Settings the URL's query string names that
        asyncpg does not know (e.g. `?search_path=tenant`) are set on each connection."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                init=_prepare,
                reset=_keep_session,
                server_settings={"TimeZone": "UTC"},
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise DatabaseUnavailable(
                f"database {redacted(url)} cannot be reached: {exc or type(exc).__name__}"
            ) from None
        try:
            await migrate(pool)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, url)

    @property
    def conn(self) -> Connection:
        return self._conn

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with _translated(), self._kept.lease() as conn, conn.transaction():
            yield _TransactionConnection(conn)

    def one_statement(self) -> AbstractAsyncContextManager[Connection]:
        return self._autocommit()

    @asynccontextmanager
    async def _autocommit(self) -> AsyncIterator[Connection]:
        # No BEGIN/COMMIT: each statement is a transaction of its own.
        async with _translated(), self._kept.lease() as conn:
            yield _TransactionConnection(conn)

    async def scrub(self, *, vacuum: bool = True) -> None:
        """Leave no trace of past writes in the bot's tables (this schema's only: the
        server may hold others).

        A PostgreSQL table keeps rows where they were written, and each row version keeps
        the id of the transaction that wrote it (the `xmin` column): for answered markers,
        responses and answers, the order in which people answered. Neither VACUUM FULL
        nor CLUSTER changes `xmin`, and VACUUM FULL keeps the physical order. So those
        three tables are rewritten in one transaction, in key order (every row gets the
        same `xmin`, and lies in key order), with writes to them held back meanwhile;
        then VACUUM FULL gives every table a new file holding only its live rows: the
        old row versions (the rewritten ones, deleted sessions, updates' erased bodies)
        are gone from the database. Each VACUUM FULL locks its one table for as long as
        copying it takes (the other instances wait, they lose nothing); it runs once an
        hour, by one instance (bot.periodic). `vacuum=False`: a plain VACUUM only.

        What stays is outside the database's files: the server's write-ahead log until it
        is recycled, and backups, which the database administrator keeps."""
        async with _translated(), self._kept.lease() as conn:
            tables = [
                str(row[0])
                for row in await conn.fetch(
                    "SELECT quote_ident(table_name) FROM information_schema.tables"
                    " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                    " ORDER BY table_name"
                )
            ]
            if not tables:
                return
            if not vacuum:
                await conn.execute("VACUUM " + ", ".join(tables))
                return
            async with conn.transaction():
                await _rewrite_in_key_order(conn)
            for table in tables:
                await conn.execute(f"VACUUM FULL {table}")

    async def close(self) -> None:
        # Waits for the connections in use (blocks in flight) to be released.
        await self._kept.close()


# --- migrations ---------------------------------------------------------------------------


def _baseline() -> tuple[list[str], str]:
    """The migration names the baseline schema stands for, and its SQL."""
    text = (resources.files("storage") / "migrations" / "postgres" / "baseline.sql").read_text(
        encoding="utf-8"
    )
    for line in text.splitlines():
        if line.startswith("-- covers:"):
            return line.removeprefix("-- covers:").split(), text
    raise ValueError("postgres/baseline.sql names no migrations it covers")


def migration_files() -> list[tuple[str, str]]:
    """(name, SQL) of each migration after the baseline, for PostgreSQL: the file of the
    same name in migrations/postgres/ where the SQL must differ, else the shared one."""
    covered, _ = _baseline()
    folder = resources.files("storage") / "migrations"
    shared = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
    files = []
    for name in shared:
        if name in covered:
            continue
        own = folder / "postgres" / name
        source = own if own.is_file() else folder / name
        files.append((name, source.read_text(encoding="utf-8")))
    return files


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Create the schema on an empty database (the baseline, recorded as the migrations
    it covers), then apply the later migrations not applied yet, each in its own
    transaction under an advisory lock; return the names applied."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        # Under the lock too: two concurrent CREATE TABLE IF NOT EXISTS can both go ahead.
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
            )
        covered, baseline = _baseline()
        steps = [("baseline", baseline), *migration_files()]
        for name, script in steps:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                names = covered if name == "baseline" else [name]
                done = await conn.fetchval(
                    "SELECT count(*) FROM schema_migrations WHERE name = ANY($1::text[])", names
                )
                if done:
                    continue
                # The whole script in one go: the server splits it, and knows the
                # dollar-quoted bodies of functions (0013), which split_statements
                # (sqlite3's notion of where a statement ends) would cut apart.
                await conn.execute(script)
                now = datetime.now(UTC)
                await conn.executemany(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)",
                    [(each, now) for each in names],
                )
                applied.extend(names)
    return applied
