"""Telegram Web's case in a real browser: the dashboard framed by a page of another site.

A tiny page served from http://localhost:PORT1 (standing in for web.telegram.org) frames
the dashboard at http://127.0.0.1:PORT2 with signed initData in the fragment, as Telegram
Web does. Inside the frame the user signs in and opens a subject. With the login link's
SameSite=Strict cookie the framed session is lost at once (checked, by swapping the
Mini App's cookie for the Strict one); with SameSite=None; Secure; Partitioned it holds.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from bot.web import auth
from tests.web.support import OWNER, World, init_data

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def _serving(app: Starlette, host: str, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def _telegram_web(dashboard: str) -> Starlette:
    """The framing page: the dashboard in an iframe, initData in its fragment."""

    async def index(request: Request) -> HTMLResponse:
        src = f"{dashboard}/dashboard/#tgWebAppData={quote(init_data(OWNER))}&tgWebAppVersion=8.0"
        return HTMLResponse(
            f'<!doctype html><title>Telegram Web</title><iframe id="app" src="{src}"'
            ' width="400" height="700"></iframe>'
        )

    return Starlette(routes=[Route("/", index)])


def _strict(token: str, max_age: int) -> str:
    """The cookie Mini App sessions had before: the login link's, SameSite=Strict."""
    return f"{auth.COOKIE}={token}; HttpOnly; Max-Age={max_age}; Path={auth.BASE}; SameSite=Strict"


@pytest.mark.parametrize("strict", [False, True], ids=["partitioned", "old-strict"])
async def test_signs_in_and_navigates_inside_a_cross_site_frame(
    world: World, monkeypatch: pytest.MonkeyPatch, strict: bool
) -> None:
    from playwright.async_api import async_playwright

    if strict:
        cookie: Callable[[str, int], str] = _strict
        monkeypatch.setattr(auth, "framed_cookie", cookie)
    port, outer_port = _free_port(), _free_port()
    dashboard = f"http://127.0.0.1:{port}"
    world.services.settings = world.services.settings.model_copy(update={"public_url": dashboard})
    async with (
        _serving(world.app, "127.0.0.1", port),
        _serving(_telegram_web(dashboard), "127.0.0.1", outer_port),
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            homes: list[int] = []
            page.on(
                "response",
                lambda r: homes.append(r.status) if r.url == f"{dashboard}/dashboard/" else None,
            )
            await page.goto(f"http://localhost:{outer_port}/")
            frame = page.frame_locator("#app")
            if strict:
                # Signed in (204), sent on to the home page, which gets no cookie: 401.
                for _ in range(1500):
                    if len(homes) >= 2:
                        break
                    await asyncio.sleep(0.02)
                assert homes[:2] == [401, 401]
                assert await frame.locator("table.overview").count() == 0
                return
            await frame.locator("table.overview").wait_for(timeout=30_000)
            await frame.locator('tr[data-slug="sales"] a').click()
            await frame.locator("#headline-value").wait_for(timeout=30_000)
            assert await frame.locator("#subject-name").inner_text() == "Sales"
            # Kept over http: Chromium counts 127.0.0.1 as a secure context. Partitioned:
            # in the jar of the framing site only.
            found = [c for c in await page.context.cookies() if c["name"] == auth.COOKIE]
            assert len(found) == 1
            assert found[0]["sameSite"] == "None" and found[0]["secure"] and found[0]["httpOnly"]
            assert dict(found[0]).get("partitionKey") == "http://localhost"
        finally:
            await browser.close()
