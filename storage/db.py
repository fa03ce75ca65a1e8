"""The database: opening it with the right pragmas, migrations, group-committed write
transactions and reads that do not wait for a thread."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite
from aiosqlite.context import contextmanager

Synchronous = Literal["NORMAL", "FULL"]
T = TypeVar("T")

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


def migration_names() -> list[str]:
    """The file names of every migration this version knows, in the order applied."""
    return [name for name, _ in _migration_files()]


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

# How long a batch of transaction blocks may stay open gathering more blocks before it is
# committed (it is committed sooner once no new block joins it; see `_commit_when_ready`).
MAX_BATCH_DELAY = 0.005
# How long a read may hold up the event loop before it is redone on the reader thread.
INLINE_READ_BUDGET = 0.002


class _InlineConnection(aiosqlite.Connection):
    """An aiosqlite.Connection that runs each call at once on the calling thread.

    Inside a transaction block, an indexed INSERT or UPDATE takes microseconds; handing it
    to aiosqlite's worker thread and back costs a trip through the event loop's queue, and
    under load that trip takes longer than everything else the block does, all of it with
    the write lock held. Blocks therefore run inline. Only calls that can wait (BEGIN
    IMMEDIATE on another process's lock, COMMIT's write and fsync) leave the loop's thread.
    Owned and closed by Database: `close()` here does nothing."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__(lambda: connection, iter_chunk_size=64)
        self._connection = connection

    async def _execute(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    @contextmanager
    async def execute(self, sql: str, parameters: Any = None) -> aiosqlite.Cursor:
        # aiosqlite's, minus the hand-over to _execute: this runs for every statement.
        return aiosqlite.Cursor(
            self, self._conn.execute(sql, () if parameters is None else parameters)
        )

    async def close(self) -> None:
        """Nothing: the Database that made this connection closes it."""

    def detach(self) -> None:
        """Forget the sqlite3 connection (its owner is closing it)."""
        self._connection = None

    def __del__(self) -> None:
        # aiosqlite's __del__ warns about a worker thread left running; this has none.
        pass


class _Rows(aiosqlite.Cursor):
    """The cursor of a read done at once: every row already fetched, served from memory."""

    def __init__(self, conn: aiosqlite.Connection, cursor: sqlite3.Cursor, rows: list[Any]):
        super().__init__(conn, cursor)
        self._rows = rows
        self._next = 0

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        chunk = self._rows[self._next : self._next + count]
        self._next += len(chunk)
        return chunk

    async def fetchall(self) -> list[Any]:
        chunk = self._rows[self._next :]
        self._next = len(self._rows)
        return chunk

    async def close(self) -> None:
        self._rows = []


class _ReadConnection(aiosqlite.Connection):
    """`Database.conn` of a file database: aiosqlite's connection with its worker thread,
    except that a plain SELECT is first tried at once on the event loop's thread.

    A point read takes microseconds; the three trips to the worker thread and back that
    aiosqlite makes for it (execute, fetch, close) cost more than that, and under load
    each trip waits its turn in the event loop's queue. So a SELECT runs inline, on a
    connection of its own, with a time budget: one that runs out of it (a report over a
    long history) is interrupted and redone on the worker thread, so the loop never
    stalls longer than the budget for a read. Anything else (PRAGMA, writes, reads inside a
    transaction opened on this connection) goes to the worker thread as with aiosqlite."""

    def __init__(self, path: str, budget: float) -> None:
        super().__init__(partial(_connect_reader, path), iter_chunk_size=64)
        self._path = path
        self._budget = budget
        self._quick: sqlite3.Connection | None = None
        self._deadline = 0.0

    async def start(self) -> None:
        """Start the worker thread and open the inline connection."""
        await self
        quick = sqlite3.connect(self._path, isolation_level=None)
        quick.row_factory = sqlite3.Row
        # Never wait on a lock here: a busy database sends the read to the worker thread.
        quick.execute("PRAGMA busy_timeout=0")
        quick.execute("PRAGMA query_only=ON")
        quick.set_progress_handler(self._over_budget, 1000)
        self._quick = quick

    def read_at_once(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """`fn` on the inline connection within the budget, as a SELECT through `execute`
        runs; over budget (interrupted) or busy, on the worker thread from the start."""
        quick = self._quick
        if quick is not None and not self.in_transaction:
            self._deadline = time.perf_counter() + self._budget
            done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            try:
                done.set_result(_with_tuples(quick, fn))
            except sqlite3.OperationalError:
                pass  # over budget or busy: the worker thread does it properly
            except Exception as exc:
                done.set_exception(exc)
            if done.done():
                return done
        return self.submit(partial(_with_tuples, self._conn, fn))

    def submit(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Queue `fn` for the worker thread now (aiosqlite's `_execute` queues it only
        once awaited); the future gets its result or exception."""
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._tx.put_nowait((future, fn))
        return future

    def _over_budget(self) -> int:
        return 1 if time.perf_counter() > self._deadline else 0

    @contextmanager
    async def execute(self, sql: str, parameters: Any = None) -> aiosqlite.Cursor:
        quick = self._quick
        if quick is not None and sql.lstrip()[:6].upper() == "SELECT" and not self.in_transaction:
            self._deadline = time.perf_counter() + self._budget
            try:
                cursor = quick.execute(sql, () if parameters is None else parameters)
                return _Rows(self, cursor, cursor.fetchall())
            except sqlite3.OperationalError:
                # Over budget (interrupted) or busy: the worker thread does it properly.
                pass
        return await super().execute(sql, parameters)

    async def close(self) -> None:
        if self._quick is not None:
            self._quick.close()
            self._quick = None
        await super().close()


def read_in_thread(
    conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]
) -> Awaitable[T]:
    """Run `fn(connection)`, a synchronous function doing several reads, in one go where
    `conn` runs them: for reports (a digest's aggregates), whose queries are too heavy
    for `conn`'s inline reads and would only be interrupted and redone.

    `conn` is `Database.conn` or a transaction's connection. With a file database's
    `conn`, `fn` runs on the reader's thread with its sqlite3 connection, the whole
    function in one trip, none of it on the event loop's thread, and is queued at once:
    the caller may do other work before awaiting the result. With an in-memory
    database's `conn`, or a transaction's connection (inside the transaction, seeing
    its writes), it runs at once, inline, as every read there does. Rows come back as
    plain tuples. `fn` must only read, and must not keep the connection or its cursors
    once it returns."""
    if isinstance(conn, _InlineConnection):
        return _inline(conn, fn)
    if isinstance(conn, _ReadConnection):
        return conn.submit(partial(_with_tuples, conn._conn, fn))
    return asyncio.ensure_future(conn._execute(_with_tuples, conn._conn, fn))


def read_at_once(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
    """Run `fn(connection)`, a synchronous function doing a few small reads, at once on
    the event loop's thread, as `conn` runs a SELECT: within INLINE_READ_BUDGET, on the
    connection `conn` keeps for that; if the budget runs out (or the database is busy)
    `fn` is abandoned and run again on the reader's thread. For a report the caller
    knows to be small; `read_in_thread` is for the others, which would only be
    interrupted and redone. Rows come back as plain tuples; `fn` must only read (it may
    run twice), and must not keep the connection or its cursors once it returns."""
    if isinstance(conn, _InlineConnection):
        return _inline(conn, fn)
    if isinstance(conn, _ReadConnection):
        return conn.read_at_once(fn)
    return asyncio.ensure_future(conn._execute(_with_tuples, conn._conn, fn))


def _inline(conn: _InlineConnection, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
    done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    try:
        done.set_result(_with_tuples(conn._conn, fn))
    except Exception as exc:
        done.set_exception(exc)
    return done


def _with_tuples(connection: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    factory = connection.row_factory
    connection.row_factory = None
    try:
        return fn(connection)
    finally:
        connection.row_factory = factory


class _Batch:
    """Transaction blocks sharing one open SQLite transaction, and their commit."""

    __slots__ = ("committed", "entered", "finished", "opened")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.opened = loop.time()
        self.entered = 0  # blocks started in it (a new one keeps the batch gathering)
        self.finished = 0  # blocks that ended without an exception (their callers wait)
        self.committed: asyncio.Future[None] = loop.create_future()


class _Transaction(AbstractAsyncContextManager[aiosqlite.Connection]):
    """One `Database.transaction()` block: a SAVEPOINT in the open batch, then its commit."""

    __slots__ = ("_batch", "_db")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._batch: _Batch | None = None

    async def __aenter__(self) -> aiosqlite.Connection:
        db = self._db
        await db._lock.acquire()
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
        finally:
            db._lock.release()
        # Durable before the caller goes on (shielded: a cancelled caller does not cancel
        # the commit of the others' writes).
        await asyncio.shield(batch.committed)


class Database:
    """The database of one process: a writer shared by all tasks through `transaction()`,
    and `conn` for reads.

    Writes use group commit. Blocks run one at a time, each as a SAVEPOINT inside one
    open transaction, which a committer task commits once no new block joins it (or at
    the latest MAX_BATCH_DELAY after it opened); every caller's `transaction()` returns
    only after that COMMIT, so a block's writes are durable before its caller goes on.
    A failing block rolls back to its savepoint only; the others' writes stay. A block's
    statements run inline on the event loop's thread (microseconds each, and nothing else
    can write meanwhile); BEGIN and COMMIT, which may wait on another process or the
    disk, run on a writer thread. So a block that writes thousands of rows holds up the
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
        reader: aiosqlite.Connection | None,
        path: str,
        *,
        max_batch_delay: float = MAX_BATCH_DELAY,
    ) -> None:
        self._writer = writer
        self._inline = _InlineConnection(writer)
        self._reader: aiosqlite.Connection = reader or self._inline
        # BEGIN and COMMIT of a file database wait on locks and disks: not on the loop.
        self._offload = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedbot-db-writer")
            if reader is not None
            else None
        )
        self._lock = asyncio.Lock()
        self._batch: _Batch | None = None
        self._committer: asyncio.Task[None] | None = None
        self._max_batch_delay = max_batch_delay
        self.path = path

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

        `path` may be ":memory:" for a private in-memory database (tests).
        `max_batch_delay`: see MAX_BATCH_DELAY (tests that count batches raise it, so
        a descheduled process cannot end a batch early)."""
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        target = str(path)
        if target == MEMORY:
            writer = _connect(target)
            try:
                _configure(writer, synchronous, busy_timeout_ms)
                database = cls(writer, None, target, max_batch_delay=max_batch_delay)
                await migrate(database.conn)
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
        return cls(writer, reader, target, max_batch_delay=max_batch_delay)

    @property
    def conn(self) -> aiosqlite.Connection:
        """The connection for reads (writes go through `transaction()`)."""
        return self._reader

    def read_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
        """`fn(connection)`, several reads in one trip to the reader's thread (see the
        module's `read_in_thread`): for reports, not tried inline first."""
        return read_in_thread(self._reader, fn)

    def read_at_once(self, fn: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
        """`fn(connection)`, a few small reads at once on the event loop's thread within
        the inline budget, else on the reader's thread (see the module's `read_at_once`)."""
        return read_at_once(self._reader, fn)

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
            if self._reader is not self._inline:
                await self._reader.close()

    def transaction(self) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        """`async with db.transaction() as conn:` — one serialized write transaction.

        The block's writes are committed (with those of blocks that ran just before or
        after it) when the `async with` ends; an exception rolls back this block only.
        BEGIN IMMEDIATE takes SQLite's write lock up front, so a transaction never fails
        half-way for lack of it. Inside the block use `conn`, and do not wait on anything
        slow: the next writers wait for the block to end."""
        return _Transaction(self)

    async def _begin(self) -> _Batch:
        job = self._submit(self._writer.execute, "BEGIN IMMEDIATE")
        cancelled = await _wait_out(job)
        if cancelled:
            if self._writer.in_transaction:  # it began, with nothing in it: undo that
                self._writer.execute("ROLLBACK")
            raise asyncio.CancelledError
        job.result()
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
        async with self._lock:
            if self._batch is batch:
                await self._commit(batch)

    async def _commit(self, batch: _Batch) -> None:
        """COMMIT (with the gate held); the callers waiting on the batch learn how it went.

        Not cancellable half-way: the COMMIT runs to its end on the writer thread anyway,
        so its outcome is settled before a cancellation is passed on."""
        job = self._submit(self._writer.execute, "COMMIT")
        cancelled = await _wait_out(job)
        error = job.exception()
        if self._writer.in_transaction:  # the COMMIT failed and left the transaction open
            self._writer.execute("ROLLBACK")  # discards the batch's pages; writes nothing
            self._end(batch, error or sqlite3.OperationalError("the commit failed"))
        else:  # committed, or failed and rolled back by SQLite itself
            self._end(batch, error)
        if cancelled:
            raise asyncio.CancelledError

    def _end(self, batch: _Batch, error: BaseException | None) -> None:
        if self._batch is batch:
            self._batch = None
        if batch.committed.done():
            return
        if error is None:
            batch.committed.set_result(None)
        else:
            batch.committed.set_exception(error)
            # Nobody may be waiting (every block failed): do not warn about it.
            batch.committed.exception()

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
