"""Digests through the outbox: once per owner, subject and week, whatever Telegram answers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.delivery import OutboxKind, digest_key
from bot.delivery.sender import MAX_ATTEMPTS, Result
from bot.digest import chart
from bot.digest.model import Digest
from storage import owners as owner_repo
from storage.models import OutboxStatus
from tests.delivery.support import (
    OWNER,
    BotWorld,
    Clock,
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


async def seed_last_week(world: BotWorld, slug: str = "coffee") -> None:
    for nps in (10, 9, 8, 3, 10):
        await respond(world, slug, buyer_answers(nps), at=LAST_WEEK)


async def owner_settings(world: BotWorld, owner: int = OWNER) -> owner_repo.OwnerSettings:
    return await owner_repo.get_owner_settings(
        world.services.db.conn, owner, default_timezone="Europe/Warsaw"
    )


async def test_an_owner_gets_last_weeks_digest_once_as_a_chart_and_text(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee")
    await seed_last_week(world)

    report = await tick(world)
    await tick(world)

    assert report.digests == [digest_key(OWNER, world.subjects["coffee"].id, "2026-W47")]
    messages = world.telegram.messages(OWNER)
    assert messages[0].photo is not None and "Morning Coffee" in messages[0].caption
    assert all(m.photo is None for m in messages[1:]) and len(messages) >= 2
    assert "Morning Coffee" in messages[1].text and "16–22 Nov" in messages[1].text
    [item] = await outbox(world, OutboxKind.DIGEST)
    assert item.status is OutboxStatus.SENT and item.parts_sent == len(messages)


async def test_charts_are_drawn_on_the_senders_chart_thread_not_the_event_loop(
    world: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn_on: list[str] = []
    draw = chart.digest_chart

    def recording(digest: Digest, lang: str) -> bytes | None:
        drawn_on.append(threading.current_thread().name)
        return draw(digest, lang)

    monkeypatch.setattr(chart, "digest_chart", recording)
    await add_owner(world, OWNER, "coffee")
    await add_owner(world, OWNER + 1, "coffee")
    await seed_last_week(world)
    await tick(world)
    await tick(world)

    # One thread draws every chart, on its one reused figure (bot.digest.chart.TrendFigure).
    assert len(drawn_on) == 2 and {name.split("_")[0] for name in drawn_on} == {"feedbot-chart"}
    for owner in (OWNER, OWNER + 1):
        photo = world.telegram.messages(owner)[0].photo
        assert photo is not None and photo.content is not None
        assert photo.content.startswith(b"\x89PNG\r\n\x1a\n")


async def test_the_digest_comes_in_the_owners_language(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee")
    async with world.services.db.transaction() as conn:
        await owner_repo.update_owner_settings(
            conn, OWNER, default_timezone="Europe/Warsaw", lang="pl"
        )
    await seed_last_week(world)
    await tick(world)
    assert "podsumowanie opinii" in world.telegram.messages(OWNER)[1].text


async def test_a_restart_between_parts_sends_the_rest_once_and_never_the_chart_again(
    tmp_path: Path, clock: Clock
) -> None:
    first = await start_world(tmp_path, clock)
    telegram = first.telegram
    try:
        await add_owner(first, OWNER, "coffee")
        await seed_last_week(first)
        # The photo goes out; the first text part (the second call) fails.
        telegram.fail_next("sendMessage", ApiError.server_error())
        report = await tick(first)
        assert report.drained[Result.RETRY] == 1
        [item] = await outbox(first, OutboxKind.DIGEST)
        assert (item.status, item.parts_sent) == (OutboxStatus.RETRY, 1)
        assert len(telegram.messages(OWNER)) == 1
    finally:
        await stop_world(first)  # the bot stops; the outbox is in the database file

    clock.advance(minutes=5)
    second = await start_world(tmp_path, clock, telegram=telegram, seed=False)
    try:
        await tick(second)
        await tick(second)
        messages = telegram.messages(OWNER)
        assert len(telegram.calls_of("sendPhoto")) == 1
        assert [m.photo is not None for m in messages] == [True] + [False] * (len(messages) - 1)
        texts = [m.text for m in messages[1:]]
        assert texts and len(set(texts)) == len(texts)
        [item] = await outbox(second, OutboxKind.DIGEST)
        assert item.status is OutboxStatus.SENT and item.parts_sent == len(messages)
    finally:
        await stop_world(second)


async def test_retry_after_is_honoured(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee")
    await seed_last_week(world)
    world.telegram.fail_next("sendPhoto", ApiError.flood(42))

    report = await tick(world)
    assert report.drained[Result.FLOOD] == 1
    [item] = await outbox(world, OutboxKind.DIGEST)
    assert item.next_attempt_at == world.clock() + timedelta(seconds=42)

    world.clock.advance(seconds=30)
    await tick(world)
    assert world.telegram.messages(OWNER) == []

    world.clock.advance(seconds=13)
    await tick(world)
    assert world.telegram.messages(OWNER)[0].photo is not None
    [item] = await outbox(world, OutboxKind.DIGEST)
    assert item.status is OutboxStatus.SENT


async def test_a_blocked_bot_marks_the_owner_inactive_and_stops_retrying(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee")
    await seed_last_week(world)
    world.telegram.set_blocked(OWNER, True)

    report = await tick(world)
    assert report.drained[Result.FAILED] == 1
    assert not (await owner_settings(world)).active
    [item] = await outbox(world, OutboxKind.DIGEST)
    assert item.status is OutboxStatus.FAILED and item.attempts == 1

    world.clock.advance(weeks=1)  # next week's digest is not even queued
    report = await tick(world)
    assert report.digests == []
    assert len(world.telegram.calls_of("sendPhoto")) == 1


async def test_network_errors_back_off_and_give_up_after_the_last_attempt(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee")
    await seed_last_week(world)
    # The chart goes out; the text keeps failing (so the chart is drawn only once).
    world.telegram.fail_next("sendMessage", ApiError.server_error(), times=None)

    waits = []
    for _ in range(MAX_ATTEMPTS):
        before = world.clock()
        await tick(world)
        [item] = await outbox(world, OutboxKind.DIGEST)
        waits.append(item.next_attempt_at - before)
        world.clock.advance(hours=3)
    assert item.status is OutboxStatus.FAILED and item.attempts == MAX_ATTEMPTS
    assert waits[:3] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]

    await tick(world)
    assert len(world.telegram.calls_of("sendMessage")) == MAX_ATTEMPTS
    assert len(world.telegram.calls_of("sendPhoto")) == 1


async def test_after_downtime_the_latest_digest_is_sent_once(world: BotWorld) -> None:
    # The bot was down for weeks; the owner has owned the product since long before.
    await add_owner(world, OWNER, "coffee", since=world.clock() - timedelta(weeks=10))
    for week in range(5):
        for nps in (9, 6):
            await respond(world, "coffee", buyer_answers(nps), at=LAST_WEEK - timedelta(weeks=week))

    first = await tick(world)
    second = await tick(world)

    assert first.digests == [digest_key(OWNER, world.subjects["coffee"].id, "2026-W47")]
    assert second.digests == []
    assert len(world.telegram.calls_of("sendPhoto")) == 1


async def test_paused_and_brand_new_owners_get_nothing_yet(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee", paused=True)
    await add_owner(world, OWNER + 1, "sales", since=world.clock())
    assert (await tick(world)).digests == []

    # Monday 30 Nov, 09:00 in Warsaw: the new owner's first digest (week 48) falls due.
    world.clock.now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    report = await tick(world)
    assert report.digests == [digest_key(OWNER + 1, world.subjects["sales"].id, "2026-W48")]
    assert "Sales" in world.telegram.texts(OWNER + 1)[0]
