"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright.

Opened as Telegram opens a Mini App (signed initData and the theme in the URL fragment),
the page signs in by itself, shows the digest's numbers, opens a subject, switches
language, fits a 360 px phone, and requests nothing from any other host. Screenshots go
to the test's folder, or with FEEDBOT_SCREENSHOTS=docs/img to docs/dashboard.md's pictures.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import uvicorn

from bot.web.data import subject_digest
from bot.web.pages import score_text
from storage import dashboard as dashboard_repo
from tests.web.support import ADMIN, DOTS, OTHER_OWNER, OWNER, World, init_data

CHROMIUM = Path("/usr/bin/chromium")
# Screenshots go to the test's own folder; FEEDBOT_SCREENSHOTS=docs/img renews docs/dashboard.md's.
SCREENSHOTS = os.environ.get("FEEDBOT_SCREENSHOTS")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DARK = {
    "bg_color": "#17212b",
    "text_color": "#f5f5f5",
    "hint_color": "#708499",
    "link_color": "#6ab3f3",
    "button_color": "#5288c1",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#232e3c",
}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def served(world: World) -> AsyncIterator[str]:
    """The dashboard on a real socket, served by uvicorn in the test's own event loop."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    world.services.settings = world.services.settings.model_copy(update={"public_url": base})
    server = uvicorn.Server(
        uvicorn.Config(world.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started
    try:
        yield base
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def test_owner_opens_the_mini_app(world: World, served: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    digest = await subject_digest(world.services, world.subjects["sales"])
    assert digest.headline is not None
    expected = score_text(digest.headline.estimate, digest.headline.kind, "en")
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    hosts: set[str] = set()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            phone = await browser.new_page(viewport={"width": 360, "height": 740})
            phone.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
            fragment = (
                f"tgWebAppData={quote(init_data(OWNER))}&tgWebAppVersion=8.0"
                f"&tgWebAppThemeParams={quote(json.dumps(DARK))}"
            )
            await phone.goto(f"{served}/dashboard/#{fragment}")
            await phone.wait_for_selector("table.overview", timeout=30_000)
            row = phone.locator('tr[data-slug="sales"] .headline-value')
            assert await row.inner_text() == expected
            await phone.click('tr[data-slug="sales"] a')
            await phone.wait_for_selector("#headline-value", timeout=30_000)
            assert await phone.inner_text("#headline-value") == expected
            assert await phone.inner_text("#responses") == str(digest.counts.completed)
            assert "2026-W48" in await phone.inner_text("#period")
            assert await phone.locator("svg.trend circle.dot").count() == DOTS
            width = await phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 360
            background = await phone.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(23, 33, 43)"  # Telegram's dark theme from themeParams
            await phone.screenshot(path=str(shots / "dashboard-phone.png"))

            await phone.click("#switch-lang")
            await phone.wait_for_selector('html[lang="pl"]', state="attached", timeout=30_000)
            assert await phone.inner_text("#subject-name") == "Sprzedaż"
            await phone.click("#weeks-52")
            await phone.wait_for_selector("#weeks-52.active", timeout=30_000)

            desktop = await browser.new_page(viewport={"width": 1200, "height": 900})
            desktop.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
            await desktop.goto(f"{served}/dashboard/#tgWebAppData={quote(init_data(OWNER))}")
            await desktop.wait_for_selector("table.overview", timeout=30_000)
            await desktop.goto(f"{served}/dashboard/s/sales")
            await desktop.wait_for_selector("#headline-value", timeout=30_000)
            assert await desktop.inner_text("#headline-value") == expected
            await desktop.screenshot(path=str(shots / "dashboard-desktop.png"))

            admin = await browser.new_page(viewport={"width": 1000, "height": 800})
            admin.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
            await admin.goto(f"{served}/dashboard/#tgWebAppData={quote(init_data(ADMIN))}")
            await admin.wait_for_selector("table.overview", timeout=30_000)
            assert await admin.locator("tr.subject-row").count() == 3
            await admin.goto(f"{served}/dashboard/admin/invites")
            await admin.select_option("select[name=target]", "product:kettle")
            await admin.click("form.stack button")
            await admin.wait_for_selector("#created svg", timeout=30_000)
            assert (await admin.inner_text("#created-link")).startswith("https://t.me/")
            await admin.locator("#created").screenshot(path=str(shots / "dashboard-qr.png"))

            # Outside Telegram: a one-time login link, in a browser with no session yet.
            async with world.services.db.transaction() as conn:
                token = await dashboard_repo.create_link(
                    conn, world.services.secret, OTHER_OWNER, now=world.services.now()
                )
            context = await browser.new_context()
            outside = await context.new_page()
            outside.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
            await outside.goto(f"{served}/dashboard/login/{token}")
            await outside.wait_for_selector("table.overview", timeout=30_000)
            assert await outside.locator("tr.subject-row").count() == 1  # the kettle only
            cookie = next(c for c in await context.cookies() if c["name"] == "feedbot_dashboard")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            await context.close()

            await desktop.goto(f"{served}/dashboard/s/ops")
            assert await desktop.locator("#withheld").count() == 1
            assert await desktop.locator("#headline-value").count() == 0
        finally:
            await browser.close()
    assert hosts == {urlsplit(served).netloc}
    for name in ("dashboard-phone.png", "dashboard-desktop.png", "dashboard-qr.png"):
        assert (shots / name).stat().st_size > 10_000
