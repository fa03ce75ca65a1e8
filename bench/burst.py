"""bench/burst: many buyers answering the external survey at once, beside an echo bot and
sequential processing.

    python -m bench.burst [--users 1000] [--latency-ms 50] [--sequential-users 50]
                          [--sequential-seconds 20] [--profile FILE] [--repeat 3]
                          [--only echo --only feedbot --only inbox]
                          [--database postgresql://... [--instances 2]
                           [--only webhook-pg-cap --only webhook-pg-n-cap
                            --instance-cpu 0.5]]

Every variant runs the same harness: N simulated people start at the same moment; each
opens a product invite (/start <token>) and answers the survey through its buttons and
text messages, sending the next update only once the bot's reply to the previous one has
arrived (as a person does). Updates go where the Updater of `run_polling` puts what
getUpdates returned, `app.update_queue` of a started Application, so the application's
own update fetcher and update processor run them: concurrent across users and in order
per user (PerUserUpdateProcessor), or one at a time (PTB's default) for the sequential
baseline. Every Bot API call goes to the in-process fake Telegram, which waits
`--latency-ms` before answering, like a round trip to api.telegram.org.

Variants (each in a fresh interpreter, so one's memory and garbage do not weigh on the
next; `--in-process` runs them in this one):
- echo: the same framework and update processor making the same Bot API calls per
  update as feedbot (answerCallbackQuery, editMessageText, sendMessage; a toggle
  answers and edits the keyboard), with no database: the ceiling.
- feedbot: the real Application from bot.app on a real SQLite file.
- inbox: feedbot with updates handed over as webhook mode does (bot/inbox.py): each is
  committed to the inbox table, claimed by the inbox worker (one per user at a time) and
  marked done after its handlers; the webhook's HTTP request itself is not part of it.
- sequential: feedbot with concurrent=False, run with fewer users for a capped time;
  its throughput does not depend on the number of users (one update at a time), and
  its latency for N users is extrapolated as N x the measured time per update.

With --database (a PostgreSQL server; each run gets a new schema there, dropped after):
- postgres: the feedbot variant on PostgreSQL.
- webhook, webhook-pg, webhook-pg-n: 1 instance on SQLite, 1 and --instances instances
  on PostgreSQL, each instance a process serving the webhook as `feedbot run --webhook`
  does, updates posted by a load balancer stand-in to a random instance
  (bench/instances.py).
- webhook-pg-cap, webhook-pg-n-cap (only when asked for, as root): the same two on
  PostgreSQL with each instance limited to --instance-cpu cores by a cgroup of its own,
  as an instance in a container with a CPU limit is. On a machine of few cores the
  uncapped instances share them with PostgreSQL and the load generator, and what a
  second instance adds is bounded by the cores left; capped, each instance has a share
  of its own, as on hosts of their own.

No rate limiter in any variant: AIORateLimiter caps everything at Telegram's 30
messages/s, so with it on this benchmark would measure only that policy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bench.common import (
    Table,
    fmt,
    machine,
    peak_rss_mb,
    percentile,
    postgres_schema,
    ratio,
    reset_peak_rss,
    verdict,
)
from bot.processor import PerUserUpdateProcessor
from bot.web.runtime import run_served
from tests.fakes.records import JSONDict
from tests.fakes.request import FakeRequest
from tests.fakes.telegram_server import FakeTelegram, FakeUser

TOKEN = "123456:BENCH-token"
SECRET = "bench-secret-0123456789abcdef"
PRODUCTS = 10
FIRST_USER_ID = 10_000_000
REPLY_TIMEOUT = 60.0
VARIANTS = (
    "echo",
    "feedbot",
    "inbox",
    "sequential",
    "postgres",
    "webhook",
    "webhook-pg",
    "webhook-pg-n",
    "webhook-pg-cap",
    "webhook-pg-n-cap",
)
# What needs --database (a PostgreSQL server).
POSTGRES_VARIANTS = ("postgres", "webhook-pg", "webhook-pg-n", "webhook-pg-cap", "webhook-pg-n-cap")
# The instance variants whose instances each get --instance-cpu cores of their own.
CAPPED_VARIANTS = ("webhook-pg-cap", "webhook-pg-n-cap")

Variant = str


# ------------------------------------------------------------------ the respondent's script


@dataclass(frozen=True)
class Step:
    """One thing a respondent does and what answers it.

    `replies`: how many bot messages (sendMessage, or the keyboard edit after a toggle)
    make up the bot's answer; `stores`: (question id, value as stored) once applied."""

    kind: str  # "start", "press" or "text"
    value: str
    replies: int = 1
    stores: tuple[str, object] | None = None


def script(user_id: int) -> list[Step]:
    """/start with the invite, then eight answers: every question of the external survey
    for a promoter (the multi-choice one by a toggle and Done)."""
    liked = f"Great taste (buyer {user_id})"
    more = f"Keep it up (buyer {user_id})"
    return [
        Step("start", "", replies=2),  # the intro and the first question
        Step("press", "9", stores=("nps", 9)),
        Step("text", liked, stores=("nps_promoter", liked)),
        Step("press", "5", stores=("csat", 5)),
        Step("press", "6", stores=("effort", 6)),
        Step("press", "Price", stores=("improve", ["price"])),  # a toggle: pending, not stored
        Step("press", "Done ✓"),
        Step("text", more, stores=("comment", more)),
        Step("press", "Yes", stores=("contact_consent", 1)),
    ]


ANSWERS_PER_USER = sum(1 for s in script(0) if s.kind != "start")


class Inbox:
    """Tells each simulated user when the bot's reply to their update has arrived.

    Hooks the fake server's sendMessage and editMessageReplyMarkup: the moment the server
    handles one for a chat that is waiting, that chat's count goes down, and at zero its
    future gets the time. (FakeTelegram's own async_wait_for wakes every waiter on every
    call, which with a thousand users would cost more than the bot.)"""

    def __init__(self, telegram: FakeTelegram) -> None:
        self._waiting: dict[int, tuple[int, asyncio.Future[float]]] = {}
        self.unexpected = 0
        # chat -> the "Question N of M" numbers sent to it, in order (answered questions
        # are edited afterwards, so the chat itself no longer shows them).
        self.questions: dict[int, list[int]] = {}
        table = telegram.method_table()
        for method in ("sendMessage", "editMessageReplyMarkup"):
            telegram.register(method, self._hook(table[method]))

    def _hook(self, original: Callable[[JSONDict], object]) -> Callable[[JSONDict], object]:
        def handler(params: JSONDict) -> object:
            result = original(params)
            chat_id = params.get("chat_id")
            text = params.get("text")
            if isinstance(chat_id, int) and isinstance(text, str) and "Question " in text:
                number = text.split("Question ", 1)[1].split(" ", 1)[0]
                if number.isdigit():
                    self.questions.setdefault(chat_id, []).append(int(number))
            self._arrived(chat_id)
            return result

        return handler

    def _arrived(self, chat_id: object) -> None:
        if not isinstance(chat_id, int):
            return
        entry = self._waiting.get(chat_id)
        if entry is None:
            self.unexpected += 1
            return
        left, future = entry
        if left <= 1:
            del self._waiting[chat_id]
            if not future.done():
                future.set_result(time.perf_counter())
        else:
            self._waiting[chat_id] = (left - 1, future)

    def expect(self, chat_id: int, replies: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[chat_id] = (replies, future)
        return future

    def forget(self, chat_id: int) -> None:
        self._waiting.pop(chat_id, None)


@dataclass
class Progress:
    """What the simulated users measured."""

    latencies: list[float] = field(default_factory=list)
    answers: int = 0
    updates: int = 0
    timeouts: int = 0
    stuck: int = 0  # a button the user should see was not there
    steps_done: dict[int, int] = field(default_factory=dict)
    # The step a user was waiting on when the time cap stopped them: the bot may or may
    # not have applied it.
    in_flight: dict[int, int] = field(default_factory=dict)
    first_sent: float = 0.0
    last_reply: float = 0.0
    unexpected: int = 0  # replies to a chat that was not waiting for one
    questions: dict[int, list[int]] = field(default_factory=dict)
    answer_update_ids: list[int] = field(default_factory=list)  # answers the users saw answered
    cpu_seconds: float = 0.0  # of the whole process (all threads) while the users ran
    wall_seconds: float = 0.0


HandOver = Callable[[JSONDict], Awaitable[None]]


def to_update_queue(app: Application[Any, Any, Any, Any, Any, Any]) -> HandOver:
    """Hand updates over as the Updater of run_polling does."""

    async def hand_over(data: JSONDict) -> None:
        app.update_queue.put_nowait(Update.de_json(data, app.bot))

    return hand_over


async def respondent(
    user: FakeUser,
    token: str,
    hand_over: HandOver,
    telegram: FakeTelegram,
    inbox: Inbox,
    progress: Progress,
) -> None:
    """One person: each step, then wait for the bot's answer before the next one."""
    progress.steps_done[user.id] = 0
    for index, step in enumerate(script(user.id)):
        try:
            if step.kind == "start":
                user.send_command("/start", token)
            elif step.kind == "press":
                user.press(step.value)
            else:
                user.send_text(step.value)
        except AssertionError:
            progress.stuck += 1
            return
        # What getUpdates would return now, handed over the way the Updater does it.
        batch = telegram.pending_updates()
        started = time.perf_counter()
        progress.first_sent = progress.first_sent or started
        arrived = inbox.expect(user.id, step.replies)
        progress.in_flight[user.id] = index
        for data in batch:
            await hand_over(data)
        try:
            replied = await asyncio.wait_for(arrived, REPLY_TIMEOUT)
        except TimeoutError:
            inbox.forget(user.id)
            progress.timeouts += 1
            return
        del progress.in_flight[user.id]
        progress.latencies.append(replied - started)
        progress.last_reply = max(progress.last_reply, replied)
        progress.updates += 1
        if step.kind != "start":
            progress.answers += 1
            progress.answer_update_ids.extend(int(data["update_id"]) for data in batch)
        progress.steps_done[user.id] = index + 1


class ErrorCount(logging.Handler):
    """Counts ERROR records (a handler raising, PTB failing to fetch or process)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                self.first += f": {record.exc_info[1]!r}"


# ------------------------------------------------------------------ results


@dataclass
class Result:
    """One variant's measurements (JSON between the parent and a child process)."""

    variant: Variant
    users: int
    latency_ms: float
    seconds: float
    answers: int
    updates: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    peak_rss_mb: float
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    errors: int = 0
    capped: bool = False
    cpu_percent: float = 0.0  # process CPU time / wall time while the users ran (100 = a core)
    cpu_ms_per_answer: float = 0.0
    first_error: str | None = None
    checked: str = ""
    instances: int = 1
    cpu_limit: float | None = None  # cores each instance may use (the capped variants)
    backend: str = "sqlite"
    bound: str = ""  # where the CPU went (the instance variants)
    # Bot API calls the fake refused, "method: description" -> how many (counted in errors)
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def answers_per_s(self) -> float:
        return self.answers / self.seconds if self.seconds > 0 else 0.0

    @property
    def problems(self) -> int:
        return self.lost + self.duplicated + self.out_of_order + self.errors


def summarize(
    variant: Variant, users: int, latency: float, progress: Progress, capped_at: float | None
) -> Result:
    if capped_at is not None:
        seconds = capped_at
    else:
        seconds = max(progress.last_reply - progress.first_sent, 1e-9)
    ms = [x * 1000 for x in progress.latencies]
    return Result(
        variant=variant,
        users=users,
        latency_ms=latency * 1000,
        seconds=seconds,
        answers=progress.answers,
        updates=progress.updates,
        p50_ms=percentile(ms, 50),
        p95_ms=percentile(ms, 95),
        p99_ms=percentile(ms, 99),
        peak_rss_mb=peak_rss_mb(),
        errors=progress.timeouts + progress.stuck,
        capped=capped_at is not None,
        cpu_percent=100 * progress.cpu_seconds / max(progress.wall_seconds, 1e-9),
        cpu_ms_per_answer=1000 * progress.cpu_seconds / max(progress.answers, 1),
    )


async def drive(
    app: Application[Any, Any, Any, Any, Any, Any] | None,
    telegram: FakeTelegram,
    tokens: Sequence[str],
    users: int,
    cap: float | None,
    hand_over: HandOver | None = None,
) -> tuple[Progress, float | None]:
    """Run every respondent at once; stop them after `cap` seconds if given.

    Returns the progress and, when capped, the time the run was cut at."""
    inbox = Inbox(telegram)
    progress = Progress()
    people = [telegram.user(FIRST_USER_ID + i, f"Buyer {i}") for i in range(users)]
    tasks = [
        asyncio.create_task(
            respondent(
                p,
                tokens[i % len(tokens)],
                hand_over or to_update_queue(_running(app)),
                telegram,
                inbox,
                progress,
            )
        )
        for i, p in enumerate(people)
    ]
    started = time.perf_counter()
    cpu_started = time.process_time()
    done, pending = await asyncio.wait(tasks, timeout=cap)
    progress.cpu_seconds = time.process_time() - cpu_started
    progress.wall_seconds = time.perf_counter() - started
    capped_at: float | None = None
    if pending:
        capped_at = time.perf_counter() - started
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # What was queued for the bot but not processed will not be: drop it.
        while app is not None and not app.update_queue.empty():
            app.update_queue.get_nowait()
            app.update_queue.task_done()
    for task in done:
        task.result()
    progress.unexpected = inbox.unexpected
    progress.questions = inbox.questions
    return progress, capped_at


def _running(
    app: Application[Any, Any, Any, Any, Any, Any] | None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    if app is None:
        raise ValueError("updates go to an application's queue or to `hand_over`")
    return app


# ------------------------------------------------------------------ feedbot


async def run_feedbot(
    users: int,
    latency: float,
    *,
    concurrent: bool,
    cap: float | None,
    profile: Path | None,
    via_inbox: bool = False,
    server: str | None = None,
) -> Result:
    """The real Application on a fresh database (an SQLite file, or a new schema on the
    PostgreSQL `server`), driven by `users` respondents; `via_inbox`: updates go through
    webhook mode's inbox instead of the update queue."""
    from bot.app import build_application
    from bot.config import load_settings
    from bot.inbox import InboxReceiver, InboxWorker
    from bot.processor import update_key

    async with fresh_database(server) as target:
        settings = load_settings(
            None,
            TELEGRAM_BOT_TOKEN=TOKEN,
            FEEDBOT_SECRET=SECRET,
            FEEDBOT_DATABASE=target,
            FEEDBOT_TIMEZONE="Europe/Warsaw",
            FEEDBOT_LOG_LEVEL="WARNING",
        )
        telegram = FakeTelegram(token=TOKEN, latency=latency, record_calls=False)
        app = build_application(
            settings,
            request=FakeRequest(telegram),
            rate_limiter=False,
            concurrent=concurrent,
            schedule_jobs=False,
        )
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        services = app.services
        tokens = await seed_products(services)
        errors = ErrorCount()
        logging.getLogger().addHandler(errors)
        await app.start()
        hand_over: HandOver | None = None
        worker: InboxWorker | None = None
        if via_inbox:
            worker = InboxWorker(app, services.db, lease=30, clock=services.now)
            receiver = InboxReceiver(services.db, services.now, worker)

            async def store(data: JSONDict) -> None:
                update = Update.de_json(data, app.bot)
                await receiver.accept(update.update_id, update_key(update), json.dumps(data))

            hand_over = store
            worker.start()
        reset_peak_rss()
        profiler = _start_profiler(profile)
        try:
            progress, capped_at = await drive(app, telegram, tokens, users, cap, hand_over)
        finally:
            _stop_profiler(profiler, profile)
            if worker is not None:
                await worker.stop()
            await app.stop()
        name = "sequential" if not concurrent else "inbox" if via_inbox else "feedbot"
        if server is not None:
            name = "postgres"
        result = summarize(name, users, latency, progress, capped_at)
        await check_feedbot(result, services.db.conn, progress)
        result.errors += errors.count + len(telegram.failures)
        result.first_error = errors.first or (
            telegram.failures[0].description if telegram.failures else None
        )
        logging.getLogger().removeHandler(errors)
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        await app.shutdown()
    return result


@asynccontextmanager
async def fresh_database(server: str | None) -> AsyncIterator[str]:
    """FEEDBOT_DATABASE for one run: a new SQLite file, or a new schema on the PostgreSQL
    `server` (dropped afterwards)."""
    if server is not None:
        async with postgres_schema(server) as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="feedbot-burst-") as folder:
        yield str(Path(folder) / "burst.sqlite3")


async def seed_products(services: Any) -> list[str]:
    """PRODUCTS products with one multi-use buyer invite each; returns the tokens."""
    return await seed_database(services.db, services.secret)


async def seed_database(db: Any, secret: bytes) -> list[str]:
    """PRODUCTS products with one multi-use buyer invite each in `db`; the tokens."""
    from storage import invites as invite_repo
    from storage import subjects as subject_repo
    from storage.models import InviteKind, SubjectKind

    tokens = []
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        for n in range(PRODUCTS):
            subject = await subject_repo.add_subject(
                conn,
                slug=f"product-{n}",
                kind=SubjectKind.PRODUCT,
                names={"pl": f"Produkt {n}", "en": f"Product {n}"},
                survey_id="external",
                now=now,
            )
            _, token = await invite_repo.create_invite(
                conn,
                secret,
                kind=InviteKind.BUYER,
                subject_id=subject.id,
                role=None,
                max_uses=None,
                expires_at=None,
                created_by=None,
                now=now,
            )
            tokens.append(token)
    return tokens


async def check_feedbot(result: Result, conn: Any, progress: Progress) -> None:
    """Compare what every user did with what the database holds.

    lost: an applied answer missing (from the response, or from the open session's state
    for a user the time cap stopped), or an update id not recorded as processed;
    duplicated: a second response for one buyer, a question answered twice in one, or an
    update recorded twice; out of order: an answer with another step's value, or the
    questions a user was shown not in increasing order."""
    from surveys.engine import SessionState

    stored: dict[int, list[dict[str, object]]] = {}
    async with conn.execute(
        "SELECT r.id, r.contact_id, a.question_id, a.number, a.text, a.choice"
        " FROM responses AS r JOIN answers AS a ON a.response_id = r.id"
        " ORDER BY r.id, a.position"
    ) as cursor:
        per_response: dict[int, tuple[int, list[tuple[str, object]]]] = {}
        for response_id, contact_id, question_id, number, text, choice in await cursor.fetchall():
            value: object = number if number is not None else text if text is not None else choice
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            per_response.setdefault(response_id, (contact_id, []))[1].append((question_id, value))
    for contact_id, rows in per_response.values():
        answers: dict[str, object] = {}
        for question_id, value in rows:
            if question_id == "improve":
                previous = answers.get(question_id, [])
                assert isinstance(previous, list)
                answers[question_id] = [*previous, value]
            elif question_id in answers:
                result.duplicated += 1
            else:
                answers[question_id] = value
        stored.setdefault(contact_id, []).append(answers)
    async with conn.execute(
        "SELECT respondent_id, state_json FROM sessions WHERE status = 'active'"
    ) as cursor:
        open_states = {row[0]: SessionState.from_json(row[1]) for row in await cursor.fetchall()}
    async with conn.execute("SELECT update_id FROM processed_updates") as cursor:
        recorded = [int(row[0]) for row in await cursor.fetchall()]
    processed = len(recorded)
    result.duplicated += processed - len(set(recorded))
    # Every answer the users saw answered was recorded as processed (with its effect).
    result.lost += len(set(progress.answer_update_ids) - set(recorded))

    for user_id, steps_done in progress.steps_done.items():
        steps = script(user_id)[:steps_done]
        expected = {s.stores[0]: s.stores[1] for s in steps if s.stores is not None}
        # A step the time cap interrupted may have been applied (and only that one).
        maybe: dict[str, object] = {}
        if user_id in progress.in_flight:
            pending = script(user_id)[progress.in_flight[user_id]]
            if pending.stores is not None:
                maybe[pending.stores[0]] = pending.stores[1]
        responses = stored.get(user_id, [])
        result.duplicated += max(0, len(responses) - 1)
        if responses:
            actual = responses[0]
        elif user_id in open_states:
            state = open_states[user_id]
            actual = dict(state.answers)
            if state.pending:
                actual["improve"] = list(state.pending)
            if isinstance(actual.get("contact_consent"), bool):
                actual["contact_consent"] = int(bool(actual["contact_consent"]))
        else:
            actual = {}
        for question_id, value in expected.items():
            if question_id not in actual:
                result.lost += 1
            elif actual[question_id] != value:
                result.out_of_order += 1
        result.out_of_order += sum(
            1 for q in actual if q not in expected and (q not in maybe or actual[q] != maybe[q])
        )
        result.out_of_order += _shown_out_of_order(progress.questions, user_id)
    result.checked = (
        f"{sum(len(r) for r in stored.values()):,} responses and {processed:,} processed"
        f" updates checked against {len(progress.steps_done):,} users' scripts"
    )


def _shown_out_of_order(inbox_questions: dict[int, list[int]], chat_id: int) -> int:
    """How many questions sent to a chat did not follow the previous one's number."""
    last = 0
    wrong = 0
    for number in inbox_questions.get(chat_id, []):
        wrong += number != last + 1
        last = number
    return wrong


# ------------------------------------------------------------------ instances


async def run_instances(
    users: int,
    latency: float,
    *,
    count: int,
    server: str | None,
    variant: Variant,
    profile: Path | None = None,
    cpu_limit: float | None = None,
) -> Result:
    """`count` feedbot instances, each a process of its own serving the webhook as
    `feedbot run --webhook` does (bench.instances), sharing one fresh database (SQLite
    when `server` is None, else a new schema there); each update is posted by the load
    balancer stand-in to a random instance. Checked afterwards from the database, as the
    in-process variants are, and every update stored in the inbox must be done.
    `profile`: each instance writes a pyinstrument profile to `<profile>.<variant>.<n>`;
    `cpu_limit`: each instance may use that many cores (a cgroup CPU limit of its own)."""
    import random

    from bench import instances as fleet_of
    from storage import inbox as inbox_repo
    from storage.db import Database

    async with fresh_database(server) as target:
        db = await Database.open(target)
        try:
            tokens = await seed_database(db, SECRET.encode())
        finally:
            await db.close()
        telegram = FakeTelegram(token=TOKEN, latency=latency, record_calls=False)
        errors = ErrorCount()
        logging.getLogger().addHandler(errors)
        shares = fleet_of.CpuShares()
        try:
            async with (
                fleet_of.bot_api_server(telegram) as api_url,
                fleet_of.fleet(
                    count,
                    telegram,
                    token=TOKEN,
                    secret=SECRET,
                    database=target,
                    api_url=api_url,
                    profile=None
                    if profile is None
                    else profile.with_name(f"{profile.name}.{variant}"),
                    cpu_limit=cpu_limit,
                ) as started,
            ):
                balancer = fleet_of.Balancer(
                    started.ports, started.webhook_secret, random.Random(users * 7919 + count)
                )
                before = (
                    time.perf_counter(),
                    fleet_of.machine_busy_seconds(),
                    time.process_time(),
                    started.cpu_seconds(),
                    fleet_of.postgres_cpu_seconds() if server else 0.0,
                )
                throttled_before = started.throttled()
                try:
                    progress, capped_at = await drive(
                        None, telegram, tokens, users, None, balancer.post
                    )
                finally:
                    balancer.close()
                after = (
                    time.perf_counter(),
                    fleet_of.machine_busy_seconds(),
                    time.process_time(),
                    started.cpu_seconds(),
                    fleet_of.postgres_cpu_seconds() if server else 0.0,
                )
                throttled_after = started.throttled()
        finally:
            logging.getLogger().removeHandler(errors)
        wall = max(after[0] - before[0], 1e-9)
        shares.machine, shares.load, shares.instances, shares.postgres = (
            (a - b) / wall for a, b in zip(after[1:], before[1:], strict=True)
        )
        result = summarize(variant, users, latency, progress, capped_at)
        result.instances = count
        result.cpu_limit = cpu_limit
        result.backend = "postgresql" if server else "sqlite"
        result.peak_rss_mb = float("nan")  # several processes: see bench.memory instead
        own = shares.load + shares.instances + shares.postgres
        result.cpu_percent = 100 * own
        result.cpu_ms_per_answer = 1000 * own * wall / max(progress.answers, 1)
        result.bound = shares.describe(os.cpu_count() or 1) + (
            f"; {balancer.retries} posts retried" if balancer.retries else ""
        )
        throttled, periods = (a - b for a, b in zip(throttled_after, throttled_before, strict=True))
        if cpu_limit is not None:
            result.bound += (
                f"; each instance limited to {cpu_limit:g} core: held back in {throttled} of"
                f" its {periods} periods of 100 ms"
            )
        db = await Database.open(target)
        try:
            await check_feedbot(result, db.conn, progress)
            left = await inbox_repo.pending(db.conn)
        finally:
            await db.close()
        if left:
            result.errors += left
            result.first_error = f"{left} updates left undone in the inbox"
        result.errors += errors.count + started.errors + len(telegram.failures)
        for failure in telegram.failures:
            what = f"{failure.method}: {failure.description}"
            result.refused[what] = result.refused.get(what, 0) + 1
        result.first_error = (
            result.first_error
            or started.first_error
            or errors.first
            or (telegram.failures[0].description if telegram.failures else None)
        )
    return result


# ------------------------------------------------------------------ the echo ceiling


# An inline keyboard as plain data: rows of (label, callback data).
Keyboard = tuple[tuple[tuple[str, str], ...], ...]


def plain(markup: InlineKeyboardMarkup) -> Keyboard:
    return tuple(
        tuple((b.text, str(b.callback_data)) for b in row) for row in markup.inline_keyboard
    )


def markup_of(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    """The framework's objects for a keyboard, built per message as any PTB bot builds them."""
    if keyboard is None:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in keyboard]
    )


@dataclass(frozen=True)
class EchoReply:
    """What feedbot sends for one answer: the text replacing the answered question (None:
    the keyboard is redrawn instead, after a toggle), then the next message."""

    edit_text: str | None
    redrawn: Keyboard | None
    next_text: str
    next_keyboard: Keyboard | None


def feedbot_messages(
    product: str = "Product 0", session_id: int = 1234
) -> tuple[str, str, Keyboard, list[EchoReply]]:
    """The intro, the first question and, per answer of `script`, the messages feedbot sends,
    rendered once by feedbot's own renderer so that the echo bot's Bot API traffic is the
    same as feedbot's, byte for byte (bar the session id in the buttons)."""
    from bot import render
    from bot.button_checks import press_value
    from bot.callbacks import Action, decode
    from bot.i18n import t
    from surveys import engine
    from surveys.loader import SurveyCatalog
    from surveys.schema import localize

    lang = "en"
    definition = SurveyCatalog.load().latest("external")
    state = engine.new_state()
    step = engine.next_step(definition, state)
    assert isinstance(step, engine.QuestionStep)
    first_text = render.question_text(step, lang, product)
    first_keyboard = plain(render.question_keyboard(step, session_id, lang))
    replies: list[EchoReply] = []
    for action in script(0)[1:]:
        assert isinstance(step, engine.QuestionStep)
        question = step.question
        keyboard = render.question_keyboard(step, session_id, lang)
        value: engine.AnswerValue
        if action.kind == "text":
            op, value = Action.ANSWER, action.value
        else:
            data = next(
                b.callback_data
                for row in keyboard.inline_keyboard
                for b in row
                if b.text == action.value
            )
            callback = decode(str(data))
            op, value = callback.action, press_value(question, callback)
        if op is Action.TOGGLE:
            changed = engine.toggle_choice(definition, state, question.id, str(value))
        elif op is Action.CONFIRM:
            changed = engine.confirm_choices(definition, state, question.id)
        else:
            changed = engine.apply_answer(definition, state, question.id, value)
        assert isinstance(changed, engine.SessionState), changed
        state = changed
        step = engine.next_step(definition, state)
        if op is Action.TOGGLE:
            assert isinstance(step, engine.QuestionStep)
            redrawn = plain(render.question_keyboard(step, session_id, lang))
            replies.append(EchoReply(None, redrawn, "", None))
            continue
        edit = render.answered_text(question, state.answers.get(question.id), lang, product)
        if isinstance(step, engine.QuestionStep):
            replies.append(
                EchoReply(
                    edit,
                    None,
                    render.question_text(step, lang, product),
                    plain(render.question_keyboard(step, session_id, lang)),
                )
            )
        else:
            thanks = render.fill(localize(definition.thanks, lang), product)
            goes_to = t(lang, "survey.goes_to_owner", subject=render.fill("{{ subject }}", product))
            replies.append(EchoReply(edit, None, f"{thanks}\n\n{goes_to}", None))
    intro = render.fill(localize(definition.intro, lang), product)
    return intro, first_text, first_keyboard, replies


def build_echo(telegram: FakeTelegram) -> Application[Any, Any, Any, Any, Any, Any]:
    """The same framework and update processor answering each update with the Bot API
    calls feedbot makes for it, carrying the same texts and keyboards, and nothing else:
    no database, no survey engine. What to send was rendered before the run as plain
    text and (label, callback data) rows; the framework's keyboard objects are built per
    message, as any PTB bot must build them to make the call."""
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .request(FakeRequest(telegram))
        .defaults(
            Defaults(parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True))
        )
        .concurrent_updates(PerUserUpdateProcessor())
        .build()
    )
    intro, first_text, first_keyboard, replies = feedbot_messages()
    # Per chat: how many answers it gave and the message carrying its keyboard (feedbot
    # keeps both in the session row; the echo bot in memory).
    answered: dict[int, int] = {}
    keyboard_message: dict[int, int] = {}

    async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The intro, then the first question."""
        chat = update.effective_chat
        assert chat is not None
        await chat.send_message(intro)
        message = await context.bot.send_message(
            chat.id, first_text, reply_markup=markup_of(first_keyboard)
        )
        answered[chat.id] = 0
        keyboard_message[chat.id] = message.message_id

    async def reply(context: ContextTypes.DEFAULT_TYPE, chat_id: int, echo: EchoReply) -> None:
        message = await context.bot.send_message(
            chat_id, echo.next_text, reply_markup=markup_of(echo.next_keyboard)
        )
        keyboard_message[chat_id] = message.message_id

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer the button, then what feedbot does: edit the question, send the next."""
        query = update.callback_query
        assert query is not None and query.message is not None
        chat_id = query.message.chat.id
        echo = replies[answered[chat_id]]
        answered[chat_id] += 1
        await query.answer()
        if echo.redrawn is not None:
            await query.edit_message_reply_markup(markup_of(echo.redrawn))
            return
        assert echo.edit_text is not None
        await query.edit_message_text(echo.edit_text, reply_markup=None)
        await reply(context, chat_id, echo)

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A typed answer: edit the question it answers, send the next."""
        message = update.effective_message
        assert message is not None
        chat_id = message.chat.id
        echo = replies[answered[chat_id]]
        answered[chat_id] += 1
        assert echo.edit_text is not None
        await context.bot.edit_message_text(
            echo.edit_text,
            chat_id=chat_id,
            message_id=keyboard_message[chat_id],
            reply_markup=None,
        )
        await reply(context, chat_id, echo)

    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    return app


async def run_echo(users: int, latency: float) -> Result:
    """The ceiling: the echo bot driven by the same respondents."""
    telegram = FakeTelegram(token=TOKEN, latency=latency, record_calls=False)
    app = build_echo(telegram)
    errors = ErrorCount()
    logging.getLogger().addHandler(errors)
    await app.initialize()
    await app.start()
    reset_peak_rss()
    try:
        progress, capped_at = await drive(app, telegram, [""], users, None)
    finally:
        await app.stop()
        await app.shutdown()
        logging.getLogger().removeHandler(errors)
    result = summarize("echo", users, latency, progress, capped_at)
    expected = len(script(0))
    result.lost = sum(expected - n for n in progress.steps_done.values())
    result.duplicated = progress.unexpected
    result.out_of_order = sum(
        _shown_out_of_order(progress.questions, uid) for uid in progress.steps_done
    )
    result.errors += errors.count + len(telegram.failures)
    result.first_error = errors.first
    result.checked = "replies counted per user (no database)"
    return result


# ------------------------------------------------------------------ profiling


def _start_profiler(path: Path | None) -> Any:
    if path is None:
        return None
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    return profiler


def _stop_profiler(profiler: Any, path: Path | None) -> None:
    if profiler is None or path is None:
        return
    profiler.stop()
    path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))


# ------------------------------------------------------------------ running


async def run_variant(
    variant: Variant,
    users: int,
    latency: float,
    *,
    sequential_users: int,
    sequential_seconds: float,
    profile: Path | None = None,
    server: str | None = None,
    instances: int = 2,
    instance_cpu: float = 0.5,
) -> Result:
    """One variant, in this process (`server`: the PostgreSQL server of the variants
    that need one; `instances`: how many the webhook-pg-n variants run; `instance_cpu`:
    the cores each instance of the capped variants may use)."""
    if variant in POSTGRES_VARIANTS and server is None:
        raise ValueError(f"the {variant} variant needs --database postgresql://...")
    if variant == "postgres":
        return await run_feedbot(
            users, latency, concurrent=True, cap=None, profile=None, server=server
        )
    if variant.startswith("webhook"):
        count = instances if variant.startswith("webhook-pg-n") else 1
        return await run_instances(
            users,
            latency,
            count=count,
            server=server if variant != "webhook" else None,
            variant=variant,
            profile=profile,
            cpu_limit=instance_cpu if variant in CAPPED_VARIANTS else None,
        )
    if variant == "echo":
        return await run_echo(users, latency)
    if variant == "feedbot":
        return await run_feedbot(users, latency, concurrent=True, cap=None, profile=profile)
    if variant == "inbox":
        return await run_feedbot(
            users, latency, concurrent=True, cap=None, profile=None, via_inbox=True
        )
    if variant == "sequential":
        return await run_feedbot(
            min(users, sequential_users),
            latency,
            concurrent=False,
            cap=sequential_seconds,
            profile=None,
        )
    raise ValueError(f"unknown variant {variant!r}")


def run_in_child(variant: Variant, args: argparse.Namespace) -> Result:
    """One variant in a fresh interpreter; its Result comes back as JSON on stdout."""
    command = [
        sys.executable,
        "-m",
        "bench.burst",
        "--variant",
        variant,
        "--users",
        str(args.users),
        "--latency-ms",
        str(args.latency_ms),
        "--sequential-users",
        str(args.sequential_users),
        "--sequential-seconds",
        str(args.sequential_seconds),
    ]
    if args.profile and (variant == "feedbot" or variant.startswith("webhook")):
        command += ["--profile", str(args.profile)]
    if args.database:
        command += ["--database", args.database]
    command += ["--instances", str(args.instances), "--instance-cpu", str(args.instance_cpu)]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.burst --variant {variant} failed:\n{done.stderr}")
    return Result(**json.loads(done.stdout.strip().splitlines()[-1]))


def report(
    results: dict[Variant, Result],
    users: int,
    sequential_seconds: float,
    runs: dict[Variant, list[Result]] | None = None,
) -> str:
    """The table: each variant's measurements and its ratio to the echo ceiling."""
    echo = results.get("echo")
    feedbot = results.get("feedbot")
    sequential = results.get("sequential")
    latency = next(iter(results.values())).latency_ms
    table = Table(
        f"burst: {users:,} buyers x {ANSWERS_PER_USER} answers (after /start), "
        f"{latency:g} ms per Bot API call, no rate limiter\n{machine()}",
        [
            "variant",
            "users",
            "answers",
            "seconds",
            "answers/s",
            "vs echo",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "p99 vs echo",
            "CPU %",
            "CPU ms/answer",
            "peak RSS MB",
            "lost",
            "dup",
            "order",
            "errors",
        ],
    )

    def add(
        name: str,
        r: Result,
        answers_per_s: float,
        p50: float,
        p95: float,
        p99: float,
        seconds: float,
        users_shown: int,
        answers: int,
    ) -> None:
        table.add(
            name,
            users_shown,
            answers,
            fmt(seconds, 1),
            fmt(answers_per_s, 0),
            ratio(answers_per_s, echo.answers_per_s if echo else 0),
            fmt(p50, 0),
            fmt(p95, 0),
            fmt(p99, 0),
            ratio(p99, echo.p99_ms if echo else 0),
            fmt(r.cpu_percent, 0),
            fmt(r.cpu_ms_per_answer, 2),
            fmt(r.peak_rss_mb, 0),
            r.lost,
            r.duplicated,
            r.out_of_order,
            r.errors,
        )

    def add_rows(labels: dict[Variant, str]) -> None:
        for name, label in labels.items():
            r = results.get(name)
            if r is not None:
                add(
                    label,
                    r,
                    r.answers_per_s,
                    r.p50_ms,
                    r.p95_ms,
                    r.p99_ms,
                    r.seconds,
                    r.users,
                    r.answers,
                )

    add_rows(
        {
            "echo": "echo (ceiling)",
            "feedbot": "feedbot",
            "inbox": "feedbot via inbox",
            "postgres": "feedbot on PostgreSQL",
        }
    )
    if sequential is not None:
        s = sequential
        add(
            f"sequential, measured{' (capped)' if s.capped else ''}",
            s,
            s.answers_per_s,
            s.p50_ms,
            s.p95_ms,
            s.p99_ms,
            s.seconds,
            s.users,
            s.answers,
        )
        # One update at a time: throughput is the same for any number of users, and with N
        # users queued each reply waits for about N updates of the others.
        per_update_ms = 1000 * s.seconds / max(s.updates, 1)
        total = users * (ANSWERS_PER_USER + 1)
        table.add(
            "sequential, extrapolated",
            users,
            users * ANSWERS_PER_USER,
            fmt(total * per_update_ms / 1000, 0),
            fmt(s.answers_per_s, 0),
            ratio(s.answers_per_s, echo.answers_per_s if echo else 0),
            fmt(users * per_update_ms, 0),
            fmt(users * per_update_ms, 0),
            fmt(users * per_update_ms, 0),
            ratio(users * per_update_ms, echo.p99_ms if echo else 0),
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
        )
    many = results.get("webhook-pg-n") or results.get("webhook-pg-n-cap")
    count = many.instances if many else "N"
    cap = next((f"{r.cpu_limit:g}" for r in results.values() if r.cpu_limit is not None), "?")
    add_rows(
        {
            "webhook": "1 instance, SQLite",
            "webhook-pg": "1 instance, PostgreSQL",
            "webhook-pg-n": f"{count} instances, PostgreSQL",
            "webhook-pg-cap": f"1 instance, PG, {cap} core",
            "webhook-pg-n-cap": f"{count} instances, PG, {cap} core each",
        }
    )
    table.notes.append(
        "answers/s: answers (not /start) over the time from the first update to the last reply;"
        " latency: an update put on app.update_queue -> the server handling the reply's last"
        " sendMessage (or keyboard edit for a toggle)."
    )
    table.notes.append(
        "No rate limiter in any variant: AIORateLimiter caps all sending at Telegram's 30 msg/s,"
        " so with it this benchmark would measure only that policy."
    )
    if sequential is not None:
        table.notes.append(
            f"sequential = feedbot with concurrent=False (PTB's default), {sequential.users} users"
            f" for at most {sequential_seconds:g} s; the extrapolated row assumes the measured"
            " time per update for every update and N users queued (latency ~ N x time per update)."
        )
    if feedbot is not None and echo is not None:
        targets = [
            (
                "answers/s >= 70% of echo",
                feedbot.answers_per_s >= 0.7 * echo.answers_per_s,
                f"{100 * feedbot.answers_per_s / max(echo.answers_per_s, 1e-9):.1f}%",
            ),
            (
                "p99 <= 1.5x echo's",
                feedbot.p99_ms <= 1.5 * echo.p99_ms,
                ratio(feedbot.p99_ms, echo.p99_ms, 3),
            ),
            (
                "zero lost/duplicated/out of order/errors",
                feedbot.problems == 0,
                f"{feedbot.problems}",
            ),
        ]
        if sequential is not None:
            targets.insert(
                2,
                (
                    ">= 100x sequential",
                    feedbot.answers_per_s >= 100 * sequential.answers_per_s,
                    ratio(feedbot.answers_per_s, sequential.answers_per_s, 0),
                ),
            )
        for name, ok, value in targets:
            table.notes.append(f"target {name}: {value} -> {verdict(ok)}")
    table.notes.extend(_instance_notes(results))
    for name, found in (runs or {}).items():
        if len(found) > 1:
            speeds = ", ".join(fmt(r.answers_per_s, 0) for r in found)
            table.notes.append(f"{name}: {len(found)} runs, answers/s {speeds} (median shown)")
    for r in results.values():
        if r.checked:
            table.notes.append(f"{r.variant} checks: {r.checked}")
        if r.first_error:
            table.notes.append(f"{r.variant} first error: {r.first_error}")
        for what, count in r.refused.items():
            table.notes.append(f"{r.variant}: {count} x refused {what}")
    return table.render()


def _instance_notes(results: dict[Variant, Result]) -> list[str]:
    """What the instance rows are, and their targets."""
    one_sqlite = results.get("webhook")
    one = results.get("webhook-pg")
    many = results.get("webhook-pg-n")
    one_capped, many_capped = results.get("webhook-pg-cap"), results.get("webhook-pg-n-cap")
    if all(r is None for r in (one_sqlite, one, many, one_capped, many_capped)):
        return []
    notes = [
        "instance rows: each instance a process serving the webhook as `feedbot run --webhook`"
        " does (no rate limiter), updates posted by a load balancer stand-in to a random"
        " instance and stored in the inbox before its 200; latency: the first POST -> the"
        " reply's last call; CPU % and CPU ms/answer: the instances, PostgreSQL and the load"
        " generator (fake Bot API, people, load balancer) together (100 = a core)."
    ]
    feedbot, postgres = results.get("feedbot"), results.get("postgres")
    if one is not None and one_sqlite is not None:
        value = 100 * one.answers_per_s / max(one_sqlite.answers_per_s, 1e-9)
        ok = one.answers_per_s >= 0.6 * one_sqlite.answers_per_s
        notes.append(
            f"target PostgreSQL, 1 instance >= 60% of SQLite, 1 instance: {value:.1f}%"
            f" -> {verdict(ok)}"
        )
    if postgres is not None and feedbot is not None:
        value = 100 * postgres.answers_per_s / max(feedbot.answers_per_s, 1e-9)
        notes.append(f"in process (update queue): feedbot on PostgreSQL = {value:.1f}% of SQLite")
    if many is not None and one is not None:
        ok = many.answers_per_s >= 1.3 * one.answers_per_s
        notes.append(
            f"target {many.instances} instances >= 1.3x 1 instance (PostgreSQL):"
            f" {ratio(many.answers_per_s, one.answers_per_s)} -> {verdict(ok)}"
        )
    if many_capped is not None and one_capped is not None:
        ok = many_capped.answers_per_s >= 1.3 * one_capped.answers_per_s
        notes.append(
            f"target {many_capped.instances} instances >= 1.3x 1 instance (PostgreSQL, each"
            f" instance limited to {many_capped.cpu_limit:g} core):"
            f" {ratio(many_capped.answers_per_s, one_capped.answers_per_s)} -> {verdict(ok)}"
        )
    problems = sum(r.problems for r in results.values())
    notes.append(
        f"target zero lost/duplicated/out of order/errors in every variant: {problems}"
        f" -> {verdict(problems == 0)}"
    )
    for r in (one_sqlite, one, many, one_capped, many_capped):
        if r is not None and r.bound:
            notes.append(f"{r.variant}: {r.bound}")
    return notes


def default_variants(args: argparse.Namespace) -> list[Variant]:
    """The variants a run without --only measures."""
    if not args.database:
        return ["echo", "feedbot", "sequential"]
    many = ["webhook-pg-n"] if args.instances > 1 else []
    return ["echo", "feedbot", "postgres", "webhook", "webhook-pg", *many, "sequential"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.burst", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--users", type=int, default=1000, help="respondents (default 1000)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="per Bot API call (50)")
    parser.add_argument(
        "--sequential-users",
        type=int,
        default=50,
        help="respondents for the sequential baseline (default 50)",
    )
    parser.add_argument(
        "--sequential-seconds",
        type=float,
        default=20.0,
        help="time cap of the sequential baseline (default 20 s)",
    )
    parser.add_argument(
        "--only", choices=VARIANTS, action="append", help="run only these variants (repeatable)"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the variants in this process instead of one child each",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a pyinstrument profile of the feedbot variant here, and of each instance"
        " of the webhook variants to FILE.<variant>.<n>",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of echo and feedbot, taking turns; medians shown (3)",
    )
    parser.add_argument(
        "--database",
        metavar="postgresql://...",
        help="a PostgreSQL server: adds feedbot on PostgreSQL and the instance variants"
        " (1 instance on SQLite, 1 and --instances on PostgreSQL); each run gets a new"
        " schema there, dropped afterwards",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=2,
        help="instances sharing PostgreSQL in the webhook-pg-n variant (default 2)",
    )
    parser.add_argument(
        "--instance-cpu",
        type=float,
        default=0.5,
        metavar="CORES",
        help="the CPU limit of each instance in the -cap variants (0.5): each instance in a"
        " cgroup of its own, as a container with a CPU limit; needs root",
    )
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.database and not args.database.startswith(("postgresql://", "postgres://")):
        parser.error("--database takes a postgresql:// URL (SQLite is always measured)")
    wanted = [args.variant] if args.variant else args.only or []
    if not args.database and any(v in POSTGRES_VARIANTS for v in wanted):
        parser.error("the PostgreSQL variants need --database postgresql://...")
    if args.instances < 1:
        parser.error("--instances must be at least 1")
    if not 0.01 <= args.instance_cpu <= (os.cpu_count() or 1):
        parser.error(f"--instance-cpu takes cores from 0.01 to {os.cpu_count() or 1}")
    if any(v in CAPPED_VARIANTS for v in wanted) and not args.variant:
        from bench.instances import CpuLimit, CpuLimitUnavailable

        try:
            CpuLimit.create(f"feedbot-bench-{os.getpid()}-probe", args.instance_cpu).remove()
        except CpuLimitUnavailable as exc:
            parser.error(str(exc))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    latency = args.latency_ms / 1000
    options = {
        "sequential_users": args.sequential_users,
        "sequential_seconds": args.sequential_seconds,
    }
    if args.variant:  # a child: one variant, its Result as JSON on the last line
        result = _runner(args.variant)(
            run_variant(
                args.variant,
                args.users,
                latency,
                profile=args.profile,
                server=args.database,
                instances=args.instances,
                instance_cpu=args.instance_cpu,
                **options,
            )
        )
        print(json.dumps(asdict(result)))
        return 0
    # inbox (webhook mode's path) only when asked for: the default run stays the baseline's.
    chosen = args.only or default_variants(args)
    runs: dict[Variant, list[Result]] = {v: [] for v in chosen}
    # The ratios are what counts and this machine's speed drifts: echo and feedbot take
    # turns, and each reports its median run.
    for _ in range(args.repeat):
        for variant in chosen:
            if variant != "sequential" or not runs[variant]:
                runs[variant].append(run_one(variant, args, latency, options))
    results = {variant: median_run(found) for variant, found in runs.items()}
    print(report(results, args.users, args.sequential_seconds, runs))
    return 1 if any(r.problems for r in results.values()) else 0


def _runner(variant: Variant) -> Callable[[Coroutine[Any, Any, Result]], Result]:
    """How a variant's process runs its event loop. The instance variants' load generator
    (fake Bot API, people, load balancer: what stands in for Telegram and its network)
    runs on uvloop like the instances it drives (bot.web.runtime), so that the least of
    the 2 cores goes to the stand-ins; the variants whose bot runs in this process keep
    asyncio's loop, which polling mode runs on."""
    return run_served if variant.startswith("webhook") else asyncio.run


def run_one(
    variant: Variant, args: argparse.Namespace, latency: float, options: dict[str, Any]
) -> Result:
    if args.in_process:
        return asyncio.run(
            run_variant(
                variant,
                args.users,
                latency,
                profile=args.profile,
                server=args.database,
                instances=args.instances,
                instance_cpu=args.instance_cpu,
                **options,
            )
        )
    return run_in_child(variant, args)


def median_run(runs: list[Result]) -> Result:
    """The run with the median answers/s, carrying the worst correctness counters of all."""
    ordered = sorted(runs, key=lambda r: r.answers_per_s)
    chosen = ordered[(len(ordered) - 1) // 2]
    for name in ("lost", "duplicated", "out_of_order", "errors"):
        setattr(chosen, name, max(getattr(r, name) for r in runs))
    chosen.first_error = next((r.first_error for r in runs if r.first_error), None)
    return chosen


if __name__ == "__main__":
    # Errors are counted (ErrorCount) and the first one is shown under the table.
    logging.getLogger().setLevel(logging.ERROR)
    logging.getLogger().addHandler(logging.NullHandler())
    sys.exit(main())
