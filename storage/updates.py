"""Telegram update ids already processed, so a redelivered update is applied once."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from storage.db import encode_time


async def mark_processed(conn: aiosqlite.Connection, update_id: int, *, now: datetime) -> bool:
    """Record an update id: True the first time, False when it was already processed.

    Call it in the same transaction as the update's effect (e.g. `save_state`): if the
    process dies before the commit, neither is kept and the redelivery is processed."""
    cursor = await conn.execute(
        "INSERT INTO processed_updates (update_id, processed_at) VALUES (?, ?)"
        " ON CONFLICT (update_id) DO NOTHING",
        (update_id, encode_time(now)),
    )
    return cursor.rowcount == 1


async def prune_processed(conn: aiosqlite.Connection, *, older_than: datetime) -> int:
    """Forget update ids processed before `older_than` (Telegram keeps undelivered
    updates for 24 hours); returns how many were removed."""
    cursor = await conn.execute(
        "DELETE FROM processed_updates WHERE processed_at < ?", (encode_time(older_than),)
    )
    return cursor.rowcount
