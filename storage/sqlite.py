"""The SQLite backend: plain sqlite3 connections in executors of our own, with the right
pragmas, migrations, group-committed write transactions and reads that do not wait for
a thread."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from storage.connection import (
    Connection,
    IntegrityError,
    Result,
    Statement,
    SyncConnection,
)
from storage.db import (
    BUSY_TIMEOUT_MS,
    MAX_BATCH_DELAY,
    MEMORY,
    Database,
    Synchronous,
    encode_time,
    split_statements,
)

T = TypeVar("T")

# How long a read may hold up the event loop before it is redone on the reader thread.
INLINE_READ_BUDGET = 0.002

# --- migrations -------------------------------------------------------------------------


def _migration_files() -> list[tuple[str, str]]:
    """(file name, SQL) of every migration, in file-name order."""
    folder = resources.files("storage") / "migrations"
    files = [f for f in folder.iterdir() if f.name.endswith(".sql")]
    return [(f.name, f.read_text(encoding="utf-8")) for f in sorted(files, key=lambda f: f.name)]


async def migrate(conn: _InlineConnection | _ReadConnection) -> list[str]:
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


def _run(conn: sqlite3.Connection, sql: str, parameters: Sequence[object]) -> Result:
    """One statement on a plain sqlite3 connection, all its rows fetched; a constraint
    failure as the storage layer's IntegrityError (the same on both backends)."""
    try:
        cursor = conn.execute(sql, parameters)
        rows = cursor.fetchall()
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(str(exc), unique="UNIQUE" in str(exc)) from exc
    return Result(rows, cursor.rowcount)


def _run_many(conn: sqlite3.Connection, sql: str, parameters: Iterable[Sequence[object]]) -> None:
    try:
        conn.executemany(sql, parameters)
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(str(exc), unique="UNIQUE" in str(exc)) from exc


class _InlineConnection:
    """The writer's connection as the storage functions see it: each call runs at once on
    the calling thread.

    Inside a transaction block, an indexed INSERT or UPDATE takes microseconds; handing it
    to a worker thread and back costs a trip through the event loop's queue, and under
    load that trip takes longer than everything else the block does, all of it with the
    write lock held. Blocks therefore run inline. Only calls that can wait (BEGIN
    IMMEDIATE on another process's lock, COMMIT's write and fsync) leave the loop's
    thread (see Database._submit). Owned and closed by Database."""

    __slots__ = ("_conn",)
    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("Connection closed")
        return self._conn

    @property
    def in_transaction(self) -> bool:
        return self._live().in_transaction

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Statement:
        return Statement(_run(self._live(), sql, parameters))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[object]]) -> None:
        _run_many(self._live(), sql, parameters)

    def read_in_thread(self, fn: Callable[[SyncConnection], T]) -> Awaitable[T]:
        # In memory, or inside a transaction (seeing its writes): at once, inline.
        return _settled(partial(_with_tuples, self._live(), fn))

    read_at_once = read_in_thread

    def detach(self) -> None:
        """Forget the sqlite3 connection (its owner is closing it)."""
        self._conn = None


class _ReadConnection:
    """`Database.conn` of a file database: a connection of its own on a reader thread
    (an executor owned here), except that a plain SELECT is first tried at once on the
    event loop's thread.

    A point read takes microseconds; a trip to the reader thread and back costs more,
    and under load it waits its turn in the event loop's queue. So a SELECT runs inline,
    on a second connection, with a time budget: one that runs out of it (a report over a
    long history) is interrupted and redone on the reader thread, so the loop never
    stalls longer than the budget for a read. Anything else (PRAGMA, writes, reads inside
    a transaction opened on this connection) goes to the reader thread."""

    dialect = "sqlite"

    def __init__(self, path: str, budget: float) -> None:
        self._path = path
        self._budget = budget
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedbot-db-reader")
        self._conn: sqlite3.Connection | None = None
        self._quick: sqlite3.Connection | None = None
        self._deadline = 0.0

    async def start(self) -> None:
        """Open the reader thread's connection and the inline one."""
        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._thread, _connect_reader, self._path)
        quick = sqlite3.connect(self._path, isolation_level=None)
        quick.row_factory = sqlite3.Row
        # Never wait on a lock here: a busy database sends the read to the reader thread.
        quick.execute("PRAGMA busy_timeout=0")
        quick.execute("PRAGMA query_only=ON")
        quick.set_progress_handler(self._over_budget, 1000)
        self._quick = quick

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("Connection closed")
        return self._conn

    @property
    def in_transaction(self) -> bool:
        return self._live().in_transaction

    def submit(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Queue `fn` for the reader thread now; the future gets its result or exception."""
        return asyncio.get_running_loop().run_in_executor(self._thread, fn)

    def _over_budget(self) -> int:
        return 1 if time.perf_counter() > self._deadline else 0

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Statement:
        conn, quick = self._live(), self._quick
        if quick is not None and sql.lstrip()[:6].upper() == "SELECT" and not conn.in_transaction:
            self._deadline = time.perf_counter() + self._budget
            try:
                return Statement(_run(quick, sql, parameters))
            except sqlite3.OperationalError:
                # Over budget (interrupted) or busy: the reader thread does it properly.
                pass
        return Statement(pending=self.submit(partial(_run, conn, sql, parameters)))

    async def executemany(self, sql: str, parameters: Iterable[Sequence[object]]) -> None:
        await self.submit(partial(_run_many, self._live(), sql, list(parameters)))

    def read_in_thread(self, fn: Callable[[SyncConnection], T]) -> Awaitable[T]:
        # The whole function in one trip to the reader thread, queued at once.
        return self.submit(partial(_with_tuples, self._live(), fn))

    def read_at_once(self, fn: Callable[[SyncConnection], T]) -> Awaitable[T]:
        quick = self._quick
        if quick is not None and not self.in_transaction:
            self._deadline = time.perf_counter() + self._budget
            done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            try:
                done.set_result(_with_tuples(quick, fn))
            except sqlite3.OperationalError:
                pass  # over budget or busy: the reader thread does it properly
            except Exception as exc:
                done.set_exception(exc)
            if done.done():
                return done
        return self.read_in_thread(fn)

    async def close(self) -> None:
        if self._quick is not None:
            self._quick.close()
            self._quick = None
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
        self._thread.shutdown(wait=True)


def _settled(fn: Callable[[], T]) -> asyncio.Future[T]:
    done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    try:
        done.set_result(fn())
    except Exception as exc:
        done.set_exception(exc)
    return done


def _with_tuples(connection: sqlite3.Connection, fn: Callable[[SyncConnection], T]) -> T:
    factory = connection.row_factory
    connection.row_factory = None
    try:
        return fn(connection)
    finally:
        connection.row_factory = factory


class _Gate:
    """The writer's gate: asyncio.Lock's interface (`acquire`, `release`, `locked`,
    `async with`), except that a release wakes every waiter, not only the first.

    A transaction block runs its statements inline, so it almost never holds the gate
    across a suspension; only BEGIN and COMMIT (a trip to the writer thread) and the rare
    block awaiting something slow do. With asyncio.Lock, the blocks that arrived during
    such a trip are then let in one per turn of the event loop (a release wakes the next
    waiter, which runs in the following turn), and every block arriving meanwhile must
    queue behind them: under load the queue never drains, and writes are limited to one
    block per turn of the loop, however little each costs (bench/burst). Here the waiters
    all wake in the next turn and run one after another in it, in the order they came;
    one that finds the gate held again (the block before it suspended) waits for the
    next release. Who holds the gate does not decide the order of a user's updates
    (PerUserUpdateProcessor does), and a block never waits longer than the suspensions
    of the blocks run before it."""

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters: list[asyncio.Future[None]] = []

    def locked(self) -> bool:
        return self._held

    async def acquire(self) -> bool:
        while self._held:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            # Cancelled while waiting: the cancelled future stays listed until the next
            # release, which skips it.
            await waiter
        self._held = True
        return True

    def release(self) -> None:
        if not self._held:
            raise RuntimeError("the writer's gate is not held")
        self._held = False
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class _Batch:
    """Transaction blocks sharing one open SQLite transaction, and their commit."""

    __slots__ = ("callers", "ended", "entered", "finished", "opened")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.opened = loop.time()
        self.entered = 0  # blocks started in it (a new one keeps the batch gathering)
        self.finished = 0  # blocks that ended without an exception (their callers wait)
        # One future per finished block, its caller waiting on it. Each caller has its own:
        # a cancelled caller cancels only its own, never the commit the others wait for
        # (and, unlike asyncio.shield around a shared one, the callers resume in the turn
        # right after the commit's outcome is known).
        self.callers: list[asyncio.Future[None]] = []
        self.ended = False

    def wait(self) -> asyncio.Future[None]:
        """A future for one more caller, done when the batch is committed (or failed)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.callers.append(waiter)
        return waiter

    def end(self, error: BaseException | None) -> None:
        """Tell every caller how the batch ended: committed (no `error`) or not (once)."""
        if self.ended:
            return
        self.ended = True
        for waiter in self.callers:
            if waiter.done():  # its caller was cancelled
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
        self.callers = []


class _Transaction(AbstractAsyncContextManager[Connection]):
    """One `Database.transaction()` block: a SAVEPOINT in the open batch, then its commit."""

    __slots__ = ("_batch", "_db")

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._batch: _Batch | None = None

    async def __aenter__(self) -> Connection:
        db = self._db
        db._queued_blocks += 1
        try:
            await db._lock.acquire()
        finally:
            db._queued_blocks -= 1
        try:
            batch = db._batch
            if batch is None:
                batch = await db._begin()
            batch.entered += 1
            db._writer.execute("SAVEPOINT block")
        except BaseException:
            db._lock.release()
            raise
        self._batch = batch
        return db._inline

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> None:
        db, batch = self._db, self._batch
        assert batch is not None
        try:
            if kind is not None:
                db._undo_block(batch)
                return
            try:
                db._writer.execute("RELEASE block")
            except BaseException:
                db._undo_block(batch)
                raise
            batch.finished += 1
            committed = batch.wait()
        finally:
            db._lock.release()
        # Durable before the caller goes on.
        await committed


class SqliteDatabase(Database):
    """The SQLite database of one process: a writer shared by all tasks through `transaction()`,
    and `conn` for reads.

    Writes use group commit. Blocks run one at a time, each as a SAVEPOINT inside one
    open transaction, which a committer task commits once no new block joins it (or at
    the latest MAX_BATCH_DELAY after it opened); every caller's `transaction()` returns
    only after that COMMIT, so a block's writes are durable before its caller goes on.
    A failing block rolls back to its savepoint only; the others' writes stay. A block's
    statements run inline on the event loop's thread (microseconds each, and nothing else
    can write meanwhile); BEGIN and COMMIT, which may wait on another process or the
    disk, run on a writer thread. (One exception: blocks that queued behind a COMMIT get
    their BEGIN right after it, on the loop's thread, if the write lock is free at once,
    which waits for nothing.) So a block that writes thousands of rows holds up the
    loop while it runs: such work belongs in several smaller blocks.

    A file database has a second connection for `conn`: reads never wait for the writer
    (WAL) and see only committed rows; a SELECT runs inline within INLINE_READ_BUDGET and
    on the reader's thread beyond it. A report of several queries runs them in one
    function: `read_in_thread` (on the reader's thread), or `read_at_once` when small.
    An in-memory database is one connection, used inline for reads too: its reads see
    uncommitted rows of the open batch."""

    def __init__(
        self,
        writer: sqlite3.Connection,
        reader: _ReadConnection | None,
        path: str,
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        max_batch_delay: float = MAX_BATCH_DELAY,
    ) -> None:
        self._writer = writer
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._inline = _InlineConnection(writer)
        self._reader: _InlineConnection | _ReadConnection = reader or self._inline
        # BEGIN and COMMIT of a file database wait on locks and disks: not on the loop.
        self._offload = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedbot-db-writer")
            if reader is not None
            else None
        )
        self._lock = _Gate()
        self._batch: _Batch | None = None
        # Blocks waiting for the gate: a COMMIT that finds some opens their batch at once.
        self._queued_blocks = 0
        self._committer: asyncio.Task[None] | None = None
        self._max_batch_delay = max_batch_delay
        self.path = path
        self.dialect = "sqlite"

    @classmethod
    async def open_sqlite(
        cls,
        target: str,
        *,
        synchronous: Synchronous,
        busy_timeout_ms: int,
        max_batch_delay: float = MAX_BATCH_DELAY,
    ) -> SqliteDatabase:
        """Open (creating the file and its folder on first use) and migrate an SQLite
        database; `target` may be ":memory:" for a private in-memory database (tests).
        `max_batch_delay`: see MAX_BATCH_DELAY (tests that count batches raise it, so
        a descheduled process cannot end a batch early)."""
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        if target == MEMORY:
            writer = _connect(target)
            try:
                _configure(writer, synchronous, busy_timeout_ms)
                database = cls(
                    writer,
                    None,
                    target,
                    busy_timeout_ms=busy_timeout_ms,
                    max_batch_delay=max_batch_delay,
                )
                await migrate(database._inline)
            except BaseException:
                writer.close()
                raise
            return database
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        reader = _ReadConnection(target, INLINE_READ_BUDGET)
        try:
            await reader.start()
            # WAL: readers never block the writer and a commit is one sequential append.
            await reader.execute("PRAGMA journal_mode=WAL")
            await reader.execute("PRAGMA foreign_keys=ON")
            await reader.execute("PRAGMA secure_delete=ON")  # see _configure
            await reader.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            await reader.execute(f"PRAGMA synchronous={synchronous}")
            await migrate(reader)
            writer = await asyncio.to_thread(_connect, target)
        except BaseException:
            await reader.close()
            raise
        try:
            await asyncio.to_thread(_configure, writer, synchronous, busy_timeout_ms)
        except BaseException:
            writer.close()
            await reader.close()
            raise
        return cls(
            writer,
            reader,
            target,
            busy_timeout_ms=busy_timeout_ms,
            max_batch_delay=max_batch_delay,
        )

    @property
    def conn(self) -> Connection:
        """The connection for reads (writes go through `transaction()`)."""
        return self._reader

    async def scrub(self, *, vacuum: bool = True) -> None:
        """Leave no trace of past writes in the files: VACUUM rewrites the database with
        every table and index in key order (a page otherwise keeps its rows in the order
        they were inserted, which for answered markers and responses is the order people
        answered in), then the WAL, which holds recent versions of every changed page
        (deleted sessions included), is checkpointed and truncated to zero bytes.

        For the hourly maintenance job (`vacuum=False`: only the WAL, as on close). Takes
        the write gate: other writers wait for it, for about as long as copying the file
        takes. sqlite3.OperationalError if another process holds the database too long."""
        async with self._lock:
            if self._batch is not None:
                await self._commit(self._batch)
            steps: list[Callable[[], object]] = [partial(_checkpoint, self._writer)]
            if vacuum:
                steps.insert(0, partial(self._writer.execute, "VACUUM"))
            for step in steps:
                job = self._submit(step)
                if await _wait_out(job):
                    raise asyncio.CancelledError
                job.result()

    async def close(self) -> None:
        """Commit what is pending, checkpoint and truncate the WAL, then close (waits for
        a running transaction to finish)."""
        committer = self._committer
        if committer is not None and not committer.done():
            await asyncio.shield(committer)
        async with self._lock:
            if self._batch is not None:  # only if the committer was cancelled
                await self._commit(self._batch)
            job = self._submit(_checkpoint, self._writer)
            await _wait_out(job)
            # A failure is only looked at: if another process holds the database, the
            # last one to close it checkpoints.
            job.exception()
            self._inline.detach()
            await _wait_out(self._submit(self._writer.close))
            if self._offload is not None:
                self._offload.shutdown(wait=True)
                self._offload = None
            if isinstance(self._reader, _ReadConnection):
                await self._reader.close()

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """`async with db.transaction() as conn:` — one serialized write transaction.

        The block's writes are committed (with those of blocks that ran just before or
        after it) when the `async with` ends; an exception rolls back this block only.
        BEGIN IMMEDIATE takes SQLite's write lock up front, so a transaction never fails
        half-way for lack of it. Inside the block use `conn`, and do not wait on anything
        slow: the next writers wait for the block to end."""
        return _Transaction(self)

    def one_statement(self) -> AbstractAsyncContextManager[Connection]:
        """A `transaction()` block: group commit makes it the cheaper way here too."""
        return _Transaction(self)

    async def _begin(self) -> _Batch:
        job = self._submit(self._writer.execute, "BEGIN IMMEDIATE")
        cancelled = await _wait_out(job)
        if cancelled:
            if self._writer.in_transaction:  # it began, with nothing in it: undo that
                self._writer.execute("ROLLBACK")
            raise asyncio.CancelledError
        job.result()
        return self._open_batch()

    def _begin_at_once(self) -> bool:
        """BEGIN IMMEDIATE on the loop's thread if the write lock is free this instant (no
        wait: busy timeout 0); False if another process holds it."""
        writer = self._writer
        writer.execute("PRAGMA busy_timeout=0")
        try:
            writer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        finally:
            writer.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        return True

    def _open_batch(self) -> _Batch:
        """The batch of the transaction just begun, and its committer."""
        loop = asyncio.get_running_loop()
        batch = self._batch = _Batch(loop)
        self._committer = loop.create_task(self._commit_when_ready(batch), name="db-commit")
        return batch

    def _undo_block(self, batch: _Batch) -> None:
        """Roll back a failed block to its savepoint; end the batch at once if nothing else
        is in it, or if SQLite already rolled the whole transaction back (some errors do)."""
        if not self._writer.in_transaction:
            self._end(batch, sqlite3.OperationalError("the transaction was rolled back"))
            return
        self._writer.execute("ROLLBACK TO block")
        self._writer.execute("RELEASE block")
        if batch.finished == 0:
            # Rolling back an empty transaction writes nothing: inline is fine.
            self._writer.execute("ROLLBACK")
            self._end(batch, None)

    async def _commit_when_ready(self, batch: _Batch) -> None:
        """Commit `batch` once a turn of the event loop adds no block to it, or when it
        is MAX_BATCH_DELAY old: under load the blocks of many updates share one COMMIT,
        alone a block is committed at once."""
        loop = asyncio.get_running_loop()
        deadline = batch.opened + self._max_batch_delay
        seen = -1
        while batch.entered != seen and loop.time() < deadline:
            seen = batch.entered
            await asyncio.sleep(0)
        await self._lock.acquire()
        if self._batch is not batch:
            self._lock.release()
            return
        # The gate is released as soon as the outcome is known (see _start_commit), not
        # when this task next runs: the blocks queued behind the COMMIT go on a turn sooner.
        if await _wait_out(self._start_commit(batch, release=True)):
            raise asyncio.CancelledError

    async def _commit(self, batch: _Batch) -> None:
        """COMMIT (with the gate held, and still held after); the callers waiting on the
        batch learn how it went.

        Not cancellable half-way: the COMMIT runs to its end on the writer thread anyway,
        so its outcome is settled before a cancellation is passed on."""
        if await _wait_out(self._start_commit(batch, release=False)):
            raise asyncio.CancelledError

    def _start_commit(self, batch: _Batch, *, release: bool) -> asyncio.Future[None]:
        """Start the COMMIT of `batch` (the gate held); the returned future is done once its
        callers have been told the outcome, and then, if `release`, the gate released.

        Settled in a callback of the COMMIT itself, not by a task awaiting it: each hop
        through the event loop's queue costs a whole turn of the loop under load, and
        every block of the batch, and every block queued behind it, waits for it."""
        job: asyncio.Future[Any] = self._submit(self._writer.execute, "COMMIT")
        settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(job: asyncio.Future[Any]) -> None:
            try:
                error = job.exception()
            except asyncio.CancelledError as exc:
                error = exc
            if isinstance(error, sqlite3.IntegrityError):  # a deferred constraint
                error = IntegrityError(str(error), unique="UNIQUE" in str(error))
            try:
                # Otherwise committed, or failed and rolled back by SQLite itself.
                if self._writer.in_transaction:  # the COMMIT failed, the transaction is open
                    error = error or sqlite3.OperationalError("the commit failed")
                    self._writer.execute("ROLLBACK")  # discards the batch's pages
            finally:
                self._end(batch, error)
                if release:
                    reopened = self._begin_for_queued()
                    self._lock.release()
                    if reopened:
                        # After the release: the queued blocks run before the committer
                        # first looks at the batch, so it waits for the turn after them.
                        self._open_batch()
                settled.set_result(None)

        job.add_done_callback(settle)
        return settled

    def _begin_for_queued(self) -> bool:
        """After a COMMIT, with the gate still held: if blocks queued behind it, begin
        their transaction now (True), so that they all run in the next turn instead of
        waiting for another trip to the writer thread (a BEGIN there), during which more
        would queue. Only if the write lock is free at once; otherwise the first of them
        begins on the writer thread as usual."""
        if self._queued_blocks == 0 or self._offload is None:
            return False
        try:
            return self._begin_at_once()
        except sqlite3.Error:
            # Left to the first queued block's own BEGIN, which meets it and reports it.
            if self._writer.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._writer.execute("ROLLBACK")
            return False

    def _end(self, batch: _Batch, error: BaseException | None) -> None:
        if self._batch is batch:
            self._batch = None
        batch.end(error)

    def _submit(self, fn: Callable[..., T], *args: object) -> asyncio.Future[T]:
        """Start fn on the writer thread of a file database (inline for one in memory)."""
        loop = asyncio.get_running_loop()
        if self._offload is not None:
            return loop.run_in_executor(self._offload, partial(fn, *args))
        done: asyncio.Future[T] = loop.create_future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:
            done.set_exception(exc)
        return done


async def _wait_out(job: asyncio.Future[Any]) -> bool:
    """Wait until `job` is done, even through cancellations; True if one arrived (the
    caller settles the writer's state, then raises CancelledError)."""
    cancelled = False
    while not job.done():
        try:
            await asyncio.wait([job])
        except asyncio.CancelledError:
            cancelled = True
    return cancelled


def _checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the WAL into the database and truncate it to zero bytes (deleted rows must not
    survive in old frames of the -wal file). A reader still in an old snapshot makes it
    partial: the next call finishes it."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _connect_reader(target: str) -> sqlite3.Connection:
    """The reader thread's connection (autocommit: every transaction is an explicit BEGIN)."""
    conn = sqlite3.connect(target, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def _connect(target: str) -> sqlite3.Connection:
    """The writer's connection; check_same_thread=False because BEGIN and COMMIT run on the
    Database's writer thread and the rest on the event loop's (never at the same time)."""
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def _configure(conn: sqlite3.Connection, synchronous: Synchronous, busy_timeout_ms: int) -> None:
    # WAL: readers never block the writer and a commit is one sequential append (a no-op
    # for an in-memory database, which keeps its own journal).
    conn.execute("PRAGMA journal_mode=WAL")
    # Foreign keys are off by default in SQLite; the schema relies on them.
    conn.execute("PRAGMA foreign_keys=ON")
    # Deleted rows (an ended session: who answered, and what) are overwritten with zeros
    # in the file, not just unlinked from the b-tree where a hex editor would find them.
    conn.execute("PRAGMA secure_delete=ON")
    # The CLI and the bot share the file: wait for the other's write lock instead of
    # failing at once with "database is locked".
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a committed
    # transaction survives a crash of the *process* (it is in the WAL file, which the OS
    # keeps), and only an OS crash or power loss can lose the last commits (never
    # corrupting the file). FULL syncs the WAL at every commit and survives those too, at
    # the cost of one fsync per commit (one per batch, with group commit).
    conn.execute(f"PRAGMA synchronous={synchronous}")
