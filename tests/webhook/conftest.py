"""Fixtures for the bot's HTTP side: the real Application behind the Starlette app, called
in-process through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.inbox import InboxReceiver, InboxWorker
from bot.web.health import database_check, health_routes
from bot.web.server import build_asgi
from bot.web.webhook import SECRET_HEADER, webhook_routes
from storage import inbox as inbox_repo
from tests.bot.conftest import BotWorld, Clock, start_world, stop_world
from tests.fakes.records import JSONDict

WEBHOOK_PATH = "/telegram/hook"
WEBHOOK_SECRET = "webhook-secret-0123456789_abc-XYZ"
MAX_BODY = 64 * 1024


@dataclass
class Hooked:
    """A bot fed through its webhook: post what the fake users queued, see what happens."""

    world: BotWorld
    worker: InboxWorker
    client: httpx.AsyncClient

    async def post(
        self, body: bytes | str | JSONDict, *, secret: str | None = WEBHOOK_SECRET
    ) -> httpx.Response:
        headers = {} if secret is None else {SECRET_HEADER: secret}
        if isinstance(body, dict):
            body = json.dumps(body)
        return await self.client.post(WEBHOOK_PATH, content=body, headers=headers)

    async def post_queued(self) -> list[JSONDict]:
        """Post every update the fake users queued, as Telegram would; return them."""
        updates = self.world.telegram.pending_updates()
        for update in updates:
            response = await self.post(update)
            assert response.status_code == 200, response.text
        return updates

    async def settle(self, within: float = 60.0) -> None:
        """Wait until the worker applied everything stored."""
        deadline = time.monotonic() + within
        while await inbox_repo.pending(self.world.services.db.conn) or self.worker.in_flight:
            assert time.monotonic() < deadline, "the inbox was not drained"
            await asyncio.sleep(0.01)

    async def deliver(self) -> None:
        """Post what is queued and wait until it is applied (BotWorld.deliver's stand-in)."""
        await self.post_queued()
        await self.settle()


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[Hooked]:
    world = await start_world(tmp_path, Clock(), inbox=True)
    services = world.services
    worker = InboxWorker(world.app, services.db, lease=30, clock=services.now, idle_poll=0.05)
    receiver = InboxReceiver(services.db, services.now, worker)
    routes = health_routes(database_check(services.db))
    routes += webhook_routes(WEBHOOK_PATH, WEBHOOK_SECRET, receiver, max_body=MAX_BODY)
    asgi = build_asgi(routes)
    worker.start()
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        yield Hooked(world, worker, client)
    await worker.stop()
    await stop_world(world)
