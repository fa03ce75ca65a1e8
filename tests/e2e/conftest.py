"""End-to-end fixtures: `feedbot run` as a subprocess, polling a fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storage import invites as invite_repo
from storage import subjects as subject_repo
from storage.db import Database
from storage.models import InviteKind, SubjectKind
from tests.fakes.http_server import BotApiServer
from tests.fakes.records import BotMessage
from tests.fakes.telegram_server import FakeTelegram, FakeUser

TOKEN = "123456:ABC-e2e-token-must-never-be-logged"
SECRET = "e2e-secret-0123456789abcdefghij"
# Starting Python, importing PTB and migrating the database takes about a second; the
# bounds below are hang guards only (a loaded 2-core CI machine can be many times slower).
START_TIMEOUT = 60.0
_STARTING = threading.Lock()
STEP_TIMEOUT = 60.0


def pytest_configure(config: pytest.Config) -> None:
    """Register the e2e marker here, so pyproject.toml stays as it is."""
    config.addinivalue_line(
        "markers", "e2e: runs `feedbot run` as a subprocess against a local fake Bot API"
    )


@dataclass(frozen=True)
class Seeded:
    """What the database holds before the bot first starts."""

    database: Path | str  # a file, or a postgresql:// URL
    subject_ids: dict[str, int]
    employee_invite: str
    buyer_invite: str


async def _seed(database: Path | str) -> Seeded:
    db = await Database.open(database)
    now = datetime.now(UTC)
    try:
        async with db.transaction() as conn:
            subject_ids: dict[str, int] = {}
            for slug, kind, pl, en, survey in [
                ("sales", SubjectKind.DEPARTMENT, "Sprzedaż", "Sales", "internal"),
                (
                    "support",
                    SubjectKind.DEPARTMENT,
                    "Obsługa klienta",
                    "Customer service",
                    "internal",
                ),
                ("coffee", SubjectKind.PRODUCT, "Kawa Poranna", "Morning Coffee", "external"),
            ]:
                subject = await subject_repo.add_subject(
                    conn,
                    slug=slug,
                    kind=kind,
                    names={"pl": pl, "en": en},
                    survey_id=survey,
                    now=now,
                )
                subject_ids[slug] = subject.id
            tokens: dict[InviteKind, str] = {}
            for invite_kind, slug in [(InviteKind.EMPLOYEE, "sales"), (InviteKind.BUYER, "coffee")]:
                _, tokens[invite_kind] = await invite_repo.create_invite(
                    conn,
                    SECRET.encode(),
                    kind=invite_kind,
                    subject_id=subject_ids[slug],
                    role=None,
                    max_uses=None,
                    expires_at=None,
                    created_by=None,
                    now=now,
                )
    finally:
        await db.close()
    return Seeded(database, subject_ids, tokens[InviteKind.EMPLOYEE], tokens[InviteKind.BUYER])


@dataclass
class BotProcess:
    """One `feedbot run` subprocess; stdout and stderr go to its own log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    first_call: int  # index in FakeTelegram.calls of the first call this process made

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine loses power."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STEP_TIMEOUT)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it has not exited within a few seconds; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STEP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


@dataclass
class E2E:
    """The fake Telegram over HTTP, the seeded database and the bot processes run against it."""

    server: BotApiServer
    seeded: Seeded
    home: Path
    bots: list[BotProcess] = field(default_factory=list)

    @property
    def telegram(self) -> FakeTelegram:
        return self.server.fake

    def env(self) -> dict[str, str]:
        """A clean environment: nothing of the developer's feedbot settings leaks in."""
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("FEEDBOT_", "TELEGRAM_"))
            and key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        }
        return {
            **inherited,
            **self.server.env,
            "HOME": str(self.home),
            "PYTHONUNBUFFERED": "1",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "FEEDBOT_SECRET": SECRET,
            "FEEDBOT_DATABASE": str(self.seeded.database),
            "FEEDBOT_LOG_LEVEL": "INFO",
        }

    def start_bot(
        self,
        args: tuple[str, ...] = ("run",),
        *,
        env: dict[str, str] | None = None,
        ready: str = "getUpdates",
    ) -> BotProcess:
        """Start `feedbot run` and wait until it long-polls for updates (or makes the
        `ready` call, e.g. setWebhook); `env` adds settings."""
        with _STARTING:  # bots started from several threads at once get a log each
            run = len(self.bots) + 1
            log_path = self.home / f"bot-run-{run}.log"
            with self.telegram.lock:
                first_call = len(self.telegram.calls)
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "bot.cli", *args],
                    cwd=self.home,
                    env={**self.env(), **(env or {})},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            bot = BotProcess(process, log_path, first_call)
            self.bots.append(bot)

        def polling_or_exited() -> bool:
            with self.telegram.lock:
                calls = self.telegram.calls[first_call:]
            return process.poll() is not None or any(c.method == ready for c in calls)

        try:
            poll_until(polling_or_exited, f"the bot to call {ready}", START_TIMEOUT)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its log:\n{bot.log}") from None
        if process.poll() is not None:
            raise AssertionError(f"feedbot run exited with {process.returncode}:\n{bot.log}")
        return bot

    def calls_of(self, bot: BotProcess, method: str) -> list[dict[str, Any]]:
        """Parameters of the calls of `method` this bot process made, in order."""
        with self.telegram.lock:
            end = next(
                (b.first_call for b in self.bots if b.first_call > bot.first_call),
                len(self.telegram.calls),
            )
            return [
                c.params for c in self.telegram.calls[bot.first_call : end] if c.method == method
            ]

    def user(self, user_id: int, name: str) -> FakeUser:
        return self.telegram.user(user_id, name, language_code="en")

    def expect(self, user: FakeUser, text: str, timeout: float = STEP_TIMEOUT) -> BotMessage:
        """Wait until the bot's latest message to `user` contains `text`; return it."""

        def arrived() -> bool:
            messages = self.telegram.messages(user.id)
            return bool(messages) and text in messages[-1].text

        self.telegram.wait_for(
            arrived,
            timeout,
            lambda: f"{text!r} in chat {user.id}; it reads:\n{self.telegram.transcript(user.id)}",
        )
        return self.telegram.last_message(user.id)

    def wait_for_db(
        self, predicate: Callable[[], object], what: str, timeout: float = STEP_TIMEOUT
    ) -> None:
        """Wait for a commit the bot announces to nobody (e.g. a remembered message id)."""
        poll_until(predicate, what, timeout)

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        """Rows from the bot's database, read through a read-only connection."""
        uri = f"file:{self.seeded.database}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            return [tuple(row) for row in conn.execute(sql, params)]


def poll_until(predicate: Callable[[], object], what: str, timeout: float = STEP_TIMEOUT) -> None:
    """Check predicate() every 10 ms until it holds, AssertionError after timeout.

    For what FakeTelegram.wait_for cannot see: database commits, a process exiting,
    and calls that change no state (a getUpdates waiting does not wake wait_for)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def e2e(tmp_path: Path) -> Iterator[E2E]:
    """A fake Telegram on 127.0.0.1, a seeded database; bots started by the test are
    always killed afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    seeded = asyncio.run(_seed(tmp_path / "feedbot.sqlite3"))
    server = BotApiServer(FakeTelegram(token=TOKEN)).start()
    world = E2E(server, seeded, home)
    try:
        yield world
    finally:
        # ExitStack runs every callback even when one raises: each bot is killed, and
        # the server stops last.
        with ExitStack() as cleanup:
            cleanup.callback(server.stop)
            for bot in world.bots:
                cleanup.callback(bot.kill)
