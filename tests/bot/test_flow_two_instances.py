"""Two instances (two Applications on one database and one Telegram) take turns with one
buyer, as behind the webhook's load balancer: each answer may reach the instance that did
not send the question, before that one's note of the message is committed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.models import InviteKind
from tests.backends import backend_params, database_target
from tests.bot.conftest import BotWorld, Clock, start_world, stop_world


@pytest.fixture(params=backend_params())
async def instances(
    tmp_path: Path, clock: Clock, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[BotWorld, BotWorld]]:
    """Two started bots on one database, answering through one fake Telegram."""
    async with database_target(request.param, str(tmp_path / "bot.sqlite3")) as target:
        first = await start_world(tmp_path, clock, database=target)
        second = await start_world(
            tmp_path, clock, telegram=first.telegram, seed=False, database=target
        )
        try:
            yield first, second
        finally:
            await stop_world(second)
            await stop_world(first)


def note_still_on_its_way() -> None:
    """Hold the window in which an instance has sent a question but not yet committed its
    note of the message (bot.prompts writes it after the reply, batched): the writes
    queued now never arrive, as when the instance dies right after sending."""
    for task in asyncio.all_tasks():
        if task.get_name() == "prompt-ledger":
            task.cancel()


async def stored_message(world: BotWorld) -> int | None:
    [(message_id,)] = await world.rows("SELECT message_id FROM sessions")
    return None if message_id is None else int(message_id)


async def test_answering_the_other_instances_question_removes_no_keyboard_twice(
    instances: tuple[BotWorld, BotWorld],
) -> None:
    first, second = instances
    telegram = first.telegram
    token = await first.invite(InviteKind.BUYER, "coffee")
    buyer = first.user(801, "Ola")
    buyer.send_command("/start", token)
    await first.deliver()
    await first.services.prompts.flush()
    buyer.press("10")
    await second.deliver()  # the second sends the typed question (its note stored at once)
    why = buyer.last_message()
    buyer.send_text("Great taste")
    await first.deliver()  # the first edits the typed question and sends the next one
    note_still_on_its_way()
    csat = buyer.last_message()
    assert "Question 3 of 7" in csat.text and csat.reply_markup is not None
    # The second knows the typed question's message as the latest, from its own send and
    # from the database; the question it is asked about came later.
    assert await stored_message(second) == why.message_id < csat.message_id

    buyer.press("5")
    await second.deliver()

    # Telegram refuses an edit that changes nothing ("message is not modified"): the typed
    # question's message lost its keyboard when it was answered, and is not edited again.
    assert telegram.failures == []
    assert telegram.calls_of("editMessageReplyMarkup") == []
    assert telegram.message(buyer.id, why.message_id).reply_markup is None
    assert telegram.message(buyer.id, csat.message_id).reply_markup is None
    assert "Question 4 of 7" in buyer.last_message().text
    assert [m.message_id for m in telegram.messages(buyer.id) if m.reply_markup is not None] == [
        buyer.last_message().message_id
    ]
    [state] = await second.session_states()
    assert state["answers"] == {"nps": 10, "nps_promoter": "Great taste", "csat": 5}
