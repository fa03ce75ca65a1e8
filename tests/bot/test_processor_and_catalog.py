"""The update processor's ordering, the callback codec, and drift between catalogs and docs."""

from __future__ import annotations

import asyncio
import re
import string
from pathlib import Path

import pytest
from telegram import Chat, Message, Update, User
from telegram.ext import CommandHandler

from bot.app import handlers
from bot.callbacks import Action, CallbackDataError, decode, encode
from bot.i18n import LANGUAGES, catalog
from bot.menus import ALL_COMMANDS
from bot.processor import PerUserUpdateProcessor

ROOT = Path(__file__).resolve().parents[2]


def text_update(update_id: int, user_id: int) -> Update:
    user = User(user_id, "U", is_bot=False)
    chat = Chat(user_id, "private")
    message = Message(update_id, None, chat, from_user=user, text="x")  # type: ignore[arg-type]
    return Update(update_id, message=message)


async def test_updates_of_one_user_run_in_order_and_users_run_concurrently() -> None:
    processor = PerUserUpdateProcessor(64)
    log: list[tuple[int, int, str]] = []
    running = 0
    peak = 0

    async def handle(update: Update, delay: float) -> None:
        nonlocal running, peak
        user = update.effective_user.id  # type: ignore[union-attr]
        log.append((user, update.update_id, "start"))
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(delay)
        running -= 1
        log.append((user, update.update_id, "end"))

    tasks = []
    for update_id in range(1, 21):
        user = update_id % 4
        update = text_update(update_id, user)
        # Earlier updates take longer: without per-user order they would finish last.
        coroutine = handle(update, 0.02 * (21 - update_id) / 20)
        tasks.append(asyncio.create_task(processor.process_update(update, coroutine)))
    await asyncio.gather(*tasks)
    for user in range(4):
        starts = [uid for u, uid, what in log if u == user and what == "start"]
        assert starts == sorted(starts)
        events = [(uid, what) for u, uid, what in log if u == user]
        assert all(
            events[i][1] == "start" and events[i + 1][1] == "end" for i in range(0, len(events), 2)
        )  # never two at once for one user
    assert peak == 4
    assert processor.users_in_flight == 0  # locks are released, memory does not grow


def test_callback_data_round_trips_and_fits_telegram() -> None:
    data = encode(Action.ANSWER, 123456789, "a" * 24, "b" * 16)
    assert len(data.encode()) <= 64
    assert decode(data).args == ("123456789", "a" * 24, "b" * 16)
    with pytest.raises(ValueError, match="64 bytes"):
        encode(Action.ANSWER, 123456789, "a" * 32, "b" * 32)
    with pytest.raises(CallbackDataError):
        decode("f1:a:1:q:" + "x" * 60)


def test_both_catalogs_have_the_same_keys_and_placeholders() -> None:
    english, polish = catalog("en"), catalog("pl")
    assert set(english) == set(polish)
    formatter = string.Formatter()
    for key, text in english.items():
        fields_en = {f for _, f, _, _ in formatter.parse(text) if f}
        fields_pl = {f for _, f, _, _ in formatter.parse(polish[key]) if f}
        assert fields_en == fields_pl, key


def test_every_command_is_described_in_both_languages_and_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in ALL_COMMANDS:
        for lang in LANGUAGES:
            assert f"command.{command}" in catalog(lang)
        assert re.search(rf"`/{command}\b", readme), f"/{command} is missing from README.md"


def test_every_handled_command_is_listed_in_help() -> None:
    handled: set[str] = set()
    for group in handlers().values():
        for handler in group:
            if isinstance(handler, CommandHandler):
                handled |= handler.commands
    assert handled <= set(ALL_COMMANDS), handled - set(ALL_COMMANDS)
    assert set(ALL_COMMANDS) <= handled, set(ALL_COMMANDS) - handled


async def test_a_flooding_user_neither_holds_every_slot_nor_queues_without_end() -> None:
    processor = PerUserUpdateProcessor(4, max_queued_per_user=8)
    gate = asyncio.Event()
    ran: list[int] = []

    async def flooder_handles(update: Update) -> None:
        ran.append(update.update_id)
        await gate.wait()  # the flooder's first update is slow to handle

    other_done = asyncio.Event()

    async def other_handles() -> None:
        other_done.set()

    flood = [
        asyncio.create_task(
            processor.process_update(text_update(n, 1), flooder_handles(text_update(n, 1)))
        )
        for n in range(1, 101)
    ]
    other = text_update(101, 2)
    tasks = [*flood, asyncio.create_task(processor.process_update(other, other_handles()))]
    # Another user's update runs while the flooder's first one is still being handled:
    # the flooder's 99 waiting updates hold no slot. (Slots taken before the user's turn
    # would all be held by them, and this would wait for the gate.)
    async with asyncio.timeout(5):
        await other_done.wait()
    assert ran == [1]
    gate.set()
    async with asyncio.timeout(5):
        await asyncio.gather(*tasks)
    # The flooder's first 8 updates ran, in order; the 92 beyond the queue were ignored.
    assert ran == list(range(1, 9))
    assert processor.users_in_flight == 0
