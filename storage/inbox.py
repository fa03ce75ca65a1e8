"""The inbox of webhook mode: updates stored before the webhook answers, claimed with a
lease by workers, applied in update-id order per user and never two of a user's at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.connection import Connection
from storage.db import encode_time, placeholders


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


_CLAIMABLE = (
    "i.done_at IS NULL"
    " AND (i.claimed_until IS NULL OR i.claimed_until < ?)"
    " AND (i.user_key IS NULL OR NOT EXISTS ("
    "  SELECT 1 FROM inbox AS e WHERE e.user_key = i.user_key"
    "   AND e.done_at IS NULL AND e.update_id < i.update_id))"
)


async def claimable(conn: Connection, *, now: datetime) -> bool:
    """Whether `claim` would find anything (a read: an idle worker takes no write lock)."""
    async with conn.execute(
        f"SELECT 1 FROM inbox AS i WHERE {_CLAIMABLE} LIMIT 1", (encode_time(now),)
    ) as cursor:
        return await cursor.fetchone() is not None


async def claim(
    conn: Connection, worker: str, *, now: datetime, until: datetime, limit: int
) -> list[Claimed]:
    """Claim up to `limit` pending updates for `worker` until `until`, oldest first.

    Only the head of each user's queue can be claimed: the user's oldest update not done
    yet, and only when nobody holds a live claim on it. So one user's updates are applied
    in update-id order and never two at once, by any number of workers sharing the
    database; a claim whose lease ran out (its worker died) is taken again. Updates of
    neither a user nor a chat (user_key NULL) need no order and are all heads."""
    cursor = await conn.execute(
        "UPDATE inbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1"
        f" WHERE update_id IN (SELECT i.update_id FROM inbox AS i WHERE {_CLAIMABLE}"
        "  ORDER BY i.update_id LIMIT ?)"
        " RETURNING update_id, body, attempts",
        (worker, encode_time(until), encode_time(now), limit),
    )
    rows = await cursor.fetchall()
    claimed = [Claimed(int(r[0]), str(r[1] or ""), int(r[2])) for r in rows]
    return sorted(claimed, key=lambda c: c.update_id)


async def claim_stored(
    conn: Connection, update_id: int, worker: str, *, now: datetime, until: datetime
) -> Claimed | None:
    """Claim the update just stored in this transaction for `worker`, when `claim` could
    take it now (its user has nothing older pending): the receiving instance then
    applies it without a claim round of its own. None when it must wait its turn."""
    cursor = await conn.execute(
        "UPDATE inbox AS i SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1"
        f" WHERE i.update_id = ? AND {_CLAIMABLE}"
        " RETURNING update_id, body, attempts",
        (worker, encode_time(until), update_id, encode_time(now)),
    )
    row = await cursor.fetchone()
    return None if row is None else Claimed(int(row[0]), str(row[1] or ""), int(row[2]))


async def renew(
    conn: Connection, worker: str, update_ids: list[int], *, until: datetime
) -> int:
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
    """Mark an update done and forget its body; False if it was done already."""
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
