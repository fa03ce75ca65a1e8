"""The log at DEBUG, written by the real handler, holds no secret and ties no one to an answer."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from telegram import Update

from bot.logs import NOISY_LOGGERS, configure_logging
from storage.models import InviteKind
from tests.bot.conftest import SECRET, BotWorld, Clock, start_world, stop_world
from tests.fakes.records import ApiError

TOKEN = "123456:TEST-token"
EMPLOYEE_ID = 987654321
EMPLOYEE_NAME = "Przemysław"
EMPLOYEE_USERNAME = "przemek_from_sales"
COMMENT = "Szybkie odpowiedzi zespołu wsparcia"
BUYER_ID = 555000111
BUYER_NAME = "Grażyna"
BUYER_TEXT = "Aromat jak z palarni"
INTERNAL_QUESTIONS = (
    "overall",
    "reliability",
    "responsiveness",
    "communication",
    "quality",
    "recommend",
    "works_well",
    "should_change",
)


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """The bot's own logging set-up at DEBUG, writing to a buffer; undone afterwards."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *NOISY_LOGGERS)}
    buffer = io.StringIO()
    handler = configure_logging("DEBUG", token=TOKEN, secret=SECRET, stream=buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def deliver(world: BotWorld) -> None:
    """Each queued update through the application's update queue, as polling feeds it
    (that is where PTB logs every whole update at DEBUG)."""
    while batch := world.telegram.pending_updates():
        for data in batch:
            await world.app.update_queue.put(Update.de_json(data, world.app.bot))
        await world.app.update_queue.join()


def lines_with(log: str, *markers: str) -> list[str]:
    return [line for line in log.splitlines() if any(marker in line for marker in markers)]


async def test_an_internal_and_a_buyer_survey_at_debug_leave_no_secret_and_no_link(
    tmp_path: Path, debug_log: io.StringIO
) -> None:
    world = await start_world(tmp_path, Clock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC)))
    await world.app.start()
    try:
        employee = world.telegram.user(
            EMPLOYEE_ID, EMPLOYEE_NAME, username=EMPLOYEE_USERNAME, language_code="en"
        )
        employee.send_command("/start", await world.invite(InviteKind.EMPLOYEE, "sales"))
        await deliver(world)
        employee.press("Customer service")
        await deliver(world)
        session_ids = [str(sid) for (sid,) in await world.rows("SELECT id FROM sessions")]
        assert session_ids, "the survey started"
        for value in ["4", "5", "3", "4", "5", "9"]:
            employee.press(value)
            await deliver(world)
        employee.send_text(COMMENT)
        await deliver(world)
        employee.press("Skip ▶")
        await deliver(world)
        assert "anonymously" in employee.last_message().text

        buyer = world.telegram.user(BUYER_ID, BUYER_NAME, language_code="en")
        buyer.send_command("/start", await world.invite(InviteKind.BUYER, "coffee"))
        await deliver(world)
        buyer.press("10")
        await deliver(world)
        buyer.send_text(BUYER_TEXT)
        await deliver(world)
        for button in ["5", "6", "Quality", "Done ✓", "Skip ▶", "Yes"]:
            buyer.press(button)
            await deliver(world)
        assert "Thank you for your time!" in buyer.last_message().text
        stored = await world.rows("SELECT text FROM answers WHERE text IS NOT NULL")
        assert sorted(text for (text,) in stored) == sorted([COMMENT, BUYER_TEXT])
    finally:
        await world.app.stop()
        await stop_world(world)

    log = debug_log.getvalue()
    # It really logged at DEBUG, PTB included: every call and every update went by.
    assert "DEBUG telegram.ext.Application: Processing update Update(update_id=" in log
    assert "Calling Bot API endpoint `sendMessage` with parameters `{chat_id, text" in log
    assert "Set Bot API URL: https://api.telegram.org/bot[token]" in log
    for secret in (TOKEN, TOKEN.split(":")[1], TOKEN.replace(":", "%3A"), SECRET):
        assert secret not in log, lines_with(log, secret)
    # What people typed, and who they are, is in no line at all.
    identity = (str(EMPLOYEE_ID), EMPLOYEE_NAME, EMPLOYEE_USERNAME, str(BUYER_ID), BUYER_NAME)
    assert lines_with(log, COMMENT, BUYER_TEXT, *identity) == []
    # So no line ties the employee to a question, a session or an answer.
    answered = (*INTERNAL_QUESTIONS, *(f"session {sid}" for sid in session_ids), COMMENT)
    assert [line for line in lines_with(log, *answered) if any(i in line for i in identity)] == []


async def test_a_bot_api_failure_while_answering_is_one_warning_line(tmp_path: Path) -> None:
    buffer = io.StringIO()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *NOISY_LOGGERS)}
    handler = configure_logging("INFO", token=TOKEN, secret=SECRET, stream=buffer)
    world = await start_world(tmp_path, Clock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC)))
    try:
        buyer = world.telegram.user(BUYER_ID, BUYER_NAME, language_code="en")
        buyer.send_command("/start", await world.invite(InviteKind.BUYER, "coffee"))
        await world.deliver()
        # Telegram's front end fails every message-changing call for a moment (502).
        for method in ("sendMessage", "editMessageText", "answerCallbackQuery"):
            world.telegram.fail_next(method, ApiError.server_error(), times=None)
        buyer.press("10")
        await world.deliver()
        world.telegram.clear_failures()
    finally:
        await stop_world(world)
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    log = buffer.getvalue()
    assert "NetworkError" in log and " WARNING " in log, log
    assert "Traceback" not in log and " ERROR " not in log, log
