"""The durable outbox: digests, pulses, alerts and reminders, each delivered once.

Senders in different processes (the bot and `feedbot digest send`) share the outbox, so
a sender `claim`s an item before sending it: a lease, `claimed_by` a per-process id until
`claimed_until`. Nobody else can claim the item (and `due_items` does not list it) while
the lease is live; the sender `renew`s it while it sends, and marking the item sent,
retried or failed releases it. A sender that dies leaves its lease to run out, after
which the item is due again and resumes after the parts already sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.connection import Connection, Row
from storage.db import decode_optional_time, decode_time, encode_time, placeholders
from storage.models import OutboxItem, OutboxStatus

_COLUMNS = (
    "id, kind, dedup_key, chat_id, payload_json, due_at, status, attempts, next_attempt_at,"
    " parts_sent, last_error, sent_at, claimed_by, claimed_until"
)
# Items that may still be sent (the rest are sent or failed for good).
_OPEN = "status IN ('pending', 'retry')"
# Nobody holds a live lease on the item (the bound parameter is now).
_UNCLAIMED = "(claimed_until IS NULL OR claimed_until < ?)"


def _item(row: Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        kind=row["kind"],
        dedup_key=row["dedup_key"],
        chat_id=row["chat_id"],
        payload_json=row["payload_json"],
        due_at=decode_time(row["due_at"]),
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=decode_time(row["next_attempt_at"]),
        parts_sent=row["parts_sent"],
        last_error=row["last_error"],
        sent_at=decode_optional_time(row["sent_at"]),
        claimed_by=row["claimed_by"],
        claimed_until=decode_optional_time(row["claimed_until"]),
    )


async def enqueue(
    conn: Connection,
    *,
    kind: str,
    dedup_key: str,
    chat_id: int,
    payload_json: str,
    due_at: datetime,
    now: datetime,
) -> bool:
    """Queue a message; False (and nothing changes) when `dedup_key` was ever queued.

    The dedup key names what must happen once, e.g. "digest:<owner>:<subject>:2026-W48",
    so scheduling the same digest twice, or after a restart, queues it once."""
    cursor = await conn.execute(
        "INSERT INTO outbox (kind, dedup_key, chat_id, payload_json, due_at, status, attempts,"
        " next_attempt_at, parts_sent, created_at)"
        " VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, 0, ?)"
        " ON CONFLICT (dedup_key) DO NOTHING",
        (
            kind,
            dedup_key,
            chat_id,
            payload_json,
            encode_time(due_at),
            encode_time(due_at),
            encode_time(now),
        ),
    )
    return cursor.rowcount == 1


async def get_item(conn: Connection, item_id: int) -> OutboxItem | None:
    """One outbox item, or None."""
    async with conn.execute(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (item_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else _item(row)


async def due_items(
    conn: Connection,
    *,
    now: datetime,
    limit: int,
    kinds: tuple[str, ...] | None = None,
) -> list[OutboxItem]:
    """Pending items that are due and retries whose time has come, by due time; not those
    a sender holds a live lease on (see `claim`). Only items of `kinds`, when given."""
    moment = encode_time(now)
    only = f" AND kind IN ({placeholders(kinds)})" if kinds is not None else ""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM outbox"
        f" WHERE {_OPEN} AND next_attempt_at <= ? AND {_UNCLAIMED}{only}"
        " ORDER BY due_at, id LIMIT ?",
        (moment, moment, *(kinds or ()), limit),
    ) as cur:
        rows = await cur.fetchall()
    return [_item(row) for row in rows]


async def claim(
    conn: Connection, item_id: int, *, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Take the item for `owner` until now + `lease`; False (and nothing changes) unless it
    is still to be sent, due at `now` and held by nobody (or by a lease that ran out).

    One UPDATE, so of two senders claiming the same item exactly one gets it (on
    PostgreSQL the loser does not even wait for the winner's commit: SKIP LOCKED). Claiming
    again what `owner` holds already is refused too: `renew` extends a lease. Commit the
    claim before sending (a transaction of its own), and re-read the item after it: its
    parts_sent and attempts may have moved since it was listed as due."""
    moment = encode_time(now)
    claimable = f"id = ? AND {_OPEN} AND next_attempt_at <= ? AND {_UNCLAIMED}"
    if conn.dialect == "postgresql":
        # Another instance claiming the same item right now holds its row lock: skip it
        # at once rather than wait for that commit (the row's conditions are checked
        # again on the latest version once locked, so a claim committed meanwhile counts).
        claimable = f"id = (SELECT id FROM outbox WHERE {claimable} FOR UPDATE SKIP LOCKED)"
    cursor = await conn.execute(
        f"UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE {claimable}",
        (owner, encode_time(now + lease), item_id, moment, moment),
    )
    return cursor.rowcount == 1


async def renew(
    conn: Connection, item_id: int, *, owner: str, now: datetime, lease: timedelta
) -> bool:
    """Extend `owner`'s claim on the item to now + `lease`; False when `owner` no longer
    holds it (another sender claimed it after the lease ran out, or it was settled), and
    then the caller must stop sending it."""
    cursor = await conn.execute(
        f"UPDATE outbox SET claimed_until = ? WHERE id = ? AND claimed_by = ? AND {_OPEN}",
        (encode_time(now + lease), item_id, owner),
    )
    return cursor.rowcount == 1


async def mark_part_sent(conn: Connection, item_id: int, parts_sent: int) -> None:
    """Remember that the first `parts_sent` parts went out (commit it right after each
    part), so a retry after a crash or an error resumes with the next part."""
    await conn.execute("UPDATE outbox SET parts_sent = ? WHERE id = ?", (parts_sent, item_id))


async def mark_sent(conn: Connection, item_id: int, *, now: datetime) -> None:
    """The whole item was delivered (and its claim released)."""
    await conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL,"
        " claimed_by = NULL, claimed_until = NULL WHERE id = ?",
        (encode_time(now), item_id),
    )


async def mark_retry(
    conn: Connection, item_id: int, *, error: str, next_attempt_at: datetime
) -> None:
    """A delivery attempt failed; try again at `next_attempt_at` (counts one attempt;
    the claim is released)."""
    await conn.execute(
        "UPDATE outbox SET status = 'retry', attempts = attempts + 1, last_error = ?,"
        " next_attempt_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?",
        (error, encode_time(next_attempt_at), item_id),
    )


async def mark_failed(conn: Connection, item_id: int, *, error: str) -> None:
    """Give up on an item (counts one attempt; the claim is released)."""
    await conn.execute(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?,"
        " claimed_by = NULL, claimed_until = NULL WHERE id = ?",
        (error, item_id),
    )


async def counts(conn: Connection) -> dict[str, int]:
    """How many items are in each status (every status present, zeros included)."""
    result = {status.value: 0 for status in OutboxStatus}
    async with conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status") as cur:
        for status, count in await cur.fetchall():
            result[status] = count
    return result


async def list_items(
    conn: Connection, kind: str | None = None, status: OutboxStatus | None = None
) -> list[OutboxItem]:
    """Items by id, optionally of one kind and/or status."""
    where: list[str] = []
    params: list[object] = []
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    if status is not None:
        where.append("status = ?")
        params.append(OutboxStatus(status).value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    async with conn.execute(f"SELECT {_COLUMNS} FROM outbox{clause} ORDER BY id", params) as cur:
        rows = await cur.fetchall()
    return [_item(row) for row in rows]
