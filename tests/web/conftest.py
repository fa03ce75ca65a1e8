"""Dashboard fixtures: the world of tests/web/support.py on a fresh in-memory database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.db import Database
from tests.web.support import World, make_world


@pytest.fixture
async def world() -> AsyncIterator[World]:
    db = await Database.open(":memory:")
    try:
        yield await make_world(db)
    finally:
        await db.close()
