"""Flow-test fixtures: the real Application over an in-process fake Bot API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_application
from bot.config import Settings, load_settings
from bot.context import FeedbotApplication
from bot.services import Services
from storage import invites as invite_repo
from storage import subjects as subject_repo
from storage.models import InviteKind, MemberRole, Subject, SubjectKind
from tests.backends import backend_params, database_target
from tests.fakes.request import FakeRequest, deliver
from tests.fakes.telegram_server import FakeTelegram, FakeUser

ADMIN_ID = 1000
SECRET = "test-secret-0123456789abcdef"


@dataclass
class Clock:
    """A clock tests move by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class BotWorld:
    """The running bot, the fake Telegram around it and helpers to seed and read."""

    app: FeedbotApplication
    telegram: FakeTelegram
    clock: Clock
    settings: Settings
    subjects: dict[str, Subject] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        return self.app.services

    async def deliver(self) -> int:
        """Process every update the fake users queued, in order."""
        return await deliver(self.app, self.telegram)

    def user(self, user_id: int, name: str = "Ala", lang: str = "en") -> FakeUser:
        return self.telegram.user(user_id, name, language_code=lang)

    async def invite(
        self,
        kind: InviteKind,
        slug: str | None = None,
        *,
        role: MemberRole | None = None,
        max_uses: int | None = None,
        expires_in: timedelta | None = None,
    ) -> str:
        """A fresh invite token, as an admin would create one."""
        services = self.services
        subject_id = self.subjects[slug].id if slug else None
        async with services.db.transaction() as conn:
            _, token = await invite_repo.create_invite(
                conn,
                services.secret,
                kind=kind,
                subject_id=subject_id,
                role=role,
                max_uses=max_uses,
                expires_at=services.now() + expires_in if expires_in else None,
                created_by=ADMIN_ID,
                now=services.now(),
            )
        return token

    async def session_states(self) -> list[dict[str, Any]]:
        """The engine state of every session, oldest first."""
        rows = await self.rows("SELECT state_json FROM sessions ORDER BY id")
        return [json.loads(state) for (state,) in rows]

    async def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        """Rows from the bot's database, for asserting what landed there."""
        async with self.services.db.conn.execute(sql, params) as cursor:
            return [tuple(r) for r in await cursor.fetchall()]


async def start_world(
    tmp_path: Path,
    clock: Clock,
    telegram: FakeTelegram | None = None,
    seed: bool = True,
    *,
    database: str | None = None,
    inbox: bool = False,
) -> BotWorld:
    """Build and start the application on a database file in tmp_path (or `database`:
    a PostgreSQL URL); `inbox`: as webhook mode builds it."""
    settings = load_settings(
        None,
        TELEGRAM_BOT_TOKEN="123456:TEST-token",
        FEEDBOT_SECRET=SECRET,
        FEEDBOT_DATABASE=database or str(tmp_path / "bot.sqlite3"),
        FEEDBOT_ADMINS=str(ADMIN_ID),
        FEEDBOT_TIMEZONE="Europe/Warsaw",
    )
    telegram = telegram or FakeTelegram(token="123456:TEST-token")
    app = build_application(
        settings,
        request=FakeRequest(telegram),
        clock=clock,
        rate_limiter=False,
        schedule_jobs=False,
        inbox=inbox,
    )
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    world = BotWorld(app=app, telegram=telegram, clock=clock, settings=settings)
    db = world.services.db
    if seed:
        async with db.transaction() as conn:
            for slug, kind, pl, en, survey in [
                ("sales", SubjectKind.DEPARTMENT, "Sprzedaż", "Sales", "internal"),
                (
                    "support",
                    SubjectKind.DEPARTMENT,
                    "Obsługa klienta",
                    "Customer service",
                    "internal",
                ),
                ("marketing", SubjectKind.DEPARTMENT, "Marketing", "Marketing", "internal"),
                ("coffee", SubjectKind.PRODUCT, "Kawa Poranna", "Morning Coffee", "external"),
            ]:
                await subject_repo.add_subject(
                    conn,
                    slug=slug,
                    kind=kind,
                    names={"pl": pl, "en": en},
                    survey_id=survey,
                    now=clock(),
                )
    for subject in await subject_repo.list_subjects(db.conn):
        world.subjects[subject.slug] = subject
    return world


async def stop_world(world: BotWorld) -> None:
    """Shut the application down the way run_polling does."""
    assert world.app.post_shutdown is not None
    await world.app.post_shutdown(world.app)
    await world.app.shutdown()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=backend_params())
async def world(
    tmp_path: Path, clock: Clock, request: pytest.FixtureRequest
) -> AsyncIterator[BotWorld]:
    """A started bot with three departments and one product, on each backend."""
    async with database_target(request.param, str(tmp_path / "bot.sqlite3")) as target:
        started = await start_world(tmp_path, clock, database=target)
        try:
            yield started
        finally:
            await stop_world(started)
