"""Thank-yous not sent yet: the survey an update completed, until its thank-you went out.

The update that completes a survey records a row here in the transaction that stores the
response (`record`), and the row is removed once the thank-you was sent (`sent`). If the
process dies in between, Telegram (or the inbox) delivers that update again; it is found
processed, and `find` tells what to thank for. The row holds the update id and the survey,
no chat, respondent or response: the chat is the redelivered update's own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.connection import Connection
from storage.db import encode_time, placeholders


@dataclass(frozen=True, slots=True)
class PendingThanks:
    """The survey an update completed whose thank-you may not have been sent."""

    update_id: int
    subject_id: int
    survey_id: str
    survey_version: int


async def record(
    conn: Connection,
    update_id: int,
    *,
    subject_id: int,
    survey_id: str,
    survey_version: int,
    now: datetime,
) -> None:
    """Note that `update_id` completed a survey whose thank-you is still to be sent (in
    the transaction that stores the response)."""
    await conn.execute(
        "INSERT INTO pending_thanks (update_id, subject_id, survey_id, survey_version,"
        " created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (update_id) DO NOTHING",
        (update_id, subject_id, survey_id, survey_version, encode_time(now)),
    )


async def find(conn: Connection, update_id: int) -> PendingThanks | None:
    """The thank-you `update_id` still owes, or None (none was owed, or it was sent)."""
    async with conn.execute(
        "SELECT subject_id, survey_id, survey_version FROM pending_thanks WHERE update_id = ?",
        (update_id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    return PendingThanks(update_id, int(row[0]), str(row[1]), int(row[2]))


async def sent(conn: Connection, update_ids: Sequence[int]) -> int:
    """Forget the thank-yous of `update_ids` (sent, or given up); returns how many."""
    if not update_ids:
        return 0
    cursor = await conn.execute(
        f"DELETE FROM pending_thanks WHERE update_id IN ({placeholders(update_ids)})",
        tuple(update_ids),
    )
    return cursor.rowcount


async def prune(conn: Connection, *, older_than: datetime) -> int:
    """Forget thank-yous owed since before `older_than`: their updates cannot be
    redelivered any more (Telegram keeps an update for 24 hours)."""
    cursor = await conn.execute(
        "DELETE FROM pending_thanks WHERE created_at < ?", (encode_time(older_than),)
    )
    return cursor.rowcount
