"""A recurring job wrapped by bot.periodic runs once per period, in whichever of two
instances sharing one PostgreSQL database claims the period first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bot.config import load_settings
from bot.periodic import once_per_period
from bot.services import Services
from storage import schedule
from storage.db import Database
from surveys.loader import SurveyCatalog
from tests.backends import POSTGRES_ON, postgres_url

pytestmark = pytest.mark.skipif(not POSTGRES_ON, reason="FEEDBOT_TEST_POSTGRES=off")

START = datetime(2026, 11, 30, 13, 40, 5, tzinfo=UTC)


@pytest.fixture
async def instances() -> AsyncIterator[list[Database]]:
    async with postgres_url() as url:
        pair = [await Database.open(url), await Database.open(url)]
        try:
            yield pair
        finally:
            for db in pair:
                await db.close()


async def test_two_instances_run_a_ten_minute_job_once_per_ten_minutes(
    instances: list[Database],
) -> None:
    clock = {"now": START}
    settings = load_settings(env_file=None, FEEDBOT_SECRET="periodic-secret-0123456789abcdef")
    catalog = SurveyCatalog.from_folders(None)
    contexts: list[Any] = [
        # What the job sees of a FeedbotContext: the instance's Services.
        SimpleNamespace(
            services=Services(settings=settings, db=db, surveys=catalog, clock=lambda: clock["now"])
        )
        for db in instances
    ]
    runs: list[datetime] = []

    async def job(context: Any) -> None:
        runs.append(clock["now"])

    wrapped = once_per_period("reminders", 600, job)
    # Each instance's job queue fires every ten minutes from its own start: twice within
    # the first period between them, once in each of the next two.
    for offset in (0, 290, 600, 1190):
        clock["now"] = START + timedelta(seconds=offset)
        await asyncio.gather(*(wrapped(context) for context in contexts))

    assert runs == [START, START + timedelta(seconds=600)]
    periods = [period for period, _ in await schedule.runs(instances[0].conn, "reminders")]
    assert periods == ["2026-11-30T13:40:00Z/600s", "2026-11-30T13:50:00Z/600s"]
