"""Scheduled jobs claimed once per period across instances (the schedule_runs table)."""

from __future__ import annotations

from datetime import datetime

from storage.connection import Connection
from storage.db import encode_time


async def claim_run(conn: Connection, job: str, period: str, *, owner: str, now: datetime) -> bool:
    """Claim `job`'s run for `period` for `owner`: True for the first claim of the pair
    (the caller runs the job), False when an instance claimed it already.

    One INSERT on the primary key: on PostgreSQL a concurrent claim of the same pair
    waits for the first to commit and then inserts nothing, so exactly one wins."""
    cursor = await conn.execute(
        "INSERT INTO schedule_runs (job, period, claimed_by, claimed_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (job, period) DO NOTHING",
        (job, period, owner, encode_time(now)),
    )
    return cursor.rowcount == 1


async def runs(conn: Connection, job: str) -> list[tuple[str, str]]:
    """(period, claimed_by) of each claimed run of `job`, by period."""
    async with conn.execute(
        "SELECT period, claimed_by FROM schedule_runs WHERE job = ? ORDER BY period", (job,)
    ) as cursor:
        return [(str(row[0]), str(row[1])) for row in await cursor.fetchall()]


async def prune_runs(conn: Connection, *, older_than: datetime) -> int:
    """Forget runs claimed before `older_than`; returns how many were removed."""
    cursor = await conn.execute(
        "DELETE FROM schedule_runs WHERE claimed_at < ?", (encode_time(older_than),)
    )
    return cursor.rowcount
