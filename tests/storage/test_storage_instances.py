"""Scheduled work shared by instances: a job's period is claimed by one instance, an outbox
item by one sender, a reminder marked by one; on both backends, and with two instances
(two pools) on one PostgreSQL database racing for the same rows."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from bot.periodic import period_of
from storage import outbox, schedule
from storage.db import Database
from storage.models import Subject
from storage.sessions import mark_reminded
from tests.backends import POSTGRES_ON, postgres_url
from tests.storage.conftest import StartSession

LEASE = timedelta(minutes=2)
ITEMS = 60
RACERS = 4  # concurrent claimers per instance


@pytest.fixture
async def instances() -> AsyncIterator[tuple[Database, Database]]:
    if not POSTGRES_ON:
        pytest.skip("FEEDBOT_TEST_POSTGRES=off")
    async with postgres_url() as url:
        first = await Database.open(url)
        second = await Database.open(url)
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()


def test_every_instance_names_a_period_alike_whenever_it_started() -> None:
    a = datetime.fromisoformat("2026-11-30T13:40:00.000001+00:00")
    b = datetime.fromisoformat("2026-11-30T14:49:59.9+01:00")  # 13:49:59.9 UTC
    assert period_of(a, 600) == period_of(b, 600) == "2026-11-30T13:40:00Z/600s"
    assert period_of(a - timedelta(microseconds=2), 600) == "2026-11-30T13:30:00Z/600s"
    assert period_of(a, 3600) == "2026-11-30T13:00:00Z/3600s"


async def test_a_job_period_is_claimed_once_and_old_claims_are_pruned(
    db: Database, now: datetime
) -> None:
    async with db.transaction() as conn:
        assert await schedule.claim_run(conn, "reminders", "p1", owner="a", now=now)
        assert not await schedule.claim_run(conn, "reminders", "p1", owner="b", now=now)
        assert await schedule.claim_run(conn, "stale-sessions", "p1", owner="b", now=now)
        assert await schedule.claim_run(conn, "reminders", "p2", owner="b", now=now)
    assert await schedule.runs(db.conn, "reminders") == [("p1", "a"), ("p2", "b")]
    async with db.transaction() as conn:
        assert await schedule.prune_runs(conn, older_than=now + timedelta(seconds=1)) == 3
    assert await schedule.runs(db.conn, "reminders") == []


async def test_a_reminder_is_marked_by_one_caller_only(
    db: Database, department: Subject, start: StartSession, now: datetime
) -> None:
    session = await start(1, department, now=now - timedelta(hours=5))
    async with db.transaction() as conn:
        assert await mark_reminded(conn, session.id, now=now)
    async with db.transaction() as conn:
        assert not await mark_reminded(conn, session.id, now=now + timedelta(minutes=10))


async def test_two_instances_racing_for_job_periods_run_each_period_once(
    instances: tuple[Database, Database], now: datetime
) -> None:
    periods = [f"2026-11-30T{hour:02d}:00:00Z/3600s" for hour in range(24)]

    async def instance(db: Database, name: str) -> list[str]:
        won: list[str] = []

        async def one(period: str) -> None:
            async with db.transaction() as conn:
                if await schedule.claim_run(conn, "stale-sessions", period, owner=name, now=now):
                    won.append(period)

        await asyncio.gather(*(one(p) for p in periods for _ in range(RACERS)))
        return won

    first, second = await asyncio.wait_for(
        asyncio.gather(instance(instances[0], "a"), instance(instances[1], "b")), 60
    )
    assert sorted(first + second) == periods  # each once, by one of them
    recorded = await schedule.runs(instances[0].conn, "stale-sessions")
    assert sorted(recorded) == sorted([(p, "a") for p in first] + [(p, "b") for p in second])


async def test_two_instances_racing_for_outbox_items_claim_each_exactly_once(
    instances: tuple[Database, Database], now: datetime
) -> None:
    async with instances[0].transaction() as conn:
        for number in range(ITEMS):
            await outbox.enqueue(
                conn,
                kind="digest",
                dedup_key=f"digest:{number}",
                chat_id=100 + number % 7,
                payload_json="{}",
                due_at=now,
                now=now,
            )

    async def sender(db: Database, owner: str) -> list[int]:
        # As sender.drain does: list what is due, claim each item (a transaction each).
        items = await outbox.due_items(db.conn, now=now, limit=ITEMS)
        won: list[int] = []
        for item in items:
            async with db.transaction() as conn:
                if await outbox.claim(conn, item.id, owner=owner, now=now, lease=LEASE):
                    won.append(item.id)
        return won

    pairs = zip(instances, "ab", strict=True)
    senders = [sender(db, f"{name}{n}") for db, name in pairs for n in range(2)]
    results = await asyncio.wait_for(asyncio.gather(*senders), 60)
    claims = Counter(item_id for won in results for item_id in won)
    assert len(claims) == ITEMS and set(claims.values()) == {1}
    holders = {item.id: item.claimed_by for item in await outbox.list_items(instances[1].conn)}
    for won, owner in zip(results, ["a0", "a1", "b0", "b1"], strict=True):
        assert all(holders[item_id] == owner for item_id in won)
    # Nothing is due while the claims are live.
    assert await outbox.due_items(instances[1].conn, now=now, limit=ITEMS) == []
