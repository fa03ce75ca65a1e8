"""`feedbot run` against a Bot API failing 5% of message calls: everyone finishes, once."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest

from tests.e2e.conftest import E2E
from tests.e2e.test_e2e_bot import (
    ERROR_REPLY,
    EXTERNAL,
    EXTERNAL_THANKS,
    INTERNAL,
    INTERNAL_THANKS,
    assert_well_behaved,
)
from tests.fakes.records import BotMessage
from tests.fakes.telegram_server import FakeUser

pytestmark = pytest.mark.e2e

BUYERS = 10
EMPLOYEES = 10
FAULT_RATE = 0.05
# Longer than the bot's retries take (backoff up to ~8 s, plus 429 pauses), so a user
# who "says something" because nothing arrived really was left without a question.
PATIENCE = 15.0
DEADLINE = 240.0

Row = tuple[str, float | None, str | None, str | None]


@dataclass
class Respondent:
    """One simulated person and what they answered, as the DB should hold it."""

    user: FakeUser
    questions: dict[str, str]  # question id -> a phrase of its text
    thanks: str
    # Question id -> the row it should store (a question shown twice, answered twice,
    # must still be stored once: the database is compared with this).
    expected: dict[str, Row] = field(default_factory=dict)
    nudges: int = 0  # "hello?" typed because nothing arrived
    error: BaseException | None = None


def current_question(user: FakeUser) -> BotMessage | None:
    """The latest message with buttons that asks a question (what a person would answer)."""
    for message in reversed(user.messages()):
        if message.reply_markup is not None and message.text.startswith("Question "):
            return message
    return None


def finished(respondent: Respondent) -> bool:
    return any(respondent.thanks in m.text for m in respondent.user.messages())


def wait(predicate: object, timeout: float) -> bool:
    """Poll `predicate()` until true or `timeout`; whether it came true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def question_id(respondent: Respondent, message: BotMessage) -> str:
    found = [qid for qid, phrase in respondent.questions.items() if phrase in message.text]
    assert len(found) == 1, (found, message.text)
    return found[0]


def answer(respondent: Respondent, message: BotMessage) -> None:
    """Answer the question in `message` the way this harness always does; note the row."""
    user = respondent.user
    qid = question_id(respondent, message)
    labels = message.button_texts
    if "Type your answer" in message.text:
        text = f"answer of {user.id} to {qid}"
        user.send_text(text)
        respondent.expected[qid] = (qid, None, text, None)
    elif "Done ✓" in labels:
        user.press("Skip ▶", message.message_id)  # multiple choice: optional, skipped
        respondent.expected[qid] = (qid, None, None, "(skipped)")
    elif "Yes" in labels:
        user.press("No", message.message_id)
        respondent.expected[qid] = (qid, 0.0, None, None)
    else:
        user.press("4", message.message_id)
        respondent.expected[qid] = (qid, 4.0, None, None)


def take_survey(e2e: E2E, respondent: Respondent, invite: str, employee: bool) -> None:
    user = respondent.user
    user.send_command("/start", invite)
    if employee:
        menu = "Which department would you like to evaluate?"
        while not wait(lambda: any(menu in m.text for m in user.messages()), PATIENCE):
            user.send_command("/evaluate")  # the menu went missing: ask for it again
            respondent.nudges += 1
        user.press("Customer service")
    deadline = time.monotonic() + DEADLINE
    answered: tuple[int, str] | None = None
    while not finished(respondent):
        assert time.monotonic() < deadline, f"{user} did not finish:\n{user.transcript()}"

        def fresh(answered: tuple[int, str] | None = answered) -> bool:
            # A question answered already (a copy a timed-out send left) is not answered
            # again: a person waits for the next one.
            question = current_question(user)
            new = (
                question is not None
                and (question.message_id, question.text) != answered
                and question_id(respondent, question) not in respondent.expected
            )
            return new or finished(respondent)

        if not wait(fresh, PATIENCE):
            user.send_text("hello?")  # nothing on screen to answer: a person says so
            respondent.nudges += 1
            continue
        question = current_question(user)
        if question is None or finished(respondent):
            continue
        answered = (question.message_id, question.text)
        answer(respondent, question)


def run(e2e: E2E, respondent: Respondent, invite: str, employee: bool) -> None:
    try:
        take_survey(e2e, respondent, invite, employee)
    except BaseException as exc:  # reported by the main thread
        respondent.error = exc


def stored(e2e: E2E, audience: str) -> list[list[Row]]:
    responses = e2e.rows(
        "SELECT id FROM responses WHERE audience = ? AND status = 'completed'", audience
    )
    return [
        sorted(
            e2e.rows(
                "SELECT question_id, number, text, choice FROM answers WHERE response_id = ?",
                response_id,
            )
        )
        for (response_id,) in responses
    ]


def test_every_respondent_finishes_once_through_five_percent_faults(e2e: E2E) -> None:
    mode = e2e.telegram.set_faults(
        FAULT_RATE, seed=int(os.environ.get("FEEDBOT_FAULT_SEED", "20261130"))
    )
    bot = e2e.start_bot()
    buyers = [
        Respondent(e2e.user(800 + n, f"Buyer{n}"), EXTERNAL, EXTERNAL_THANKS) for n in range(BUYERS)
    ]
    employees = [
        Respondent(e2e.user(900 + n, f"Employee{n}"), INTERNAL, INTERNAL_THANKS)
        for n in range(EMPLOYEES)
    ]
    threads = [
        threading.Thread(target=run, args=(e2e, r, e2e.seeded.buyer_invite, False)) for r in buyers
    ] + [
        threading.Thread(target=run, args=(e2e, r, e2e.seeded.employee_invite, True))
        for r in employees
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE + 60)
    e2e.telegram.set_faults(0)
    everyone = buyers + employees
    for respondent in everyone:
        if respondent.error is not None:
            raise AssertionError(f"{respondent.user}: {respondent.error}\n{bot.log[-3000:]}")

    # The faults happened, of every kind.
    kinds = Counter(fault.kind for fault in mode.injected)
    assert set(kinds) == {"429", "502", "timeout"}, kinds
    # Every answer stored once: one response per respondent, holding exactly its answers.
    for audience, group in (("external", buyers), ("internal", employees)):
        responses = stored(e2e, audience)
        expected = [sorted(r for r in x.expected.values() if r[3] != "(skipped)") for x in group]
        assert sorted(responses) == sorted(expected)
    assert e2e.rows("SELECT count(*) FROM sessions WHERE status = 'active'") == [(0,)]
    # Nobody saw an error, and a question reached someone twice only where a send timed
    # out after Telegram had applied it (then it is sent once more: a rare duplicate).
    ambiguous = sum(
        1 for f in mode.injected if f.kind == "timeout" and f.applied and f.method == "sendMessage"
    )
    duplicates = 0
    for respondent in everyone:
        texts = [m.text for m in respondent.user.messages()]
        assert not any(ERROR_REPLY in t for t in texts), respondent.user.transcript()
        asked = Counter(
            qid for t in texts for qid, phrase in respondent.questions.items() if phrase in t
        )
        duplicates += sum(count - 1 for count in asked.values())
    assert duplicates <= ambiguous, (duplicates, ambiguous, kinds)
    assert "error while handling update" not in bot.log, bot.log[-3000:]
    assert "Traceback" not in bot.log, bot.log[-5000:]
    # 429s were waited out by PTB's AIORateLimiter (configured with retries in bot.app).
    assert "Rate limit hit. Retrying after 0.3" in bot.log
    assert_well_behaved(e2e, bot)
    assert bot.stop() == 0, bot.log[-3000:]
