"""storage.db.read_in_thread: a report's reads in one trip to the reader's thread, never
tried inline on the event loop first (and so never interrupted and redone there); and
storage.db.read_at_once: a small report's reads inline, within the inline read budget.

Which thread ran a read, how often it ran and whether it was interrupted is checked,
never how long anything took."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from storage.connection import SyncConnection
from storage.db import Database, read_at_once, read_in_thread

# Long enough to stall the loop visibly if it ran there, far over the inline budget.
_SLOW_READ = (
    "SELECT COUNT(*) FROM (WITH RECURSIVE c (n) AS"
    " (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) SELECT n FROM c)"
)
LIMIT = 5.0


async def _fill(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, v TEXT)")
        await conn.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')")


def _rows_and_thread(conn: SyncConnection) -> tuple[list[object], list[object], int]:
    first = conn.execute("SELECT x, v FROM t ORDER BY x").fetchall()
    second = conn.execute("SELECT COUNT(*) FROM t").fetchall()
    return first, second, threading.get_ident()


async def test_a_file_database_runs_the_function_on_the_readers_thread(
    file_db: Database,
) -> None:
    await _fill(file_db)
    first, second, thread = await file_db.read_in_thread(_rows_and_thread)
    assert first == [(1, "one"), (2, "two")] and second == [(2,)]
    assert all(type(row) is tuple for row in first)  # plain tuples, not sqlite3.Row
    assert thread != threading.get_ident()
    # The reader's own rows are sqlite3.Row again afterwards, inline or on its thread.
    async with file_db.conn.execute("SELECT v FROM t WHERE x = 1") as cursor:
        row = await cursor.fetchone()
        assert row is not None and row["v"] == "one"
    await file_db.conn.execute("PRAGMA user_version")  # a statement on the thread
    async with file_db.conn.execute("SELECT v FROM t WHERE x = 2") as cursor:
        row = await cursor.fetchone()
        assert row is not None and row["v"] == "two"


async def test_the_module_function_takes_database_conn(file_db: Database) -> None:
    await _fill(file_db)
    first, _, thread = await read_in_thread(file_db.conn, _rows_and_thread)
    assert first == [(1, "one"), (2, "two")] and thread != threading.get_ident()


async def test_the_job_is_queued_before_it_is_awaited(file_db: Database) -> None:
    await _fill(file_db)
    started = threading.Event()

    def mark(conn: SyncConnection) -> int:
        started.set()
        return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])

    job = file_db.read_in_thread(mark)
    # Not awaited yet: the reader's thread has it anyway (waiting here blocks the loop,
    # which is the point: nothing on the loop needs to run for the job to start).
    assert await asyncio.to_thread(started.wait, LIMIT)
    assert await job == 2


async def test_a_slow_report_runs_once_and_off_the_loop(file_db: Database) -> None:
    await _fill(file_db)
    rows = 1_000_000  # far more than INLINE_READ_BUDGET's worth, had it been tried inline
    threads: list[int] = []
    underway, loop_turned = threading.Event(), threading.Event()

    def slow(conn: SyncConnection) -> tuple[int, bool]:
        threads.append(threading.get_ident())
        underway.set()
        # Finishes only after the loop has taken a turn while the report runs: a report
        # blocking the loop would wait in vain (and report False).
        turned = loop_turned.wait(LIMIT)
        return int(conn.execute(_SLOW_READ, (rows,)).fetchone()[0]), turned

    async def turn_when_underway() -> None:
        assert await asyncio.to_thread(underway.wait, LIMIT)
        loop_turned.set()

    turner = asyncio.create_task(turn_when_underway())
    try:
        async with asyncio.timeout(LIMIT):
            assert await file_db.read_in_thread(slow) == (rows, True)
    finally:
        turner.cancel()
        await asyncio.gather(turner, return_exceptions=True)
    assert len(threads) == 1  # not interrupted and redone
    assert threads[0] != threading.get_ident()


async def test_an_error_reaches_the_caller_and_the_reader_stays_usable(
    file_db: Database,
) -> None:
    await _fill(file_db)

    def broken(conn: SyncConnection) -> None:
        conn.execute("SELECT x FROM nowhere")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await file_db.read_in_thread(broken)
    first, _, _ = await file_db.read_in_thread(_rows_and_thread)
    assert first == [(1, "one"), (2, "two")]
    async with file_db.conn.execute("SELECT v FROM t WHERE x = 1") as cursor:
        row = await cursor.fetchone()
        assert row is not None and row["v"] == "one"


async def test_an_in_memory_database_runs_it_inline(sqlite_db: Database) -> None:
    db = sqlite_db
    await _fill(db)
    first, second, thread = await db.read_in_thread(_rows_and_thread)
    assert first == [(1, "one"), (2, "two")] and second == [(2,)]
    assert thread == threading.get_ident()
    async with db.conn.execute("SELECT v FROM t WHERE x = 1") as cursor:
        row = await cursor.fetchone()
        assert row is not None and row["v"] == "one"
    with pytest.raises(sqlite3.OperationalError):
        await db.read_in_thread(lambda conn: conn.execute("SELECT * FROM nowhere"))


@pytest.mark.parametrize("which", ["memory", "file"])
async def test_inside_a_transaction_it_sees_the_blocks_own_writes(
    db: Database, file_db: Database, which: str
) -> None:
    database = db if which == "memory" else file_db
    await _fill(database)

    def count(conn: SyncConnection) -> int:
        return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])

    async with database.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (3, 'three')")
        assert await read_in_thread(conn, count) == 3
    assert await database.read_in_thread(count) == 3


async def test_read_at_once_runs_a_small_report_on_the_loops_thread(file_db: Database) -> None:
    await _fill(file_db)
    first, second, thread = await file_db.read_at_once(_rows_and_thread)
    assert first == [(1, "one"), (2, "two")] and second == [(2,)]
    assert all(type(row) is tuple for row in first)
    assert thread == threading.get_ident()
    first, _, thread = await read_at_once(file_db.conn, _rows_and_thread)
    assert first == [(1, "one"), (2, "two")] and thread == threading.get_ident()
    # The inline connection gives sqlite3.Row again to plain SELECTs.
    async with file_db.conn.execute("SELECT v FROM t WHERE x = 1") as cursor:
        row = await cursor.fetchone()
        assert row is not None and row["v"] == "one"


async def test_read_at_once_moves_a_report_over_budget_to_the_readers_thread(
    file_db: Database,
) -> None:
    await _fill(file_db)
    rows = 2_000_000  # far more than INLINE_READ_BUDGET's worth
    runs: list[tuple[int, str]] = []  # (thread, how it ended) of each run

    def slow(conn: SyncConnection) -> int:
        try:
            count = int(conn.execute(_SLOW_READ, (rows,)).fetchone()[0])
        except sqlite3.OperationalError as error:
            runs.append((threading.get_ident(), str(error)))
            raise
        runs.append((threading.get_ident(), "done"))
        return count

    job = file_db.read_at_once(slow)
    async with asyncio.timeout(LIMIT):
        assert await job == rows
    # Interrupted on the loop's thread by the budget's progress handler (not left to run
    # to its end there), then done once on the reader's.
    loop = threading.get_ident()
    assert [how for _, how in runs] == ["interrupted", "done"], runs
    assert runs[0][0] == loop and runs[1][0] != loop
    first, _, _ = await file_db.read_at_once(_rows_and_thread)  # the quick path still works
    assert first == [(1, "one"), (2, "two")]


async def test_read_at_once_passes_other_errors_on_without_a_retry(file_db: Database) -> None:
    await _fill(file_db)
    calls: list[int] = []

    def failing(conn: SyncConnection) -> None:
        calls.append(1)
        raise ValueError("not a database problem")

    with pytest.raises(ValueError, match="not a database problem"):
        await file_db.read_at_once(failing)
    assert calls == [1]


async def test_read_at_once_on_an_in_memory_database_is_inline(sqlite_db: Database) -> None:
    db = sqlite_db
    await _fill(db)
    first, _, thread = await db.read_at_once(_rows_and_thread)
    assert first == [(1, "one"), (2, "two")] and thread == threading.get_ident()
