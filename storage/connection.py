"""The connection interface every storage function takes, whichever database runs it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = Any  # sqlite3.Row or asyncpg.Record: both index by position and by column name


class IntegrityError(Exception):
    """A constraint refused a write, on either backend. `unique` when it was a UNIQUE
    (or primary key) constraint, the one case the storage functions turn into a domain
    error (another process inserted the same row first)."""

    def __init__(self, message: str, *, unique: bool) -> None:
        super().__init__(message)
        self.unique = unique


class DatabaseUnavailable(Exception):
    """The database server cannot be reached or refused the connection (PostgreSQL);
    the message is one line, without the password."""


class Result:
    """A statement's outcome, all of its rows already fetched (storage reads are small,
    and the big ones run through `read_in_thread`): `fetchone`/`fetchall` and `async for`
    as with a DB-API cursor, `rowcount` for writes."""

    __slots__ = ("_next", "_rows", "rowcount")

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    async def fetchone(self) -> Row | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[Row]:
        chunk = self._rows[self._next :]
        self._next = len(self._rows)
        return chunk

    async def close(self) -> None:
        self._rows = []

    async def __aenter__(self) -> Result:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._rows = []

    def __aiter__(self) -> AsyncIterator[Row]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Row]:
        while self._next < len(self._rows):
            self._next += 1
            yield self._rows[self._next - 1]


class Statement:
    """What `Connection.execute` returns: await it for the `Result`, or use it as
    `async with conn.execute(...) as result:`. A statement run at once (SQLite's inline
    paths) carries its result and costs no trip through the event loop."""

    __slots__ = ("_pending", "_result")

    def __init__(self, result: Result | None = None, pending: Awaitable[Result] | None = None):
        self._result = result
        self._pending = pending

    def __await__(self) -> Generator[Any, None, Result]:
        if self._result is None:
            assert self._pending is not None
            self._result = yield from self._pending.__await__()
        return self._result

    async def __aenter__(self) -> Result:
        return await self

    async def __aexit__(self, *exc: object) -> None:
        if self._result is not None:
            self._result._rows = []


class SyncCursor(Protocol):
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class SyncConnection(Protocol):
    """What a `read_in_thread`/`read_at_once` function gets: a blocking connection with
    `execute(sql, parameters)` returning rows as plain tuples (sqlite3.Connection is one)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> SyncCursor: ...


class Connection(Protocol):
    """A connection of either backend: `Database.conn` (reads) or the connection a
    `Database.transaction()` block gets. SQL uses `?` placeholders; the PostgreSQL
    backend numbers them. `dialect` ("sqlite" or "postgresql") is for the few storage
    functions whose SQL must differ (locking across instances: storage.inbox,
    storage.outbox, storage.schedule); everything else is written once."""

    @property
    def dialect(self) -> str: ...

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Statement: ...

    async def executemany(self, sql: str, parameters: Iterable[Sequence[object]]) -> None: ...

    def read_in_thread(self, fn: Callable[[SyncConnection], T]) -> Awaitable[T]: ...

    def read_at_once(self, fn: Callable[[SyncConnection], T]) -> Awaitable[T]: ...
