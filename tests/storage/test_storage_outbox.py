"""The outbox: queued once per dedup key, delivered in order, resumed after the parts sent."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import storage
from storage.db import Database, encode_time, split_statements
from storage.models import OutboxStatus
from storage.outbox import (
    claim,
    counts,
    due_items,
    enqueue,
    get_item,
    list_items,
    mark_failed,
    mark_part_sent,
    mark_retry,
    mark_sent,
    renew,
)

LEASE = timedelta(minutes=2)


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


async def _claim(db: Database, item_id: int, owner: str, at: datetime) -> bool:
    async with db.transaction() as conn:
        return await claim(conn, item_id, owner=owner, now=at, lease=LEASE)


async def _renew(db: Database, item_id: int, owner: str, at: datetime) -> bool:
    async with db.transaction() as conn:
        return await renew(conn, item_id, owner=owner, now=at, lease=LEASE)


async def test_an_item_is_claimed_by_one_sender_and_hidden_from_due_items_meanwhile(
    db: Database, now: datetime
) -> None:
    await _enqueue(db, "held", now - timedelta(minutes=2), now)
    await _enqueue(db, "free", now - timedelta(minutes=1), now)
    held, free = await list_items(db.conn)
    assert (held.claimed_by, held.claimed_until) == (None, None)

    assert await _claim(db, held.id, "bot:1:aa", now)
    assert not await _claim(db, held.id, "cli:2:bb", now)  # the other process
    assert not await _claim(db, held.id, "bot:1:aa", now)  # claiming again is not renewing
    item = await get_item(db.conn, held.id)
    assert item is not None
    assert (item.claimed_by, item.claimed_until) == ("bot:1:aa", now + LEASE)
    assert [i.dedup_key for i in await due_items(db.conn, now=now, limit=10)] == ["free"]
    assert await _claim(db, free.id, "cli:2:bb", now)
    assert await due_items(db.conn, now=now + LEASE, limit=10) == []


async def test_an_expired_lease_can_be_taken_over_and_then_not_renewed(
    db: Database, now: datetime
) -> None:
    await _enqueue(db, "digest", now, now)
    (item,) = await list_items(db.conn)
    assert await _claim(db, item.id, "dead:1:aa", now)

    assert not await _claim(db, item.id, "cli:2:bb", now + LEASE)  # lapses after, not at
    later = now + LEASE + timedelta(microseconds=1)
    assert [i.dedup_key for i in await due_items(db.conn, now=later, limit=10)] == ["digest"]
    assert await _claim(db, item.id, "cli:2:bb", later)
    # The first sender, back from a long stall, finds it lost the item.
    assert not await _renew(db, item.id, "dead:1:aa", later)
    assert await _renew(db, item.id, "cli:2:bb", later + timedelta(minutes=1))
    current = await get_item(db.conn, item.id)
    assert current is not None
    assert (current.claimed_by, current.claimed_until) == (
        "cli:2:bb",
        later + timedelta(minutes=1) + LEASE,
    )


async def test_marking_an_item_releases_its_claim(db: Database, now: datetime) -> None:
    for key in ("retried", "sent", "failed"):
        await _enqueue(db, key, now, now)
    retried, sent, failed = await list_items(db.conn)
    for item in (retried, sent, failed):
        assert await _claim(db, item.id, "bot:1:aa", now)
    async with db.transaction() as conn:
        await mark_retry(conn, retried.id, error="timeout", next_attempt_at=now + LEASE)
        await mark_sent(conn, sent.id, now=now)
        await mark_failed(conn, failed.id, error="Forbidden")

    for item in await list_items(db.conn):
        assert (item.claimed_by, item.claimed_until) == (None, None)
    # The retry is free to take once due, by anyone; settled items never are.
    assert not await _claim(db, retried.id, "cli:2:bb", now)  # not due yet
    assert await _claim(db, retried.id, "cli:2:bb", now + LEASE)
    for item in (sent, failed):
        assert not await _claim(db, item.id, "cli:2:bb", now + LEASE)
        assert not await _renew(db, item.id, "bot:1:aa", now)


async def test_a_database_from_before_leases_gets_the_columns_and_keeps_its_items(
    tmp_path: Path, now: datetime
) -> None:
    path = tmp_path / "old.sqlite3"
    first_name = "0001_initial.sql"
    first_sql = (Path(storage.__file__).parent / "migrations" / first_name).read_text("utf-8")
    with sqlite3.connect(path) as old:  # what the bot wrote before 0002 existed
        for statement in split_statements(first_sql):
            old.execute(statement)
        old.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        old.execute("INSERT INTO schema_migrations VALUES (?, ?)", (first_name, encode_time(now)))
        old.execute(
            "INSERT INTO outbox (kind, dedup_key, chat_id, payload_json, due_at, status,"
            " next_attempt_at, created_at) VALUES ('pulse', 'old', 42, '{}', ?, 'pending', ?, ?)",
            (encode_time(now), encode_time(now), encode_time(now)),
        )
    old.close()

    db = await Database.open(path)
    try:
        (item,) = await due_items(db.conn, now=now, limit=10)
        assert (item.dedup_key, item.claimed_by, item.claimed_until) == ("old", None, None)
        assert await _claim(db, item.id, "bot:1:aa", now)
    finally:
        await db.close()
