"""Which message carries a session's keyboard when two instances take turns answering
one respondent: the later question's, whichever instance sent it (the stored one when
the other instance sent it, this process's own while its note is not committed)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.services import Services
from storage.db import Database
from storage.models import SubjectKind
from storage.sessions import get_session, start_session
from storage.subjects import add_subject
from surveys.loader import SurveyCatalog
from surveys.schema import Audience
from tests.backends import backend_params, database_target

NOW = datetime(2026, 11, 30, 10, tzinfo=UTC)


@pytest.fixture(params=backend_params())
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[Services]]:
    """Two instances' Services on one database."""
    settings = load_settings(env_file=None, FEEDBOT_SECRET="keyboard-secret-0123456789abcdef")
    catalog = SurveyCatalog.from_folders(None)
    async with database_target(request.param, str(tmp_path / "feedbot.sqlite3")) as target:
        dbs = [await Database.open(target), await Database.open(target)]
        try:
            yield [Services(settings=settings, db=db, surveys=catalog) for db in dbs]
        finally:
            for db in dbs:
                await db.close()


async def test_the_other_instances_later_question_is_the_one_whose_keyboard_is_current(
    pair: list[Services],
) -> None:
    first, second = pair
    async with first.db.transaction() as conn:
        subject = await add_subject(
            conn,
            slug="shop",
            kind=SubjectKind.PRODUCT,
            names={"en": "Shop"},
            survey_id="external",
            now=NOW,
        )
        session = await start_session(
            conn,
            respondent_id=7,
            chat_id=7,
            survey_id="external",
            survey_version=1,
            subject_id=subject.id,
            audience=Audience.EXTERNAL,
            role=None,
            state_json="{}",
            now=NOW,
            week_key="2026-W49",
        )

    async def sent(services: Services, message_id: int, state: str) -> None:
        # What a handler does after sending a question: note it in memory and queue it.
        services.note_keyboard(session.id, message_id)
        services.prompts.shown(dataclasses.replace(session, state_json=state), message_id)

    async def current(services: Services) -> int | None:
        stored = await get_session(services.db.conn, session.id)
        assert stored is not None
        return services.keyboard_of(session.id, stored.message_id)

    await sent(first, 10, '{"a": 1}')
    await first.prompts.flush()
    assert await current(first) == await current(second) == 10
    # The next answer went to the second instance, which sent the next question.
    await sent(second, 12, '{"a": 2}')
    await second.prompts.flush()
    assert await current(first) == await current(second) == 12  # not the first's memory
    # The first instance sends the next one; its note is not committed yet.
    await sent(first, 14, '{"a": 3}')
    assert await current(first) == 14
    await first.prompts.flush()
    assert await current(second) == 14
