"""Delivery fixtures: the flow-test world of tests/bot/conftest.py on a Wednesday of 2026-W48."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends import backend_params, database_target
from tests.delivery.support import WEDNESDAY, BotWorld, Clock, start_world, stop_world


@pytest.fixture
def clock() -> Clock:
    return Clock(WEDNESDAY)


@pytest.fixture(params=backend_params())
async def world(
    tmp_path: Path, clock: Clock, request: pytest.FixtureRequest
) -> AsyncIterator[BotWorld]:
    """A started bot with three departments (sales, support, marketing) and a product,
    on each backend."""
    async with database_target(request.param, str(tmp_path / "bot.sqlite3")) as target:
        started = await start_world(tmp_path, clock, database=target)
        try:
            yield started
        finally:
            await stop_world(started)
