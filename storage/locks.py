"""Transaction-scoped locks across instances: one helper for every check-then-write that
must not run twice at once for the same thing (a user's inbox queue, a subject's
disclosure units). On PostgreSQL, `pg_advisory_xact_lock(class, key)`, released when the
transaction ends; on SQLite nothing, since a write transaction already holds the whole
database (BEGIN IMMEDIATE), in this process and in any other."""

from __future__ import annotations

from enum import IntEnum

from storage.connection import Connection


class LockClass(IntEnum):
    """The first key of an advisory lock: what kind of thing the second key names.
    Distinct values, so a user's lock never waits for a subject's of the same number."""

    USER_QUEUE = 0x66656564  # "feed": a user's inbox queue (storage.inbox)
    SUBJECT_DISCLOSURE = 0x64697363  # "disc": a subject's disclosure units


def lock_key(key: int) -> int:
    """`key` folded into the signed 32-bit second key of a lock (two keys sharing one
    only wait for each other)."""
    folded = (key ^ (key >> 32)) & 0xFFFFFFFF
    return folded - (1 << 32) if folded >= 1 << 31 else folded


async def hold(conn: Connection, lock_class: LockClass, key: int) -> None:
    """Hold the lock of (`lock_class`, `key`) until this transaction ends, waiting for
    another transaction holding it (PostgreSQL; a no-op on SQLite). Take it first in the
    transaction, before reading what the decision depends on: the reads that follow then
    see everything the previous holder committed (READ COMMITTED takes a new snapshot per
    statement)."""
    if conn.dialect != "postgresql":
        return
    await conn.execute("SELECT pg_advisory_xact_lock(?, ?)", (int(lock_class), lock_key(key)))
