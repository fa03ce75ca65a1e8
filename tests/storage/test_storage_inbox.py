"""The inbox: a redelivery is a no-op, claims take each user's oldest update only, leases
lapse, done rows forget their body and are pruned."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage import inbox
from storage.db import Database

LEASE = timedelta(seconds=30)


async def _store(db: Database, now: datetime, *rows: tuple[int, int | None]) -> list[bool]:
    async with db.transaction() as conn:
        return [
            await inbox.store(conn, update_id, user, f'{{"update_id": {update_id}}}', now=now)
            for update_id, user in rows
        ]


async def _claim(db: Database, worker: str, now: datetime, limit: int = 10) -> list[int]:
    async with db.transaction() as conn:
        claimed = await inbox.claim(conn, worker, now=now, until=now + LEASE, limit=limit)
    return [c.update_id for c in claimed]


async def _finish(db: Database, update_id: int, now: datetime) -> bool:
    async with db.transaction() as conn:
        return await inbox.finish(conn, update_id, now=now)


async def test_a_redelivered_update_is_stored_once(db: Database, now: datetime) -> None:
    assert await _store(db, now, (1, 7), (1, 7)) == [True, False]
    async with db.conn.execute("SELECT update_id, user_key, body FROM inbox") as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [(1, 7, '{"update_id": 1}')]
    assert await inbox.pending(db.conn) == 1


async def test_claims_take_the_oldest_update_of_each_user_and_nothing_of_a_user_in_flight(
    db: Database, now: datetime
) -> None:
    await _store(db, now, (1, 7), (2, 8), (3, 7), (4, None), (5, 8), (6, None))
    # One head per user; updates of no user are all heads.
    assert await _claim(db, "a", now) == [1, 2, 4, 6]
    # Another worker finds nothing: 3 and 5 wait for their users' earlier updates.
    assert await _claim(db, "b", now) == []
    assert await _finish(db, 1, now)
    assert await _claim(db, "b", now) == [3]
    assert await _finish(db, 2, now)
    assert await _finish(db, 3, now)
    assert await _claim(db, "a", now, limit=1) == [5]


async def test_a_lapsed_claim_is_taken_by_another_worker_and_renewal_keeps_one(
    db: Database, now: datetime
) -> None:
    await _store(db, now, (1, 7), (2, 8))
    assert await _claim(db, "dead", now) == [1, 2]
    async with db.transaction() as conn:
        # "dead" renews nothing after its death; a live worker renews update 2 only.
        assert await inbox.renew(conn, "dead", [2], until=now + 3 * LEASE) == 1
        assert await inbox.renew(conn, "other", [1], until=now + 3 * LEASE) == 0
    later = now + LEASE + timedelta(seconds=1)
    assert await _claim(db, "b", later) == [1]
    async with db.conn.execute(
        "SELECT update_id, attempts, claimed_by FROM inbox ORDER BY update_id"
    ) as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [(1, 2, "b"), (2, 1, "dead")]


async def test_done_updates_forget_their_body_and_are_pruned_after_the_window(
    db: Database, now: datetime
) -> None:
    await _store(db, now, (1, 7), (2, 7))
    await _claim(db, "a", now)
    assert await _finish(db, 1, now)
    assert not await _finish(db, 1, now)  # done already: another worker finished it
    async with db.conn.execute(
        "SELECT update_id, body IS NULL, claimed_by FROM inbox ORDER BY update_id"
    ) as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [(1, 1, None), (2, 0, None)]
    # A redelivery of a done update is still a no-op until the row is pruned.
    assert await _store(db, now, (1, 7)) == [False]
    async with db.transaction() as conn:
        assert await inbox.prune_done(conn, older_than=now) == 0
        assert await inbox.prune_done(conn, older_than=now + timedelta(seconds=1)) == 1
    assert await inbox.pending(db.conn) == 1


async def test_a_stored_update_is_claimed_at_once_only_when_it_heads_its_users_queue(
    db: Database, now: datetime
) -> None:
    async with db.transaction() as conn:
        await inbox.store(conn, 1, 7, "{}", now=now)
        first = await inbox.claim_stored(conn, 1, "a", now=now, until=now + LEASE)
        await inbox.store(conn, 2, 7, "{}", now=now)
        behind = await inbox.claim_stored(conn, 2, "a", now=now, until=now + LEASE)
        await inbox.store(conn, 3, None, "{}", now=now)
        no_user = await inbox.claim_stored(conn, 3, "a", now=now, until=now + LEASE)
    assert first is not None and (first.update_id, first.attempts) == (1, 1)
    assert behind is None  # user 7's update 1 is not done
    assert no_user is not None
    # Claimed: no other worker takes them; 2 comes once 1 is done.
    assert await _claim(db, "b", now) == []
    assert await _finish(db, 1, now)
    assert await _claim(db, "b", now) == [2]
