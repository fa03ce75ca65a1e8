"""The PostgreSQL backend's connections: taken from asyncpg's pool once and kept between
statements (Kept), and what a server that went away looks like (gone, unavailable)."""

from __future__ import annotations

import asyncio
from collections import deque

import asyncpg

from storage.connection import DatabaseUnavailable

# What a server that went away looks like (stopped, restarted, the connection terminated,
# the network down): turned into DatabaseUnavailable, one line, where it surfaces.
SERVER_GONE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash, starting up
    OSError,
)


# What asyncpg says of a connection the server ended under it: closed mid-operation, or
# (ended while idle in a pool) detached from the pool, or left in a broken protocol state.
GONE_SIGNS = ("connection is closed", "connection was closed", "released back to the pool")


def gone(exc: BaseException) -> bool:
    if isinstance(exc, (*SERVER_GONE, asyncpg.exceptions.InternalClientError)):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and any(s in str(exc) for s in GONE_SIGNS)


def unavailable(exc: BaseException) -> DatabaseUnavailable:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return DatabaseUnavailable(f"the connection to the database was lost: {reason}")


def usable(conn: asyncpg.Connection) -> bool:
    """Whether a pooled connection is still open: when the server ends one, the pool
    takes it back at once and the connection answers any call with InterfaceError."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


class Kept:
    """The pool's connections, kept between uses: a statement or block takes the one
    given back last (so few stay busy and warm), and gives it back here, not to the
    pool, when it ended cleanly; only a connection that failed, or is closed or still in
    a transaction, goes back to the pool (asyncpg's release rolls back or closes it),
    and the pool opens a new one when one is needed. At most the pool's max_size are out
    at once; a caller finding all of them busy waits here for the next one given back.

    Why not asyncpg's acquire and release around every statement: each release awaits a
    shielded task and each acquire a queue; together about 40 us of CPU per round trip,
    a sixth of a statement's whole cost, on every update's five or so trips. The pool
    still opens, checks and closes every connection; this only keeps the ones not in
    use instead of handing them back and asking again."""

    __slots__ = ("_idle", "_out", "_pool", "_size", "_waiters")

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._size = pool.get_max_size()
        self._out = 0  # taken from the pool and not released to it (idle ones included)
        self._idle: list[asyncpg.Connection] = []
        # Each gets a connection, or None: a place freed up, acquire one from the pool.
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()

    async def take(self) -> asyncpg.Connection:
        while True:
            idle = self._idle
            while idle:
                conn = idle.pop()
                if usable(conn):
                    return conn
                await self._release(conn)  # the server ended it while it was kept
            if self._out < self._size:
                return await self._acquire()
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._pass_on(waiter.result())  # handed over as this was cancelled
                raise
            if handed is not None:
                return handed

    async def _acquire(self) -> asyncpg.Connection:
        self._out += 1
        try:
            return await self._pool.acquire()
        except BaseException as exc:
            self._out -= 1
            self._pass_on(None)
            if isinstance(exc, Exception) and gone(exc):
                raise unavailable(exc) from exc
            raise

    async def give_back(self, conn: asyncpg.Connection, *, clean: bool) -> None:
        if clean and usable(conn) and not conn.is_in_transaction():
            self._pass_on(conn)
        else:
            await self._release(conn)

    async def _release(self, conn: asyncpg.Connection) -> None:
        try:
            await self._pool.release(conn)
        finally:
            self._out -= 1
            self._pass_on(None)

    def _pass_on(self, conn: asyncpg.Connection | None) -> None:
        """A connection given back (or, None, a place freed): to the first caller still
        waiting, else (a connection) kept."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is not None:
            self._idle.append(conn)

    def lease(self) -> Lease:
        """`async with kept.lease() as conn:` a connection for the block."""
        return Lease(self)

    async def close(self) -> None:
        """Give every kept connection back and close the pool (waiting for the ones in
        use); taking one afterwards fails as the closed pool's acquire does."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._release(conn)
        await self._pool.close()


class Lease:
    __slots__ = ("_conn", "_kept")

    def __init__(self, kept: Kept) -> None:
        self._kept = kept
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self._conn = await self._kept.take()
        return self._conn

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None
        await self._kept.give_back(conn, clean=exc_type is None)
