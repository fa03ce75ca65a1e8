"""Fifty people answering `feedbot run` at once while it is SIGKILLed ten times and
restarted: everyone finishes, nothing acknowledged is lost or doubled, and nobody ever
sees two different questions waiting for an answer."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from bot.i18n import t, visible
from tests.e2e.conftest import E2E
from tests.e2e.test_e2e_bot import (
    ERROR_REPLY,
    EXTERNAL,
    EXTERNAL_THANKS,
    INTERNAL,
    INTERNAL_THANKS,
    Row,
    stored_answers,
)
from tests.fakes.records import BotMessage
from tests.fakes.telegram_server import FakeUser

pytestmark = pytest.mark.e2e

# FEEDBOT_CRASH_SEED replays another run (the kill points and everyone's answers).
SEED = int(os.environ.get("FEEDBOT_CRASH_SEED", "20261130"))
PEOPLE = 50  # half buyers (product invite), half employees (department invite)
KILLS = 10
FIRST_ID = 1000  # people's Telegram ids: FIRST_ID, FIRST_ID + 1, ...
# A person who sees nothing new for this long (plus up to as much again, at random)
# presses the same button again or types their answer again. The bot shares Telegram's
# 30 messages a second among all fifty, so a reply normally takes a few seconds here.
PATIENCE = 8.0
# Everyone must have finished within this; a run normally takes about a minute.
FINISH_BOUND = 240.0
GLANCE = 0.05  # how often a person looks at the chat

MENU = "Which department would you like to evaluate?"
CONTINUE = "▶ Continue where I left off"
NOT_ASKING = "I'm not asking you anything right now."
# The first sentence of the bot's "already answered this period" reply.
ALREADY = visible(t("en", "survey.already_answered", date="")).split(". ")[0]
SERVICE = "Customer service"
# What a question message says once answered: its last line is "→ the answer".
ANSWERED = "\n→ "
PHRASES = {**EXTERNAL, **INTERNAL, "menu": MENU}
NUMBERS = {
    "nps": range(11),
    "csat": range(1, 6),
    "effort": range(1, 6),
    "overall": range(1, 6),
    "reliability": range(1, 6),
    "responsiveness": range(1, 6),
    "communication": range(1, 6),
    "quality": range(1, 6),
    "recommend": range(11),
}


@dataclass(frozen=True)
class Answer:
    """What a person does at one question: press a button, or type a text."""

    button: str | None = None
    text: str | None = None


def question_of(message: BotMessage) -> str | None:
    """The question (or the department menu) a bot message shows, if any."""
    for qid, phrase in PHRASES.items():
        if phrase in message.text:
            return qid
    return None


def is_open(message: BotMessage) -> bool:
    """A question not answered yet: its message shows no answer."""
    return question_of(message) is not None and ANSWERED not in message.text


def waiting_questions(messages: list[BotMessage], left_by_killed: int) -> set[str]:
    """The questions a chat shows as waiting for an answer: those with buttons under
    them and no answer yet, and the latest question message if it has no answer.

    Buttons left by a killed bot (messages up to id `left_by_killed`) are not counted:
    the bot remembers which message carries a button question only in memory (see
    bot.flow.remember_message), so a kill between storing an answer and taking its
    buttons off leaves them. Pressing them changes nothing stored (checked at the end);
    and the latest question, whoever sent it, always counts."""
    waiting = {
        str(question_of(m))
        for m in messages
        if m.message_id > left_by_killed
        and m.reply_markup is not None
        and is_open(m)
        and question_of(m) != "menu"
    }
    asked = [m for m in messages if question_of(m) not in (None, "menu")]
    if asked and is_open(asked[-1]):
        waiting.add(str(question_of(asked[-1])))
    return waiting


def note_of(number: int) -> str:
    return f"note from person {number}"


def plan_for(number: int, rng: random.Random) -> tuple[str, dict[str, Answer], list[Row]]:
    """Subject, what to answer at each question, and the answer rows it must leave."""
    note = note_of(number)
    plan: dict[str, Answer] = {}
    rows: list[Row] = []

    def rate(qid: str) -> None:
        value = rng.choice(NUMBERS[qid])
        plan[qid] = Answer(button=str(value))
        rows.append((qid, float(value), None, None))

    def write(qid: str) -> None:
        plan[qid] = Answer(text=note)
        rows.append((qid, None, note, None))

    # Every text question gets the same text, and it is what the person types when the
    # bot seems not to hear them: a message typed while the next question is on its way
    # answers that question, as it would for anyone, and the check below still knows it.
    if number % 2:
        plan["menu"] = Answer(button=SERVICE)
        for qid in ("overall", "reliability", "responsiveness", "communication", "quality"):
            rate(qid)
        rate("recommend")
        write("works_well")
        write("should_change")
        return "support", plan, sorted(rows)
    rate("nps")
    nps = int(rows[0][1] or 0)
    write("nps_detractor" if nps <= 6 else "nps_passive" if nps <= 8 else "nps_promoter")
    rate("csat")
    rate("effort")
    plan["improve"] = Answer(button="Skip ▶")
    write("comment")
    consent = rng.random() < 0.5
    plan["contact_consent"] = Answer(button="Yes" if consent else "No")
    rows.append(("contact_consent", 1.0 if consent else 0.0, None, None))
    return "coffee", plan, sorted(rows)


@dataclass
class Person:
    """Someone answering like a person: they wait for a question, answer it, and when
    nothing comes for a while they press the same button again or retype their answer."""

    e2e: E2E
    user: FakeUser
    invite: str
    subject: str
    plan: dict[str, Answer]
    rows: list[Row]
    note: str
    rng: random.Random
    violations: list[str]
    left_by_killed: dict[int, int]  # chat id: the last message a killed bot sent there
    done: bool = False
    answered: tuple[int, str] | None = None  # (message, question) last acted on
    last_press: tuple[int, str] | None = None  # (message, button) last pressed
    retries: int = 0

    @property
    def thanks(self) -> str:
        return INTERNAL_THANKS if self.subject == "support" else EXTERNAL_THANKS

    def live(self, deadline: float) -> bool:
        """Take the survey to its end; whether they got there before the deadline."""
        self.user.send_command("/start", self.invite)
        since = time.monotonic()
        patience = PATIENCE * (1 + self.rng.random())
        while not self.done:
            acted = self.look_and_act()
            now = time.monotonic()
            if acted:
                since, patience = now, PATIENCE * (1 + self.rng.random())
            elif now - since > patience:
                self.try_again()
                since = now
            if now > deadline:
                return False
            time.sleep(GLANCE)
        return True

    def look_and_act(self) -> bool:
        """Look at the chat (checking what it shows) and answer a new question; whether
        they did."""
        with self.e2e.telegram.lock:
            messages = self.user.messages()
            waiting = waiting_questions(messages, self.left_by_killed.get(self.user.id, 0))
            if len(waiting) > 1:
                seen = f"{self.user} sees {sorted(waiting)} waiting at once"
                if not any(v.startswith(seen) for v in self.violations):
                    self.violations.append(f"{seen}:\n{self.user.transcript()}")
            # Done: thanked, or (when the bot died between storing the last answer and
            # thanking) told on opening the link again that this period is answered.
            if any(self.thanks in m.text or ALREADY in m.text for m in messages) or any(
                b.startswith(f"✓ {SERVICE}") for m in messages for b in m.button_texts
            ):
                self.done = True
                return False
            target = self.current(messages)
            if target is None or target == self.answered:
                return False
            message_id, qid = target
            self.answered = target
            if qid == "continue":
                self.press(message_id, CONTINUE)
                return True
            answer = self.plan[qid]
            if answer.button is None:
                self.user.send_text(self.note)
                return True
            if messages_button(messages, message_id, answer.button):
                self.press(message_id, answer.button)
                return True
            return False

    def current(self, messages: list[BotMessage]) -> tuple[int, str] | None:
        """The latest question or prompt waiting for this person, if the latest of the
        bot's messages that matter is one."""
        for message in reversed(messages):
            if message.reply_markup is not None and message.raw_button(CONTINUE):
                return message.message_id, "continue"
            qid = question_of(message)
            if qid is None:
                continue  # a note, a welcome, "please use the buttons": read on
            if not is_open(message) or (qid == "menu" and message.reply_markup is None):
                return None
            return message.message_id, qid
        return None

    def press(self, message_id: int, button: str) -> None:
        self.last_press = (message_id, button)
        self.user.press(button, message_id)

    def try_again(self) -> None:
        """Nothing new for a while: press the last button again if it is still there,
        else type their text; open the invite link again if the bot never asked them
        anything or says it is not asking anything."""
        self.retries += 1
        with self.e2e.telegram.lock:
            messages = self.user.messages()
            if not any(question_of(m) for m in messages) or NOT_ASKING in messages[-1].text:
                self.user.send_command("/start", self.invite)
            elif self.last_press is not None and messages_button(messages, *self.last_press):
                self.user.press(self.last_press[1], self.last_press[0])
            else:
                self.user.send_text(self.note)


def messages_button(messages: list[BotMessage], message_id: int, button: str) -> bool:
    """Whether the message is on screen with that button under it."""
    shown = next((m for m in messages if m.message_id == message_id), None)
    return shown is not None and shown.raw_button(button) is not None


def kill_points(rng: random.Random) -> list[int]:
    """After how many sendMessage calls each kill comes: spread over the run (about
    ten messages a person), at least 25 apart."""
    return sorted(rng.sample(range(40, 470, 25), KILLS))


def crash_repeatedly(
    e2e: E2E,
    rng: random.Random,
    points: list[int],
    finished: threading.Event,
    left_by_killed: dict[int, int],
) -> Iterator[int]:
    """SIGKILL the bot as the count of messages it sent passes each point (plus a
    random few milliseconds, to land anywhere in a handler) and start it again; yields
    each kill's point. Notes the last message in each chat the killed bot sent."""
    for point in points:
        while len(e2e.telegram.calls_of("sendMessage")) < point:
            if finished.wait(0.005):
                return
        time.sleep(rng.uniform(0, 0.03))
        e2e.bots[-1].kill()
        with e2e.telegram.lock:
            for chat in range(FIRST_ID, FIRST_ID + PEOPLE):
                sent = e2e.telegram.messages(chat, include_deleted=True)
                left_by_killed[chat] = sent[-1].message_id if sent else 0
        e2e.start_bot()
        yield point


def test_fifty_people_survive_ten_sigkills_with_nothing_lost_or_doubled(e2e: E2E) -> None:
    rng = random.Random(SEED)
    violations: list[str] = []
    left_by_killed: dict[int, int] = {}
    people: list[Person] = []
    for number in range(PEOPLE):
        subject, plan, rows = plan_for(number, rng)
        invite = e2e.seeded.employee_invite if subject == "support" else e2e.seeded.buyer_invite
        user = e2e.user(FIRST_ID + number, f"Person {number}")
        people.append(
            Person(
                e2e,
                user,
                invite,
                subject,
                plan,
                rows,
                note_of(number),
                random.Random(rng.random()),
                violations,
                left_by_killed,
            )
        )
    points = kill_points(rng)
    e2e.start_bot()
    deadline = time.monotonic() + FINISH_BOUND
    finished = threading.Event()
    kills: list[int] = []

    def crash() -> None:
        kills.extend(crash_repeatedly(e2e, rng, points, finished, left_by_killed))

    with ThreadPoolExecutor(PEOPLE + 1) as pool:
        crasher = pool.submit(crash)
        lives = [pool.submit(person.live, deadline) for person in people]
        try:
            stuck = [p for p, life in zip(people, lives, strict=True) if not life.result()]
        finally:
            finished.set()
        crasher.result()

    assert not stuck, f"{len(stuck)} of {PEOPLE} did not finish; the first:\n" + "\n".join(
        person.user.transcript() for person in stuck[:2]
    )

    assert kills == points, f"killed at {kills} of {points} sent messages"
    last = e2e.bots[-1]
    assert last.stop() == 0, last.log
    assert e2e.telegram.pending_count == 0

    assert violations == [], "\n".join(violations[:20])
    for person in people:
        chat = person.user.id
        texts = e2e.telegram.texts(chat)
        assert not any(ERROR_REPLY in t for t in texts), person.user.transcript()
        # Every question of their path was sent to them at least once.
        sent = [
            str(call.params.get("text", ""))
            for call in e2e.telegram.calls_of("sendMessage")
            if call.params.get("chat_id") == chat
        ]
        for qid in person.plan:
            assert any(PHRASES[qid] in text for text in sent), (qid, person.user.transcript())
    # Every answer once, in one completed response per person; nothing else.
    for subject in ("coffee", "support"):
        expected = Counter(tuple(p.rows) for p in people if p.subject == subject)
        assert Counter(tuple(rows) for rows in stored_answers(e2e, subject)) == expected
    assert e2e.rows("SELECT status, count(*) FROM responses GROUP BY status") == [
        ("completed", PEOPLE)
    ]
    assert e2e.rows("SELECT count(*) FROM sessions WHERE status = 'active'") == [(0,)]
    assert e2e.rows("PRAGMA integrity_check") == [("ok",)]
