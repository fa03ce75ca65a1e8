"""Group commit in storage.sqlite: transaction blocks run as SAVEPOINTs of one open transaction,
committed together, each caller resuming only once its block is durable.

These tests look at the writer's statements (a trace callback on `SqliteDatabase._writer`)
and, in two places, at `SqliteDatabase._lock` / `._submit`: that is where batching happens.
None of them measures time: which thread ran a statement, and what the loop did meanwhile,
is what they check, so a loaded machine cannot fail them."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from storage.connection import IntegrityError
from storage.db import Database
from storage.sqlite import SqliteDatabase

# No await in these tests may take longer than this (a hang fails instead of blocking).
LIMIT = 5.0

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


@pytest.fixture
async def file_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    """A file database whose batches end only when a turn of the loop adds no block: with
    the default MAX_BATCH_DELAY a process descheduled for a few milliseconds (a loaded
    machine) would end a batch early, and the batch counts below would vary."""
    database = await Database.open(tmp_path / "data" / "feedbot.sqlite3", max_batch_delay=LIMIT)
    assert isinstance(database, SqliteDatabase)
    yield database
    await database.close()


@pytest.fixture
async def spawn() -> AsyncIterator[Spawn]:
    """asyncio.create_task, keeping the tasks: a failing test leaves none pending (at
    teardown each is cancelled and awaited), so none is garbage-collected half-way."""
    tasks: list[asyncio.Task[Any]] = []

    def start(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        tasks.append(asyncio.create_task(coroutine))
        return tasks[-1]

    yield start
    for task in tasks:
        task.cancel()
    async with asyncio.timeout(LIMIT):
        await asyncio.gather(*tasks, return_exceptions=True)


async def _create(db: SqliteDatabase, *tables: str) -> None:
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, v TEXT)")
        for table in tables:
            await conn.execute(table)


async def _insert(db: SqliteDatabase, x: int, v: str = "a") -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (?, ?)", (x, v))


async def _all(*coroutines: Coroutine[Any, Any, Any]) -> None:
    """Run the coroutines as concurrent tasks, every one of which must succeed."""
    async with asyncio.timeout(LIMIT), asyncio.TaskGroup() as group:
        for coroutine in coroutines:
            group.create_task(coroutine)


def _count(path: str, where: str = "1") -> int:
    """Rows of t committed to the file, seen by a connection of its own."""
    other = sqlite3.connect(path)
    try:
        return other.execute(f"SELECT COUNT(*) FROM t WHERE {where}").fetchone()[0]
    finally:
        other.close()


def _trace(db: SqliteDatabase) -> list[str]:
    """Every statement the writer runs from now on (on either thread), in order."""
    statements: list[str] = []
    db._writer.set_trace_callback(statements.append)
    return statements


def _committed_batches(statements: list[str]) -> list[list[str]]:
    """The statements of each BEGIN ... COMMIT (a failed COMMIT is followed by a ROLLBACK,
    not seen in the tests using this)."""
    batches: list[list[str]] = []
    current: list[str] | None = None
    for statement in statements:
        if statement == "BEGIN IMMEDIATE":
            current = []
        elif current is not None and statement in ("COMMIT", "ROLLBACK"):
            if statement == "COMMIT":
                batches.append(current)
            current = None
        elif current is not None:
            current.append(statement)
    return batches


async def test_concurrent_blocks_share_commits_and_are_durable_on_return(
    file_db: SqliteDatabase,
) -> None:
    await _create(file_db)
    statements = _trace(file_db)
    blocks = 200

    async def write(x: int) -> None:
        await _insert(file_db, x)
        # transaction() has returned: the row is committed, another connection sees it.
        assert _count(file_db.path, f"x = {x}") == 1

    await _all(*(write(x) for x in range(blocks)))

    assert _count(file_db.path) == blocks
    batches = _committed_batches(statements)
    assert sum(batch.count("SAVEPOINT block") for batch in batches) == blocks
    assert statements.count("COMMIT") == len(batches)
    # One COMMIT per block would be `blocks` commits; group commit shares them.
    assert len(batches) <= blocks // 10, len(batches)


@pytest.mark.parametrize("failure", ["exception", "constraint"])
async def test_a_failing_block_rolls_back_alone_while_its_batch_commits(
    file_db: SqliteDatabase, failure: str
) -> None:
    await _create(file_db)
    await _insert(file_db, -1, "seed")
    statements = _trace(file_db)
    expected = RuntimeError if failure == "exception" else IntegrityError

    async def bad(x: int) -> None:
        with pytest.raises(expected):
            async with file_db.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (?, 'bad')", (x,))
                if failure == "exception":
                    raise RuntimeError("boom")
                await conn.execute("INSERT INTO t VALUES (-1, 'bad')")  # duplicate key

    # Every third block fails, the very first one included (an otherwise empty batch).
    await _all(*(bad(x) if x % 3 == 0 else _insert(file_db, x) for x in range(60)))

    assert _count(file_db.path, "v = 'bad'") == 0
    assert _count(file_db.path, "v = 'a'") == 40
    assert _count(file_db.path, "v = 'seed'") == 1
    # A committed batch held both a rolled-back block and kept ones.
    assert any(
        "ROLLBACK TO block" in batch
        and batch.count("RELEASE block") > batch.count("ROLLBACK TO block")
        for batch in _committed_batches(statements)
    )


@pytest.mark.parametrize("failure", ["deferred-constraint", "io-error"])
async def test_a_failed_commit_reaches_every_caller_and_the_database_stays_usable(
    file_db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    await _create(
        file_db,
        "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE child (id INTEGER PRIMARY KEY,"
        " parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
    )
    expected: type[Exception]
    if failure == "deferred-constraint":
        # Real: a deferred foreign key fails the COMMIT itself, leaving the transaction open.
        expected = IntegrityError
    else:
        # Simulated: an I/O error on COMMIT, after which SQLite has rolled back by itself.
        expected = sqlite3.OperationalError
        writer, submit = file_db._writer, file_db._submit

        def commit_fails() -> None:
            writer.execute("ROLLBACK")
            raise sqlite3.OperationalError("disk I/O error")

        def failing_submit(fn: Callable[..., object], *args: object) -> asyncio.Future[object]:
            return submit(commit_fails) if args == ("COMMIT",) else submit(fn, *args)

        monkeypatch.setattr(file_db, "_submit", failing_submit)
    errors: list[BaseException] = []

    async def write(x: int) -> None:
        with pytest.raises(expected) as caught:
            async with file_db.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (?, 'a')", (x,))
                if x == 5 and failure == "deferred-constraint":
                    await conn.execute("INSERT INTO child VALUES (1, 99)")  # no parent 99
        errors.append(caught.value)

    await _all(*(write(x) for x in range(10)))

    assert len(errors) == 10
    assert len({id(error) for error in errors}) == 1  # one batch, one failed COMMIT
    assert _count(file_db.path) == 0

    monkeypatch.undo()
    await _all(*(_insert(file_db, x) for x in range(3)))
    assert _count(file_db.path) == 3


async def test_a_cancelled_caller_does_not_cancel_its_batch_commit(
    file_db: SqliteDatabase, spawn: Spawn
) -> None:
    await _create(file_db)
    statements = _trace(file_db)
    first_ended = asyncio.Event()

    async def write(x: int) -> None:
        async with file_db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (?, 'a')", (x,))
            if x == 0:
                first_ended.set()

    tasks = [spawn(write(x)) for x in range(20)]
    async with asyncio.timeout(LIMIT):
        await first_ended.wait()
    # The first block has ended: its caller now waits for the batch's COMMIT.
    assert not tasks[0].done()
    assert _count(file_db.path) == 0
    tasks[0].cancel()
    async with asyncio.timeout(LIMIT):
        results = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == [None] * 19
    # Its block had ended, so its row is committed with the others.
    assert _count(file_db.path) == 20
    assert _committed_batches(statements)[0].count("SAVEPOINT block") > 1


@pytest.mark.parametrize("contended", [False, True], ids=["idle", "write-locked"])
async def test_cancelling_the_first_block_during_begin_is_safe(
    file_db: SqliteDatabase, spawn: Spawn, contended: bool
) -> None:
    await _create(file_db)
    rounds = 1 if contended else 20
    for round_ in range(rounds):
        other = None
        if contended:  # BEGIN IMMEDIATE waits for this connection's write lock
            other = sqlite3.connect(file_db.path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
        try:
            first = spawn(_insert(file_db, 1000 + round_))
            await asyncio.sleep(0)
            # The first block holds the gate and waits for BEGIN IMMEDIATE on the writer
            # thread.
            assert file_db._lock.locked() and not first.done()
            first.cancel()
            others = [spawn(_insert(file_db, round_ * 10 + i)) for i in range(5)]
            if other is not None:
                await asyncio.sleep(0.02)
                assert not first.done()  # cancelled, yet waiting for its BEGIN to end
        finally:
            if other is not None:
                other.close()  # ends its transaction: BEGIN IMMEDIATE goes through
        async with asyncio.timeout(LIMIT):
            results = await asyncio.gather(first, *others, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert results[1:] == [None] * 5

    assert _count(file_db.path) == rounds * 5
    assert _count(file_db.path, "x >= 1000") == 0


@pytest.mark.parametrize("when", ["blocks-queued", "batch-gathering"])
async def test_close_commits_what_is_pending(
    file_db: SqliteDatabase, spawn: Spawn, when: str
) -> None:
    await _create(file_db)
    last_ended = asyncio.Event()

    async def write_last() -> None:
        async with file_db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (19, 'a')")
            last_ended.set()

    tasks = [spawn(_insert(file_db, x)) for x in range(19)]
    tasks.append(spawn(write_last()))
    if when == "blocks-queued":
        await asyncio.sleep(0)  # the first block waits for BEGIN, the others for their turn
    else:
        async with asyncio.timeout(LIMIT):
            await last_ended.wait()  # every block has run; the batch is not committed yet
        assert _count(file_db.path) == 0
    async with asyncio.timeout(LIMIT):
        await file_db.close()
    assert _count(file_db.path) == 20
    async with asyncio.timeout(LIMIT):
        assert await asyncio.gather(*tasks) == [None] * 20


_HOLD_WRITE_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def _hold_write_lock(path: str) -> subprocess.Popen[str]:
    """Another process, holding the database's write lock until a line comes on its stdin."""
    return subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITE_LOCK, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


async def test_another_process_holding_the_write_lock_does_not_freeze_the_loop(
    tmp_path: Path, spawn: Spawn
) -> None:
    path = str(tmp_path / "locked.sqlite3")
    # Were BEGIN run on the loop, it would freeze the loop this long (then fail), not 5 s.
    db = await Database.open(path, busy_timeout_ms=2000)
    assert isinstance(db, SqliteDatabase)
    holder = _hold_write_lock(path)
    try:
        await _create(db)
        assert holder.stdin is not None and holder.stdout is not None
        async with asyncio.timeout(LIMIT):
            assert (await asyncio.to_thread(holder.stdout.readline)).strip() == "locked"
        begun = threading.Event()
        begins: list[int] = []

        def note(sql: str) -> None:
            if sql == "BEGIN IMMEDIATE":
                begins.append(threading.get_ident())
                begun.set()

        db._writer.set_trace_callback(note)
        write = spawn(_insert(db, 1))
        # BEGIN IMMEDIATE starts and waits for the other process's lock. Had it run on the
        # loop's thread, the loop would stand still until the busy timeout ran out and the
        # write failed; instead the loop goes on (this await needs it) and reads go on.
        async with asyncio.timeout(LIMIT):
            assert await asyncio.to_thread(begun.wait, LIMIT)
        async with db.conn.execute("SELECT COUNT(*) FROM t") as cursor:
            row = await cursor.fetchone()
            assert row is not None and row[0] == 0
        assert not write.done()  # waiting for the other process's lock...
        assert begins == [begins[0]] and begins[0] != threading.get_ident()  # ...off the loop

        holder.stdin.write("\n")
        holder.stdin.flush()
        async with asyncio.timeout(LIMIT):
            await write
        assert _count(path) == 1
    finally:
        holder.kill()
        await asyncio.to_thread(holder.communicate)
        await db.close()


_SLOW_READ = (
    "SELECT COUNT(*) FROM (WITH RECURSIVE c (n) AS"
    " (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) SELECT n FROM c)"
)


async def test_a_slow_read_moves_off_the_loop(file_db: SqliteDatabase, spawn: Spawn) -> None:
    await _create(file_db)
    await _insert(file_db, 5, "five")
    rows = 1_000_000  # far more than INLINE_READ_BUDGET's worth on any machine
    reader = file_db.conn
    runs: list[tuple[str, int]] = []  # (connection, thread) of each run of the slow read

    def traced(where: str) -> Callable[[str], None]:
        def note(sql: str) -> None:
            if "RECURSIVE" in sql:
                runs.append((where, threading.get_ident()))

        return note

    reader._quick.set_trace_callback(traced("inline"))  # type: ignore[attr-defined]
    # The reader thread's own sqlite3 connection, set up on that thread.
    thread_conn = reader._conn  # type: ignore[attr-defined]
    await reader.submit(  # type: ignore[attr-defined]
        lambda: thread_conn.set_trace_callback(traced("thread"))
    )
    # The reader's thread runs the read only once the loop has taken a turn while it is
    # under way: a read blocking the loop would never get that turn (and fail below).
    underway, loop_turned = threading.Event(), threading.Event()

    def wait_for_the_loop() -> int:
        if not underway.is_set():
            underway.set()
            loop_turned.wait(LIMIT)
        return 0

    await reader.submit(  # type: ignore[attr-defined]
        lambda: thread_conn.set_progress_handler(wait_for_the_loop, 10_000)
    )

    async def turn_when_underway() -> None:
        assert await asyncio.to_thread(underway.wait, LIMIT)
        loop_turned.set()

    turner = spawn(turn_when_underway())
    async with asyncio.timeout(LIMIT), file_db.conn.execute(_SLOW_READ, (rows,)) as cursor:
        row = await cursor.fetchone()
    assert row is not None and row[0] == rows
    # Tried inline first, interrupted, and redone on the reader's thread, where the loop
    # kept running beside it.
    loop = threading.get_ident()
    assert [where for where, _ in runs] == ["inline", "thread"], runs
    assert runs[0][1] == loop and runs[1][1] != loop
    async with asyncio.timeout(LIMIT):
        await turner
    assert loop_turned.is_set()

    await reader.submit(  # type: ignore[attr-defined]
        lambda: thread_conn.set_progress_handler(None, 0)
    )
    # The interrupted inline read left the quick path working.
    async with file_db.conn.execute("SELECT v FROM t WHERE x = ?", (5,)) as cursor:
        row = await cursor.fetchone()
        assert row is not None and row["v"] == "five"
    cursor = await file_db.conn.execute("SELECT x FROM t WHERE x < 10 ORDER BY x")
    assert [row[0] async for row in cursor] == [5]


async def test_an_in_memory_database_works_inline() -> None:
    threads = set(threading.enumerate())
    db = await Database.open(":memory:")
    assert isinstance(db, SqliteDatabase)
    try:
        await _create(db)

        async def bad() -> None:
            with pytest.raises(RuntimeError):
                async with db.transaction() as conn:
                    await conn.execute("INSERT INTO t VALUES (100, 'bad')")
                    raise RuntimeError("boom")

        await _all(*(_insert(db, x) for x in range(5)), bad())
        # `conn` is the writer's own connection (another ":memory:" one would have no t).
        async with db.conn.execute("SELECT x FROM t ORDER BY x") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == [0, 1, 2, 3, 4]
        assert not db._writer.in_transaction  # `conn` is the writer's own connection
        assert set(threading.enumerate()) <= threads  # no writer or reader thread
    finally:
        await db.close()


async def test_blocks_queued_during_a_begin_all_run_in_the_turn_after_it(
    file_db: SqliteDatabase, spawn: Spawn
) -> None:
    """Blocks that queued while the gate was held across a suspension (BEGIN on the writer
    thread) all run in the one turn of the loop after it is released, not one per turn: the
    event loop's turns do not limit how many blocks a batch takes under load."""
    await _create(file_db)
    ran: list[int] = []
    first_ran = asyncio.Event()

    async def write(x: int) -> None:
        async with file_db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (?, 'a')", (x,))
            ran.append(x)
            first_ran.set()

    tasks = [spawn(write(x)) for x in range(20)]
    await asyncio.sleep(0)
    # The first block holds the gate, waiting for BEGIN IMMEDIATE; the others queue.
    assert file_db._lock.locked() and ran == []
    async with asyncio.timeout(LIMIT):
        await first_ran.wait()  # resumes in the turn after the first block ran
    # In that turn every queued block ran too (woken when the first one released the
    # gate), in the order they came; asyncio.Lock would have let in one per turn.
    await asyncio.sleep(0)
    assert ran == list(range(20))
    async with asyncio.timeout(LIMIT):
        await asyncio.gather(*tasks)
    assert _count(file_db.path) == 20


# The hang guard of the tests below (none of them measures time).
HANG = 60.0


def _held_commit(
    file_db: SqliteDatabase,
    monkeypatch: pytest.MonkeyPatch,
    then: Callable[[], object] = lambda: None,
) -> threading.Event:
    """Make the next COMMITs wait on the writer thread until the returned event is set
    (then run `then` there, right after the COMMIT): blocks arriving meanwhile queue."""
    go = threading.Event()
    writer, submit = file_db._writer, file_db._submit

    def held() -> None:
        assert go.wait(HANG)
        writer.execute("COMMIT")
        then()

    def holding_submit(fn: Callable[..., object], *args: object) -> asyncio.Future[object]:
        return submit(held) if args == ("COMMIT",) else submit(fn, *args)

    monkeypatch.setattr(file_db, "_submit", holding_submit)
    return go


async def _commit_under_way(db: SqliteDatabase) -> None:
    """Wait until the first block has ended and the committer holds the gate for its
    COMMIT (held on the writer thread)."""
    for _ in range(100_000):  # turns of the loop; a hang fails
        if db._lock.locked() and db._batch is not None and db._batch.finished == 1:
            return
        await asyncio.sleep(0)
    raise AssertionError("the first block's COMMIT never got under way")


def _trace_threads(db: SqliteDatabase) -> list[tuple[str, int]]:
    """Every statement the writer runs from now on, with the thread that ran it."""
    statements: list[tuple[str, int]] = []
    db._writer.set_trace_callback(lambda sql: statements.append((sql, threading.get_ident())))
    return statements


async def test_blocks_queued_behind_a_commit_begin_at_once_and_run_in_the_turn_after_it(
    file_db: SqliteDatabase, spawn: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A COMMIT that finds blocks queued behind it begins their transaction on the loop's
    thread (the write lock is free: nothing to wait for) instead of leaving the first of
    them to go to the writer thread and back while the others keep waiting."""
    await _create(file_db)
    go = _held_commit(file_db, monkeypatch)
    statements = _trace_threads(file_db)
    first = spawn(_insert(file_db, 0))
    async with asyncio.timeout(HANG):
        await _commit_under_way(file_db)
    ran: list[int] = []

    async def write(x: int) -> None:
        async with file_db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (?, 'a')", (x,))
            ran.append(x)

    queued = [spawn(write(x)) for x in range(1, 11)]
    await asyncio.sleep(0)
    assert file_db._queued_blocks == 10 and ran == []
    go.set()
    async with asyncio.timeout(HANG):
        await first
    # `first` resumed in the turn after the COMMIT's outcome was known; the queued blocks,
    # woken in that same turn, all ran in it, in the order they came.
    assert ran == list(range(1, 11))
    async with asyncio.timeout(HANG):
        await asyncio.gather(*queued)
    assert _count(file_db.path) == 11
    loop = threading.get_ident()
    begins = [thread for sql, thread in statements if sql == "BEGIN IMMEDIATE"]
    # The first block's BEGIN on the writer thread, then the queued blocks' on the loop's.
    assert len(begins) == 2 and begins[0] != loop and begins[1] == loop
    batches = _committed_batches([sql for sql, _ in statements])
    assert [batch.count("SAVEPOINT block") for batch in batches] == [1, 10]
    assert file_db._writer.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


async def test_blocks_queued_behind_a_commit_wait_off_the_loop_when_another_holds_the_lock(
    file_db: SqliteDatabase, spawn: Spawn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If another connection takes the write lock between a COMMIT and the BEGIN of the
    blocks queued behind it, that BEGIN fails at once instead of waiting on the loop's
    thread, and the first queued block waits for the lock on the writer thread."""
    await _create(file_db)
    other = sqlite3.connect(file_db.path, isolation_level=None, check_same_thread=False)
    try:
        go = _held_commit(file_db, monkeypatch, then=lambda: other.execute("BEGIN IMMEDIATE"))
        statements = _trace_threads(file_db)
        first = spawn(_insert(file_db, 0))
        async with asyncio.timeout(HANG):
            await _commit_under_way(file_db)
        queued = [spawn(_insert(file_db, x)) for x in range(1, 6)]
        await asyncio.sleep(0)
        go.set()
        async with asyncio.timeout(HANG):
            await first
        begins: list[tuple[str, int]] = []
        async with asyncio.timeout(HANG):
            while not any(thread != threading.get_ident() for _, thread in begins[1:]):
                await asyncio.sleep(0.01)  # the loop goes on meanwhile
                begins = [entry for entry in statements if entry[0] == "BEGIN IMMEDIATE"]
        assert not any(task.done() for task in queued)  # waiting for the other's lock
        other.execute("ROLLBACK")
        async with asyncio.timeout(HANG):
            await asyncio.gather(*queued)
    finally:
        other.close()
    assert _count(file_db.path) == 6
    assert file_db._writer.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
