"""Fuzz: random and forged updates of every kind, interleaved with real surveys, through
Application.process_update with the real handlers, database and an in-process fake Bot API.

Hypothesis drives a state machine: which rule runs, for which user and with which seed;
each rule turns its seed into a few updates. After every step nothing may have raised
(a counting error handler), the fake Bot API may have refused nothing Telegram would
refuse, and every button press must have been answered; after every example the
database invariants of tests/fuzz/invariants.py hold.

FEEDBOT_FUZZ_UPDATES (default 5000) sets how many updates a run delivers at least;
FEEDBOT_FUZZ_RANDOM=1 explores fresh examples instead of the reproducible ones;
FEEDBOT_FUZZ_SHRINK=1 shrinks a failing example (slow) before reporting it;
FEEDBOT_FUZZ_REPORT=<path> writes the counts as JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from telegram.ext import ContextTypes

from storage.models import InviteKind, Subject
from tests.bot.conftest import BotWorld, Clock, start_world, stop_world
from tests.fakes.users import FakeUser
from tests.fuzz.generators import hostile_text, mutate_callback, retarget, start_payload
from tests.fuzz.invariants import check_database

TARGET = int(os.environ.get("FEEDBOT_FUZZ_UPDATES", "5000"))
STEPS = 80
TOTALS: Counter[str] = Counter()
REFUSED: Counter[str] = Counter()

# Telegram refuses these too, and the bot expects and handles them (an edit that
# changes nothing, a keyboard already gone); anything else refused is a bug.
EXPECTED_REFUSALS = ("message is not modified", "message to edit not found")
COMMANDS = [
    "/help", "/lang", "/lang de", "/lang pl", "/cancel", "/evaluate", "/settings", "/digest",
    "/export", "/pulses", "/pulses off", "/frobnicate", "/invite buyer coffee", "/departments",
    "/start@feedbot_test_bot", "/help@other_bot",
]  # fmt: skip
EMPLOYEES = (1001, 1002, 1003)
BUYERS = (2001, 2002, 2003, 2004)
OWNER = 3001
STRANGERS = (4001, 4002, 4003)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class FuzzBot(RuleBasedStateMachine):
    """One bot, two employees and two buyers answering, an owner, strangers, and noise."""

    salt = 0

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="feedbot-fuzz-"))
        self.errors: list[BaseException] = []
        self.capture = _Capture()
        logging.getLogger().addHandler(self.capture)
        self.delivered = 0
        self.steps = 0
        self.failures_seen = 0
        self.world: BotWorld = self.loop.run_until_complete(self._start())

    # ------------------------------------------------------------------- set-up

    async def _start(self) -> BotWorld:
        world = await start_world(self.folder, Clock())
        world.app.add_error_handler(self._count_error)
        self.users: dict[int, FakeUser] = {}
        self.tokens: dict[int, str] = {}
        self.last_text: dict[int, int] = {}
        self.typed: set[str] = set()
        employee_token = await world.invite(InviteKind.EMPLOYEE, "sales")
        buyer_token = await world.invite(InviteKind.BUYER, "coffee")
        owner_token = await world.invite(InviteKind.OWNER, "coffee")
        for user_id, token in [
            *[(e, employee_token) for e in EMPLOYEES],
            *[(b, buyer_token) for b in BUYERS],
            (OWNER, owner_token),
            *[(s, None) for s in STRANGERS],
        ]:
            lang = "pl" if user_id % 2 == 0 else "en"
            user = self.users[user_id] = world.user(user_id, f"U{user_id}", lang=lang)
            if token is not None:
                self.tokens[user_id] = token
                user.send_command("/start", token)
            else:
                user.send_text("/lang")  # strangers get a message to press forged buttons on
        self.delivered += await world.deliver()
        subjects = world.subjects
        self.may_answer: dict[int, list[Subject]] = {
            **{e: [subjects["support"], subjects["marketing"]] for e in EMPLOYEES},
            **{b: [subjects["coffee"]] for b in BUYERS},
        }
        return world

    async def _count_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        self.errors.append(context.error)

    def _type(self, user: FakeUser, text: str) -> None:
        self.typed.add(text.strip())
        self.last_text[user.id] = user.send_text(text)["message"]["message_id"]

    def _rng(self, seed: int, rule_name: str) -> random.Random:
        # The step number goes in too: Hypothesis's simplest examples repeat one rule
        # with seed 0, and those steps should still differ.
        self.steps += 1
        TOTALS[f"steps:{rule_name}"] += 1
        return random.Random(f"{seed}:{self.steps}:{self.salt}")

    def _deliver(self) -> None:
        self.delivered += self.loop.run_until_complete(self.world.deliver())

    def _any_message_id(self, user: FakeUser) -> int:
        messages = user.messages()
        if not messages:
            user.send_text("/help")
            self._deliver()
            messages = user.messages()
        return messages[-1].message_id

    def _ids_seen(self) -> list[int]:
        """Session and subject ids in use, to forge presses naming someone else's."""
        rows = self.loop.run_until_complete(self.world.rows("SELECT id FROM sessions"))
        return [int(r[0]) for r in rows] + [s.id for s in self.world.subjects.values()]

    # -------------------------------------------------------------- real users

    @rule(
        who=st.sampled_from([*EMPLOYEES, *BUYERS, OWNER]),
        seed=st.integers(0, 2**32 - 1),
    )
    def real_user_steps(self, who: int, seed: int) -> None:
        """Real users take the next step of their survey (or their menu): buttons a person
        would press, texts a person would type; several users in one step interleave."""
        rng = self._rng(seed, "real")
        if rng.random() < 0.04:
            # A new period: everyone may answer again; open sessions carry over.
            self.world.clock.advance(days=7)
            TOTALS["next_week"] += 1
        for user_id in [who, *rng.sample([*EMPLOYEES, *BUYERS], 2)]:
            self._real_step(self.users[user_id], rng)
        self._deliver()

    def _real_step(self, user: FakeUser, rng: random.Random) -> None:
        try:
            message = self.world.telegram.keyboard_message(user.id)
        except AssertionError:
            message = None
        if message is None or rng.random() < 0.03:
            user.send_command("/start", self.tokens.get(user.id) if rng.random() < 0.5 else None)
            return
        buttons = [b for row in message.buttons for b in row]
        answers = [b for b in buttons if b.data.split(":")[1] in ("a", "t", "d", "ev", "r")]
        nav = [b for b in buttons if b.data.split(":")[1] in ("s", "b")]
        if buttons and all(b.data.split(":")[1] in ("s", "b", "x") for b in buttons):
            # A free-text question: type an answer (sometimes a hostile one), or skip.
            if nav and rng.random() < 0.2:
                user.press(rng.choice(nav).data, message.message_id)
            else:
                text = hostile_text(rng) if rng.random() < 0.6 else "Good work 👍 — dziękuję"
                self._type(user, text)
            return
        pool = answers if answers and rng.random() < 0.85 else buttons
        user.press(rng.choice(pool).data, message.message_id)

    # ------------------------------------------------------------------ noise

    @rule(
        who=st.sampled_from([*EMPLOYEES, *BUYERS, OWNER, *STRANGERS]),
        victim=st.sampled_from([*EMPLOYEES, *BUYERS, OWNER, *STRANGERS]),
        seed=st.integers(0, 2**32 - 1),
    )
    def forged_presses(self, who: int, victim: int, seed: int) -> None:
        """Mutations of a real button's data (the victim's current keyboard or the
        presser's own), pressed by `who` on one of their messages."""
        rng = self._rng(seed, "forged")
        user = self.users[who]
        ids = self._ids_seen()
        for _ in range(rng.randint(2, 5)):
            source = self.users[victim if rng.random() < 0.5 else who]
            try:
                buttons = [
                    b.data
                    for r in self.world.telegram.keyboard_message(source.id).buttons
                    for b in r
                ]
            except AssertionError:
                buttons = []
            questions = [b for b in buttons if len(b.split(":")) >= 4]
            if source is user and questions and rng.random() < 0.5:
                data = retarget(rng, rng.choice(questions))  # the presser's own open survey
            else:
                data = mutate_callback(rng, rng.choice(buttons) if buttons else None, ids)
            user.press_data(data, self._any_message_id(user))
        self._deliver()

    @rule(
        who=st.sampled_from([*EMPLOYEES, *BUYERS, OWNER, *STRANGERS]),
        seed=st.integers(0, 2**32 - 1),
    )
    def messages(self, who: int, seed: int) -> None:
        """Random texts, commands, /start payloads, media and edits from one user."""
        rng = self._rng(seed, "messages")
        user = self.users[who]
        for _ in range(rng.randint(2, 6)):
            kind = rng.randrange(9)
            if kind <= 2:
                self._type(user, hostile_text(rng))
            elif kind == 3:
                user.send_text(rng.choice(COMMANDS) + rng.choice(["", " " + hostile_text(rng)]))
            elif kind == 4:
                user.send_command("/start", start_payload(rng))
            elif kind == 5:
                media = rng.randrange(5)
                if media == 0:
                    user.send_sticker()
                elif media == 1:
                    user.send_photo(caption=hostile_text(rng) if rng.random() < 0.5 else None)
                elif media == 2:
                    user.send_voice()
                elif media == 3:
                    user.send_document()
                else:
                    user.send_raw({"location": {"latitude": 52.23, "longitude": 21.01}})
            elif kind == 6 and who in self.last_text:
                # Edits are never read: their text must not turn up as an answer.
                user.edit_message(self.last_text[who], hostile_text(rng) or "x")
            elif kind == 7:
                user.send_in_group(rng.choice(["/start", "/help", hostile_text(rng) or "x"]))
            else:
                self._userless(rng)
        self._deliver()

    def _userless(self, rng: random.Random) -> None:
        """Updates with no user behind them, or none the bot handles: channel posts,
        polls, a private message without a sender."""
        telegram = self.world.telegram
        kind = rng.randrange(3)
        if kind == 0:
            post = {
                "message_id": rng.randint(1, 10**6),
                "date": 0,
                "chat": {"id": -1009, "type": "channel", "title": "News"},
                "text": hostile_text(rng) or "x",
            }
            telegram.enqueue_update(rng.choice(["channel_post", "edited_channel_post"]), post)
        elif kind == 1:
            poll = {
                "id": str(rng.randint(1, 10**6)),
                "question": "?",
                "options": [{"text": "a", "voter_count": 0, "persistent_id": "o1"}],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            }
            telegram.enqueue_update("poll", poll)
        else:
            chat = {"id": rng.choice(STRANGERS), "type": "private"}
            message = {"message_id": rng.randint(1, 10**6), "date": 0, "chat": chat}
            telegram.enqueue_update("message", {**message, "text": hostile_text(rng) or "x"})

    # ------------------------------------------------------------- invariants

    @invariant()
    def nothing_broke(self) -> None:
        """No exception reached the error handler, Telegram was asked nothing it would
        refuse, and no press was left unanswered (a spinning button)."""
        assert not self.errors, f"unhandled: {self.errors[0]!r}"
        failures = self.world.telegram.failures[self.failures_seen :]
        self.failures_seen += len(failures)
        unexpected = [f for f in failures if not any(e in f.description for e in EXPECTED_REFUSALS)]
        assert not unexpected, f"the fake Bot API refused: {unexpected[:3]}"
        assert not self.world.telegram.unanswered_callback_queries()
        errors = [r for r in self.capture.records if r.levelno >= logging.ERROR]
        assert not errors, f"ERROR logged: {errors[0].getMessage()}"

    def teardown(self) -> None:
        try:
            checked = self.loop.run_until_complete(
                check_database(self.world.services, self.may_answer, self.typed)
            )
            TOTALS.update(checked)
            TOTALS["updates"] += self.delivered
            TOTALS["examples"] += 1
            for record in self.capture.records:
                refused = getattr(record, "refused", None)
                if refused is not None:
                    REFUSED[refused] += 1
            TOTALS["errors"] += len(self.errors)
        finally:
            logging.getLogger().removeHandler(self.capture)
            self.loop.run_until_complete(stop_world(self.world))
            self.loop.close()
            shutil.rmtree(self.folder, ignore_errors=True)


def test_fuzzed_updates_break_nothing() -> None:
    """At least TARGET updates, zero exceptions, invariants after every example."""
    TOTALS.clear()
    REFUSED.clear()
    fresh = os.environ.get("FEEDBOT_FUZZ_RANDOM") == "1"
    rounds = 0
    while TOTALS["updates"] < TARGET:
        FuzzBot.salt = rounds
        run_state_machine_as_test(
            FuzzBot,
            settings=settings(
                max_examples=max(1, TARGET // (STEPS * 6)),
                stateful_step_count=STEPS,
                deadline=None,
                derandomize=not fresh,
                database=None,
                print_blob=True,
                suppress_health_check=list(HealthCheck),
                # Shrinking rebuilds the bot per attempt and can take minutes: opt in.
                phases=[Phase.explicit, Phase.reuse, Phase.generate]
                + ([Phase.shrink] if os.environ.get("FEEDBOT_FUZZ_SHRINK") == "1" else []),
            ),
        )
        rounds += 1
    report: dict[str, Any] = {**TOTALS, "refused": dict(sorted(REFUSED.items()))}
    print("fuzz:", json.dumps(report))  # shown with -s; FEEDBOT_FUZZ_REPORT keeps it
    if path := os.environ.get("FEEDBOT_FUZZ_REPORT"):
        Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    assert TOTALS["errors"] == 0
    assert TOTALS["updates"] >= TARGET
    # The suite reaches what it is meant to: forgeries refused, surveys completed.
    assert sum(REFUSED.values()) > 0 and TOTALS["responses"] > 0
