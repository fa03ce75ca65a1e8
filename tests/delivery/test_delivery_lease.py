"""Two senders on one outbox (the bot and `feedbot digest send`): each item sent once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot

from bot.delivery import OutboxKind, scheduler, sender
from bot.delivery.sender import LEASE, Pacer, Part, Result
from bot.i18n import t
from storage import outbox as outbox_repo
from storage.models import OutboxItem, OutboxStatus
from tests.delivery.support import (
    OWNER,
    BotWorld,
    Clock,
    add_member,
    add_owner,
    buyer_answers,
    outbox,
    respond,
    start_world,
    stop_world,
    tick,
)
from tests.fakes.records import ApiError

LAST_WEEK = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # Wednesday of 2026-W47
OWNERS = [OWNER + n for n in range(3)]
MEMBERS = [5000 + n for n in range(24)]

SendPart = Callable[[Bot, int, Part], Awaitable[None]]


async def seed_digest(world: BotWorld, owners: list[int] = [OWNER]) -> None:  # noqa: B006
    for owner in owners:
        await add_owner(world, owner, "coffee")
    for nps in (10, 9, 8, 3, 10):
        await respond(world, "coffee", buyer_answers(nps), at=LAST_WEEK)


def around_sends(
    monkeypatch: pytest.MonkeyPatch, after: Callable[[int, Part], Awaitable[None]]
) -> None:
    """Run `after(chat_id, part)` once each part has gone out."""
    send: SendPart = sender.send_part

    async def sending(bot: Bot, chat_id: int, part: Part) -> None:
        await send(bot, chat_id, part)
        await after(chat_id, part)

    monkeypatch.setattr(sender, "send_part", sending)


async def test_two_processes_draining_one_outbox_send_each_item_exactly_once(
    world: BotWorld, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI's Database: a second connection set on the same file, as another process has.
    cli = await start_world(
        tmp_path, clock, telegram=world.telegram, seed=False, database=world.settings.database
    )
    try:
        await seed_digest(world, OWNERS)
        for member in MEMBERS:
            await add_member(world, member, "marketing")
        async with world.services.db.transaction() as conn:
            await scheduler.enqueue_due_digests(conn, world.settings, clock())
            await scheduler.enqueue_due_pulses(conn, world.settings, clock())
        queued = await outbox(world)
        assert len(queued) == len(OWNERS) + len(MEMBERS)
        world.telegram.latency = 0.002  # sends take a while: the drains interleave
        # Both list the whole outbox as due before either claims anything: every item is
        # raced for.
        both_listed = asyncio.Barrier(2)
        list_due = outbox_repo.due_items

        async def due_items(*args: Any, **kwargs: Any) -> list[OutboxItem]:
            items = await list_due(*args, **kwargs)
            await both_listed.wait()
            return items

        monkeypatch.setattr(outbox_repo, "due_items", due_items)

        bot_run, cli_run = await asyncio.gather(
            sender.drain(world.services, world.app.bot, pacer=Pacer.unpaced(), owner="bot:1:a"),
            sender.drain(cli.services, cli.app.bot, pacer=Pacer.unpaced(), owner="cli:2:b"),
        )

        assert bot_run[Result.SENT] + cli_run[Result.SENT] == len(queued)
        for run in (bot_run, cli_run):  # one item per chat: each was sent or skipped
            assert run[Result.SENT] + run[Result.SKIPPED] == len(queued), run
        for item in await outbox(world):
            assert item.status is OutboxStatus.SENT
            assert (item.claimed_by, item.claimed_until) == (None, None)
        telegram = world.telegram
        for member in MEMBERS:
            assert telegram.texts(member) == [t("en", "member.pulse")]
        for owner in OWNERS:
            messages = telegram.messages(owner)
            assert [m.photo is not None for m in messages] == [True] + [False] * (len(messages) - 1)
            texts = [m.text for m in messages[1:]]
            assert texts and len(set(texts)) == len(texts)
        assert len(telegram.calls_of("sendPhoto")) == len(OWNERS)
        [digest] = [i for i in await outbox(world, OutboxKind.DIGEST) if i.chat_id == OWNER]
        assert digest.parts_sent == len(telegram.messages(OWNER))
    finally:
        await stop_world(cli)


async def test_an_item_another_sender_holds_is_left_alone_until_its_lease_runs_out(
    world: BotWorld,
) -> None:
    await add_member(world, 2001, "marketing")
    async with world.services.db.transaction() as conn:
        await scheduler.enqueue_due_pulses(conn, world.settings, world.clock())
    [item] = await outbox(world, OutboxKind.PULSE)
    async with world.services.db.transaction() as conn:
        assert await outbox_repo.claim(
            conn, item.id, owner="cli:2:b", now=world.clock(), lease=LEASE
        )

    assert (
        await sender.deliver(world.services, world.app.bot, item, Pacer.unpaced()) is Result.SKIPPED
    )  # even when listed as due before the other sender claimed it
    assert (await tick(world)).drained[Result.SENT] == 0
    assert world.telegram.messages(2001) == []

    world.clock.advance(seconds=LEASE.total_seconds() + 1)  # the CLI died holding it
    assert (await tick(world)).drained[Result.SENT] == 1
    assert world.telegram.texts(2001) == [t("en", "member.pulse")]


async def test_a_long_send_renews_the_lease_before_each_part(
    world: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_digest(world)
    leases: list[tuple[str | None, datetime | None, datetime]] = []

    async def slow(chat_id: int, part: Part) -> None:
        [item] = await outbox(world, OutboxKind.DIGEST)
        leases.append((item.claimed_by, item.claimed_until, world.clock()))
        world.clock.advance(seconds=70)  # each part takes more than half the lease

    around_sends(monkeypatch, slow)
    start = world.clock()
    assert (await tick(world)).drained[Result.SENT] == 1

    assert len(leases) == len(world.telegram.messages(OWNER)) >= 2
    owner = sender.process_owner()
    assert leases[0] == (owner, start + LEASE, start)
    for holder, until, sent_at in leases[1:]:  # renewed: always live while a part is sent
        assert holder == owner and until == sent_at + LEASE
    [item] = await outbox(world, OutboxKind.DIGEST)
    assert (item.status, item.claimed_by, item.claimed_until) == (OutboxStatus.SENT, None, None)


async def test_a_sender_that_lost_its_lease_stops_and_the_new_holder_sends_the_rest(
    world: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_digest(world)
    stalled = False

    async def stall_once(chat_id: int, part: Part) -> None:
        nonlocal stalled
        if stalled:
            return
        stalled = True
        # The event loop stalled past the lease, and the CLI took the item meanwhile.
        world.clock.advance(seconds=LEASE.total_seconds() + 1)
        [item] = await outbox(world, OutboxKind.DIGEST)
        async with world.services.db.transaction() as conn:
            assert await outbox_repo.claim(
                conn, item.id, owner="cli:2:b", now=world.clock(), lease=LEASE
            )

    around_sends(monkeypatch, stall_once)
    assert (await tick(world)).drained[Result.SKIPPED] == 1
    assert len(world.telegram.messages(OWNER)) == 1  # the chart only
    [item] = await outbox(world, OutboxKind.DIGEST)
    assert (item.status, item.parts_sent, item.claimed_by) == (OutboxStatus.PENDING, 1, "cli:2:b")

    world.clock.advance(seconds=LEASE.total_seconds() + 1)  # and then the CLI died
    assert (await tick(world)).drained[Result.SENT] == 1
    messages = world.telegram.messages(OWNER)
    assert len(world.telegram.calls_of("sendPhoto")) == 1
    texts = [m.text for m in messages[1:]]
    assert texts and len(set(texts)) == len(texts)
    [item] = await outbox(world, OutboxKind.DIGEST)
    assert (item.status, item.parts_sent) == (OutboxStatus.SENT, len(messages))


async def test_a_claimed_item_is_sent_as_it_is_now_not_as_it_was_listed(world: BotWorld) -> None:
    """Another sender sent the chart since this one listed the item: the chart is not resent."""
    await seed_digest(world)
    world.telegram.fail_next("sendMessage", ApiError.server_error())
    await tick(world)
    [item] = await outbox(world, OutboxKind.DIGEST)
    assert (item.status, item.parts_sent) == (OutboxStatus.RETRY, 1)
    listed_earlier = dataclasses.replace(
        item, status=OutboxStatus.PENDING, parts_sent=0, attempts=0
    )

    world.clock.advance(minutes=5)
    result = await sender.deliver(world.services, world.app.bot, listed_earlier, Pacer.unpaced())

    assert result is Result.SENT
    assert len(world.telegram.calls_of("sendPhoto")) == 1
    [item] = await outbox(world, OutboxKind.DIGEST)
    assert (item.status, item.attempts) == (OutboxStatus.SENT, 1)
    assert item.parts_sent == len(world.telegram.messages(OWNER))
