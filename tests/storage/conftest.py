"""Fixtures for storage tests: a fresh database per test, subjects and sessions."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.db import Database
from storage.models import Session, Subject, SubjectKind
from storage.sessions import start_session
from storage.subjects import add_subject
from surveys.periods import week_key
from surveys.schema import Audience
from tests.backends import backend_params, database_target

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)  # a Wednesday in 2026-W48
SECRET = b"test-secret"

StartSession = Callable[..., Awaitable[Session]]


def pseudonym(telegram_id: int) -> str:
    """What the bot stores instead of a Telegram id."""
    return hmac.new(SECRET, str(telegram_id).encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def now() -> datetime:
    """A fixed moment: Wednesday 2026-11-25 10:30 UTC, in week 2026-W48."""
    return NOW


@pytest.fixture
def secret() -> bytes:
    """The server secret keying invite hashes and pseudonyms."""
    return SECRET


@pytest.fixture
def pseudo() -> Callable[[int], str]:
    """The pseudonym function (HMAC of a Telegram id) the bot uses."""
    return pseudonym


@pytest.fixture(params=backend_params())
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A fresh database on each backend: SQLite in memory, PostgreSQL in its own schema."""
    async with database_target(request.param, ":memory:") as target:
        database = await Database.open(target)
        try:
            yield database
        finally:
            await database.close()


@pytest.fixture
async def sqlite_db() -> AsyncIterator[Database]:
    """An in-memory SQLite database, for tests of what only SQLite has."""
    database = await Database.open(":memory:")
    yield database
    await database.close()


@pytest.fixture
async def file_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "data" / "feedbot.sqlite3")
    yield database
    await database.close()


@pytest.fixture
async def department(db: Database) -> Subject:
    async with db.transaction() as conn:
        return await add_subject(
            conn,
            slug="sales",
            kind=SubjectKind.DEPARTMENT,
            names={"pl": "Sprzedaż", "en": "Sales"},
            survey_id="internal",
            now=NOW,
        )


@pytest.fixture
async def product(db: Database) -> Subject:
    async with db.transaction() as conn:
        return await add_subject(
            conn,
            slug="widget",
            kind=SubjectKind.PRODUCT,
            names={"pl": "Widżet", "en": "Widget"},
            survey_id="external",
            now=NOW,
        )


@pytest.fixture
def start(db: Database) -> StartSession:
    """Start a session for a respondent about a subject (defaults: internal employee)."""

    async def starter(
        respondent_id: int,
        subject: Subject,
        *,
        now: datetime = NOW,
        role: str | None = "employee",
        state_json: str = '{"answers": {}}',
    ) -> Session:
        audience = (
            Audience.INTERNAL if subject.kind is SubjectKind.DEPARTMENT else Audience.EXTERNAL
        )
        async with db.transaction() as conn:
            return await start_session(
                conn,
                respondent_id=respondent_id,
                chat_id=respondent_id,
                survey_id=subject.survey_id,
                survey_version=1,
                subject_id=subject.id,
                audience=audience,
                role=role if audience is Audience.INTERNAL else None,
                state_json=state_json,
                now=now,
                week_key=week_key(now.date()),
            )

    return starter
