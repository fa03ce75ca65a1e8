"""The inbox of webhook mode: updates stored before the webhook answers, claimed with a
lease by workers, applied in update-id order per user and never two of a user's at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.connection import Connection, Row
from storage.db import encode_time, placeholders
from storage.locks import LockClass, hold, lock_key


@dataclass(frozen=True)
class Claimed:
    """An update a worker took from the inbox: the raw JSON and how often it was taken."""

    update_id: int
    body: str
    attempts: int


async def store(
    conn: Connection, update_id: int, user_key: int | None, body: str, *, now: datetime
) -> bool:
    """Store a received update: True the first time, False for a redelivery (a no-op)."""
    cursor = await conn.execute(
        "INSERT INTO inbox (update_id, user_key, body, received_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (update_id) DO NOTHING",
        (update_id, user_key, body, encode_time(now)),
    )
    return cursor.rowcount == 1


# Whether the update `i` may be claimed at ? (now, given twice): not done, nobody holds a
# live claim on it, and it heads its user's queue: nothing older of the user is pending,
# and nothing newer is being applied (an older update the load balancer delivered late
# waits until the newer one, already taken, is done: never two of a user's at once).
_CLAIMABLE = (
    "i.done_at IS NULL"
    " AND (i.claimed_until IS NULL OR i.claimed_until < ?)"
    " AND (i.user_key IS NULL OR NOT EXISTS ("
    "  SELECT 1 FROM inbox AS e WHERE e.user_key = i.user_key AND e.done_at IS NULL"
    "   AND (e.update_id < i.update_id"
    "    OR (e.update_id > i.update_id AND e.claimed_until >= ?))))"
)
# PostgreSQL's inbox_accept function (migrations/postgres/0013_one_trip_writes.sql) holds
# a copy of this condition for `claim_stored`: change both together.
# PostgreSQL's lock of a user's queue (storage.locks, LockClass.USER_QUEUE): any
# transaction that stores an update or decides which update heads a user's queue holds
# it, so two instances never decide the same user's head at once.


async def lock_user(conn: Connection, user_key: int | None) -> None:
    """Hold `user_key`'s queue until this transaction ends (PostgreSQL; on SQLite the
    write transaction already holds the whole database). Call it first in a transaction
    that stores an update of the user or claims one."""
    if user_key is not None:
        await hold(conn, LockClass.USER_QUEUE, user_key)


async def claimable(conn: Connection, *, now: datetime) -> bool:
    """Whether `claim` would find anything (a read: an idle worker takes no write lock)."""
    moment = encode_time(now)
    async with conn.execute(
        f"SELECT 1 FROM inbox AS i WHERE {_CLAIMABLE} LIMIT 1", (moment, moment)
    ) as cursor:
        return await cursor.fetchone() is not None


async def claim(
    conn: Connection, worker: str, *, now: datetime, until: datetime, limit: int
) -> list[Claimed]:
    """Claim up to `limit` pending updates for `worker` until `until`, oldest first.

    Only the head of each user's queue can be claimed: the user's oldest update not done
    yet, and only when nobody holds a live claim on it (nor on a newer update of the
    user). So one user's updates are applied in update-id order and never two at once,
    by any number of workers sharing the database; a claim whose lease ran out (its
    worker died) is taken again. Updates of neither a user nor a chat (user_key NULL)
    need no order and are all heads.

    On SQLite the write transaction holds the whole database, so one UPDATE decides. On
    PostgreSQL (READ COMMITTED, several instances at once) a concurrent claim or store
    could change what heads a queue after this statement's snapshot was taken, and the
    re-check of a row another transaction just changed covers that row's own columns,
    not the other rows the head condition looks at. So: list the candidates, take the
    lock of each of their users (`lock_user`, skipping users whose queue another
    instance is deciding right now: they are retried at the next round), then claim
    with a fresh snapshot, under those locks, with FOR UPDATE SKIP LOCKED."""
    moment, lease = encode_time(now), encode_time(until)
    if conn.dialect != "postgresql":
        cursor = await conn.execute(
            "UPDATE inbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1"
            f" WHERE update_id IN (SELECT i.update_id FROM inbox AS i WHERE {_CLAIMABLE}"
            "  ORDER BY i.update_id LIMIT ?)"
            " RETURNING update_id, body, attempts",
            (worker, lease, moment, moment, limit),
        )
        return _sorted(await cursor.fetchall())
    async with conn.execute(
        f"SELECT i.update_id, i.user_key FROM inbox AS i WHERE {_CLAIMABLE}"
        " ORDER BY i.update_id LIMIT ?",
        (moment, moment, limit),
    ) as cursor:
        candidates = [(int(r[0]), r[1]) for r in await cursor.fetchall()]
    if not candidates:
        return []
    users = sorted({int(user) for _, user in candidates if user is not None})
    held: set[int] = set()
    if users:
        async with conn.execute(
            "SELECT u.k FROM unnest(?::bigint[], ?::int[]) AS u(k, h)"
            " WHERE pg_try_advisory_xact_lock(?, u.h)",
            (users, [lock_key(u) for u in users], int(LockClass.USER_QUEUE)),
        ) as cursor:
            held = {int(r[0]) for r in await cursor.fetchall()}
    chosen = [u for u, user in candidates if user is None or int(user) in held]
    if not chosen:
        return []
    cursor = await conn.execute(
        "UPDATE inbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1"
        " WHERE update_id IN (SELECT i.update_id FROM inbox AS i"
        f"  WHERE i.update_id = ANY(?::bigint[]) AND {_CLAIMABLE} FOR UPDATE SKIP LOCKED)"
        " RETURNING update_id, body, attempts",
        (worker, lease, chosen, moment, moment),
    )
    return _sorted(await cursor.fetchall())


def _sorted(rows: list[Row]) -> list[Claimed]:
    claimed = [Claimed(int(r[0]), str(r[1] or ""), int(r[2])) for r in rows]
    return sorted(claimed, key=lambda c: c.update_id)


async def claim_stored(
    conn: Connection, update_id: int, worker: str, *, now: datetime, until: datetime
) -> Claimed | None:
    """Claim the update just stored in this transaction for `worker`, when `claim` could
    take it now (its user has nothing older pending, nothing newer in flight): the
    receiving instance then applies it without a claim round of its own. None when it
    must wait its turn. On PostgreSQL the transaction must hold the user's lock
    (`lock_user`, taken before `store`)."""
    moment = encode_time(now)
    cursor = await conn.execute(
        "UPDATE inbox AS i SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1"
        f" WHERE i.update_id = ? AND {_CLAIMABLE}"
        " RETURNING update_id, body, attempts",
        (worker, encode_time(until), update_id, moment, moment),
    )
    row = await cursor.fetchone()
    return None if row is None else Claimed(int(row[0]), str(row[1] or ""), int(row[2]))


@dataclass(frozen=True)
class Accepted:
    """What `accept` did: whether the update was stored (False: a redelivery), and the
    claim taken on it (None when not asked, or when it must wait its turn)."""

    stored: bool
    claimed: Claimed | None


async def accept(
    conn: Connection,
    update_id: int,
    user_key: int | None,
    body: str,
    *,
    now: datetime,
    claim_for: str | None,
    until: datetime,
) -> Accepted:
    """Store a received update (`store`) and, when it was stored and `claim_for` names a
    worker, claim it for that worker if it heads its user's queue (`claim_stored`), all
    under the user's queue lock (`lock_user`).

    Run it in a `Database.one_statement()` block: on PostgreSQL it is one call of the
    `inbox_accept` function (migration 0013), a single round trip where the steps as
    statements of a transaction would cost five; on SQLite the same steps, in the
    block's transaction."""
    if conn.dialect != "postgresql":
        await lock_user(conn, user_key)
        stored = await store(conn, update_id, user_key, body, now=now)
        claimed = None
        if stored and claim_for is not None:
            claimed = await claim_stored(conn, update_id, claim_for, now=now, until=until)
        return Accepted(stored, claimed)
    result = await conn.execute(
        "SELECT was_stored, claim_attempts FROM inbox_accept(?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            update_id,
            user_key,
            body,
            encode_time(now),
            int(LockClass.USER_QUEUE),
            None if user_key is None else lock_key(user_key),
            claim_for is not None,
            claim_for,
            encode_time(until),
        ),
    )
    row = await result.fetchone()
    assert row is not None, "inbox_accept returns one row"
    attempts = row[1]
    claimed = None if attempts is None else Claimed(update_id, body, int(attempts))
    return Accepted(bool(row[0]), claimed)


async def renew(conn: Connection, worker: str, update_ids: list[int], *, until: datetime) -> int:
    """Extend `worker`'s live claims on `update_ids` (a long handler keeps its update);
    returns how many it still held."""
    if not update_ids:
        return 0
    cursor = await conn.execute(
        "UPDATE inbox SET claimed_until = ?"
        f" WHERE claimed_by = ? AND done_at IS NULL AND update_id IN ({placeholders(update_ids)})",
        (encode_time(until), worker, *update_ids),
    )
    return cursor.rowcount


async def finish(conn: Connection, update_id: int, *, now: datetime) -> bool:
    """Mark an update done and forget its body; False if it was done already. One
    statement: it may run in a `Database.one_statement()` block."""
    cursor = await conn.execute(
        "UPDATE inbox SET done_at = ?, body = NULL, claimed_by = NULL, claimed_until = NULL"
        " WHERE update_id = ? AND done_at IS NULL",
        (encode_time(now), update_id),
    )
    return cursor.rowcount == 1


async def prune_done(conn: Connection, *, older_than: datetime) -> int:
    """Forget updates done before `older_than` (Telegram redelivers for at most 24 hours,
    so a redelivery older than that cannot come); returns how many were removed."""
    cursor = await conn.execute(
        "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < ?", (encode_time(older_than),)
    )
    return cursor.rowcount


async def pending(conn: Connection) -> int:
    """How many stored updates are not done yet."""
    async with conn.execute("SELECT count(*) FROM inbox WHERE done_at IS NULL") as cursor:
        row = await cursor.fetchone()
    return 0 if row is None else int(row[0])
