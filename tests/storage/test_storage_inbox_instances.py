"""Two instances on one PostgreSQL database take updates from the inbox at once: no update
is claimed twice while it is being applied, a user's updates are applied in order and
never two at once, and none is lost.

Each instance is a Database of its own (its own pool, as two processes would have), with
receivers storing updates (and claiming those that head their user's queue in the same
transaction, or in one statement as bot.inbox.InboxReceiver does) and a claim loop (as
InboxWorker's)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from storage import inbox
from storage.db import Database
from tests.backends import POSTGRES_ON, postgres_url

pytestmark = pytest.mark.skipif(not POSTGRES_ON, reason="FEEDBOT_TEST_POSTGRES=off")

LEASE = timedelta(seconds=60)  # never lapses here: every claim must be the only one
USERS = 40
PER_USER = 8
HANG_GUARD = 120.0


@dataclass
class World:
    """What the instances did, checked afterwards."""

    now: datetime
    applying: dict[int, str] = field(default_factory=dict)  # update id -> worker
    users_applying: dict[int, int] = field(default_factory=dict)  # user -> update id
    applied: dict[int, list[int]] = field(default_factory=dict)  # user -> update ids
    problems: list[str] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    user_of: dict[int, int | None] = field(default_factory=dict)
    all_delivered: bool = False
    all_done: asyncio.Event = field(default_factory=asyncio.Event)

    async def check_done(self, db: Database) -> None:
        if self.all_delivered and not self.applying and await inbox.pending(db.conn) == 0:
            self.all_done.set()

    async def apply(self, db: Database, worker: str, item: inbox.Claimed) -> None:
        """Apply a claimed update: note overlaps, yield to the others, mark it done."""
        user = self.user_of[item.update_id]
        if item.update_id in self.applying:
            self.problems.append(
                f"update {item.update_id} claimed by {worker} while "
                f"{self.applying[item.update_id]} applies it"
            )
        self.applying[item.update_id] = worker
        if user is not None:
            if user in self.users_applying:
                self.problems.append(
                    f"user {user}: {item.update_id} and {self.users_applying[user]} at once"
                )
            self.users_applying[user] = item.update_id
            self.applied.setdefault(user, []).append(item.update_id)
        await asyncio.sleep(random.uniform(0, 0.005))
        if user is not None:
            self.users_applying.pop(user, None)
        self.applying.pop(item.update_id, None)
        async with db.transaction() as conn:
            if not await inbox.finish(conn, item.update_id, now=self.now):
                self.problems.append(f"update {item.update_id} finished twice")
        await self.check_done(db)

    def start(self, db: Database, worker: str, item: inbox.Claimed) -> None:
        task = asyncio.create_task(self.apply(db, worker, item))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


@pytest.fixture
async def instances() -> AsyncIterator[tuple[Database, Database]]:
    async with postgres_url() as url:
        first = await Database.open(url)
        second = await Database.open(url)
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()


async def receive(
    world: World, db: Database, worker: str, update_id: int, user: int | None
) -> None:
    """What InboxReceiver.accept does: store, and claim it when it heads its queue."""
    async with db.transaction() as conn:
        await inbox.lock_user(conn, user)
        assert await inbox.store(conn, update_id, user, "{}", now=world.now)
        claimed = await inbox.claim_stored(
            conn, update_id, worker, now=world.now, until=world.now + LEASE
        )
    if claimed is not None:
        world.start(db, worker, claimed)


async def accept(world: World, db: Database, worker: str, update_id: int, user: int | None) -> None:
    """What InboxReceiver.accept does: the same, as storage.inbox.accept in one statement."""
    async with db.one_statement() as conn:
        accepted = await inbox.accept(
            conn, update_id, user, "{}", now=world.now, claim_for=worker, until=world.now + LEASE
        )
    assert accepted.stored
    if accepted.claimed is not None:
        world.start(db, worker, accepted.claimed)


Receive = Callable[[World, Database, str, int, "int | None"], Awaitable[None]]


async def claim_loop(world: World, db: Database, worker: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with db.transaction() as conn:
            claimed = await inbox.claim(
                conn, worker, now=world.now, until=world.now + LEASE, limit=16
            )
        for item in claimed:
            world.start(db, worker, item)
        await asyncio.sleep(0)


async def run_instances(
    pair: tuple[Database, Database],
    senders: list[list[tuple[int, int | None]]],
    received_by: Receive = receive,
) -> World:
    """Deliver each sender's updates in its order, each to a random instance (stored by
    `received_by`), while both instances' claim loops run; return when every update is
    done."""
    world = World(now=datetime.now().astimezone())
    for updates in senders:
        world.user_of.update(dict(updates))
    workers = [(pair[0], "instance-a"), (pair[1], "instance-b")]
    stop = asyncio.Event()
    loops = [asyncio.create_task(claim_loop(world, db, name, stop)) for db, name in workers]

    async def deliver(updates: list[tuple[int, int | None]]) -> None:
        for update_id, user in updates:
            db, name = random.choice(workers)
            await received_by(world, db, name, update_id, user)
            await asyncio.sleep(random.uniform(0, 0.002))

    async def until_done() -> None:
        await asyncio.gather(*(deliver(updates) for updates in senders))
        world.all_delivered = True
        await world.check_done(pair[0])
        await world.all_done.wait()

    try:
        await asyncio.wait_for(until_done(), HANG_GUARD)
    finally:
        stop.set()
        await asyncio.gather(*loops)
        await asyncio.gather(*world.tasks)
    return world


async def test_two_instances_apply_each_update_once_in_order_per_user(
    instances: tuple[Database, Database],
) -> None:
    # Update ids rise as Telegram's do; each user's next update comes after the last was
    # stored (acknowledged), through either instance; some updates belong to nobody.
    senders: list[list[tuple[int, int | None]]] = [[] for _ in range(USERS + 1)]
    update_id = 0
    for _ in range(PER_USER):
        for user in range(USERS + 1):
            update_id += 1
            senders[user].append((update_id, None if user == USERS else 1000 + user))
    world = await run_instances(instances, senders)

    assert world.problems == []
    for user in range(USERS):
        expected = [u for u, _ in senders[user]]
        assert world.applied[1000 + user] == expected, f"user {1000 + user}"
    async with instances[1].conn.execute(
        "SELECT count(*), min(attempts), max(attempts) FROM inbox WHERE done_at IS NOT NULL"
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None and tuple(row) == (update_id, 1, 1)  # each claimed exactly once


async def test_updates_of_one_user_received_at_once_by_both_instances_never_overlap(
    instances: tuple[Database, Database], received_by: Receive = receive
) -> None:
    # The load balancer hands two updates of a user to the two instances at the same
    # moment (Telegram posts up to max_connections at once): neither may run beside the
    # other, whichever arrives first.
    senders: list[list[tuple[int, int | None]]] = []
    update_id = 0
    for user in range(USERS):
        for _ in range(PER_USER // 2):
            pair = []
            for _ in range(2):
                update_id += 1
                pair.append((update_id, 2000 + user))
            senders.extend([[pair[0]], [pair[1]]])
    world = await run_instances(instances, senders, received_by)

    assert world.problems == []
    applied = sorted(u for ids in world.applied.values() for u in ids)
    assert applied == list(range(1, update_id + 1))  # every one, once
    assert await inbox.pending(instances[0].conn) == 0


async def test_updates_accepted_in_one_statement_by_both_instances_never_overlap(
    instances: tuple[Database, Database],
) -> None:
    # The same, with the receivers' store-and-claim as InboxReceiver makes it on
    # PostgreSQL: one call of inbox_accept, outside any transaction.
    await test_updates_of_one_user_received_at_once_by_both_instances_never_overlap(
        instances, accept
    )
