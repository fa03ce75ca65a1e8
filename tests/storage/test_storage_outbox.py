"""The outbox: queued once per dedup key, delivered in order, resumed after the parts sent."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.db import Database
from storage.models import OutboxStatus
from storage.outbox import (
    counts,
    due_items,
    enqueue,
    get_item,
    list_items,
    mark_failed,
    mark_part_sent,
    mark_retry,
    mark_sent,
)


async def _enqueue(
    db: Database, key: str, due: datetime, now: datetime, kind: str = "digest"
) -> bool:
    async with db.transaction() as conn:
        return await enqueue(
            conn,
            kind=kind,
            dedup_key=key,
            chat_id=42,
            payload_json=f'{{"key": "{key}"}}',
            due_at=due,
            now=now,
        )


async def test_a_digest_is_queued_once_per_owner_subject_and_period(
    db: Database, now: datetime
) -> None:
    key = "digest:42:1:2026-W48"
    assert await _enqueue(db, key, now, now)
    assert not await _enqueue(db, key, now + timedelta(hours=1), now)  # after a "restart"
    items = await list_items(db.conn)
    assert len(items) == 1
    item = items[0]
    assert (item.kind, item.dedup_key, item.chat_id, item.status) == (
        "digest",
        key,
        42,
        OutboxStatus.PENDING,
    )
    assert (item.due_at, item.next_attempt_at, item.attempts, item.parts_sent) == (now, now, 0, 0)

    async with db.transaction() as conn:
        await mark_sent(conn, item.id, now=now)
    assert not await _enqueue(db, key, now, now)  # even once sent
    assert await counts(db.conn) == {"pending": 0, "retry": 0, "sent": 1, "failed": 0}


async def test_due_items_are_the_pending_and_retry_due_ones_by_due_time(
    db: Database, now: datetime
) -> None:
    await _enqueue(db, "later", now + timedelta(hours=1), now)
    await _enqueue(db, "second", now - timedelta(minutes=5), now)
    await _enqueue(db, "first", now - timedelta(minutes=10), now)
    await _enqueue(db, "retrying", now - timedelta(minutes=1), now, kind="pulse")
    retrying = (await list_items(db.conn, kind="pulse"))[0]
    async with db.transaction() as conn:
        await mark_retry(
            conn, retrying.id, error="RetryAfter 30", next_attempt_at=now + timedelta(seconds=30)
        )

    assert [i.dedup_key for i in await due_items(db.conn, now=now, limit=10)] == ["first", "second"]
    assert [i.dedup_key for i in await due_items(db.conn, now=now, limit=1)] == ["first"]
    in_a_minute = now + timedelta(minutes=1)
    assert [i.dedup_key for i in await due_items(db.conn, now=in_a_minute, limit=10)] == [
        "first",
        "second",
        "retrying",
    ]
    item = await get_item(db.conn, retrying.id)
    assert item is not None
    assert (item.status, item.attempts, item.last_error) == (OutboxStatus.RETRY, 1, "RetryAfter 30")


async def test_a_retry_resumes_after_the_parts_already_sent(db: Database, now: datetime) -> None:
    """A digest of a photo and three texts fails after two parts: the retry sends the rest."""
    await _enqueue(db, "digest:42:1:2026-W48", now, now)
    parts = ["photo", "text 1", "text 2", "text 3"]
    delivered: list[str] = []

    async def send(fail_at: int | None) -> None:
        (item,) = await due_items(db.conn, now=now, limit=10)
        for number in range(item.parts_sent, len(parts)):
            if number == fail_at:
                async with db.transaction() as conn:
                    await mark_retry(conn, item.id, error="timeout", next_attempt_at=now)
                return
            delivered.append(parts[number])
            async with db.transaction() as conn:
                await mark_part_sent(conn, item.id, number + 1)
        async with db.transaction() as conn:
            await mark_sent(conn, item.id, now=now)

    await send(fail_at=2)
    await send(fail_at=None)
    assert delivered == parts
    assert await due_items(db.conn, now=now + timedelta(days=1), limit=10) == []
    (item,) = await list_items(db.conn, status=OutboxStatus.SENT)
    assert (item.parts_sent, item.attempts, item.last_error, item.sent_at) == (4, 1, None, now)


async def test_a_failed_item_is_given_up(db: Database, now: datetime) -> None:
    await _enqueue(db, "alert:1", now, now, kind="alert")
    (item,) = await list_items(db.conn)
    async with db.transaction() as conn:
        await mark_failed(conn, item.id, error="Forbidden: bot was blocked by the user")
    assert await due_items(db.conn, now=now + timedelta(days=1), limit=10) == []
    (failed,) = await list_items(db.conn, kind="alert", status=OutboxStatus.FAILED)
    assert failed.last_error == "Forbidden: bot was blocked by the user"
    assert await list_items(db.conn, kind="digest") == []
    assert (await counts(db.conn))["failed"] == 1
