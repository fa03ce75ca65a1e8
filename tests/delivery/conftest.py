"""Delivery fixtures: the flow-test world of tests/bot/conftest.py on a Wednesday of 2026-W48."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.delivery.support import WEDNESDAY, BotWorld, Clock, start_world, stop_world


@pytest.fixture
def clock() -> Clock:
    return Clock(WEDNESDAY)


@pytest.fixture
async def world(tmp_path: Path, clock: Clock) -> AsyncIterator[BotWorld]:
    """A started bot with three departments (sales, support, marketing) and a product."""
    started = await start_world(tmp_path, clock)
    yield started
    await stop_world(started)
