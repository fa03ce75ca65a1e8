"""Telegram update ids already processed, so a redelivered update is applied once."""

from __future__ import annotations

from datetime import datetime

from storage.connection import Connection
from storage.db import encode_time


async def mark_processed(conn: Connection, update_id: int, *, now: datetime) -> bool:
    """Record an update id: True the first time, False when it was already processed.

    Call it in the same transaction as the update's effect (e.g. `save_state`): if the
    process dies before the commit, neither is kept and the redelivery is processed."""
    cursor = await conn.execute(
        "INSERT INTO processed_updates (update_id, processed_at) VALUES (?, ?)"
        " ON CONFLICT (update_id) DO NOTHING",
        (update_id, encode_time(now)),
    )
    return cursor.rowcount == 1


async def prune_processed(conn: Connection, *, older_than: datetime) -> int:
    """Forget update ids processed before `older_than` (Telegram keeps undelivered
    updates for 24 hours); returns how many were removed."""
    cursor = await conn.execute(
        "DELETE FROM processed_updates WHERE processed_at < ?", (encode_time(older_than),)
    )
    return cursor.rowcount


async def is_processed(conn: Connection, update_id: int) -> bool:
    """Whether an update id was already recorded (a read; no transaction needed)."""
    async with conn.execute(
        "SELECT 1 FROM processed_updates WHERE update_id = ?", (update_id,)
    ) as cursor:
        return await cursor.fetchone() is not None


async def highest_processed(conn: Connection) -> int | None:
    """The highest update id recorded, or None when there is none.

    Telegram's update ids increase, so at start-up only updates up to this id can be
    redeliveries; anything newer needs no look-up."""
    async with conn.execute("SELECT max(update_id) FROM processed_updates") as cursor:
        row = await cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])
