"""The dashboard from the chat: /dashboard, the button under a digest, the menu button,
and /invite's QR code; the login link it gives opens a session once."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.web import qr
from bot.web.dashboard import dashboard_routes
from bot.web.server import build_asgi_app
from storage.models import InviteKind
from tests.bot.conftest import ADMIN_ID, BotWorld, Clock, start_world, stop_world
from tests.web.support import is_dark

PUBLIC = "https://feedback.example.com"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    started = await start_world(tmp_path, Clock())
    started.services.settings = started.settings.model_copy(update={"public_url": PUBLIC})
    yield started
    await stop_world(started)


def _web_apps(markup: dict[str, Any] | None) -> list[str]:
    rows = (markup or {}).get("inline_keyboard", [])
    return [b["web_app"]["url"] for row in rows for b in row if "web_app" in b]


async def test_owner_gets_the_button_a_login_link_and_the_menu_button(world: BotWorld) -> None:
    owner = world.user(720, "Ewa")
    owner.send_command("/start", await world.invite(InviteKind.OWNER, "sales", max_uses=1))
    await world.deliver()
    assert world.telegram.menu_buttons[720] == {
        "type": "web_app",
        "text": "Dashboard",
        "web_app": {"url": f"{PUBLIC}/dashboard/"},
    }
    owner.send_command("/digest")
    await world.deliver()
    assert _web_apps(owner.last_message().reply_markup) == [f"{PUBLIC}/dashboard/s/sales"]

    owner.send_command("/dashboard")
    await world.deliver()
    sent = owner.last_message()
    assert _web_apps(sent.reply_markup) == [f"{PUBLIC}/dashboard/"]
    link = next(w for w in sent.text.split() if w.startswith(f"{PUBLIC}/dashboard/login/"))
    app = build_asgi_app(world.services, dashboard_routes(world.services))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
        assert (await http.get(link.removeprefix(PUBLIC))).status_code == 200
        opened = await http.post(link.removeprefix(PUBLIC))
        assert opened.status_code == 303
        assert "secure" in opened.headers["set-cookie"].lower()  # https public URL
        home = await http.get("/dashboard/")
        assert home.status_code == 200 and "Sales" in home.text and "Marketing" not in home.text
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as again:
        assert (await again.post(link.removeprefix(PUBLIC))).status_code == 401


async def test_dashboard_command_is_for_owners_and_admins(world: BotWorld) -> None:
    stranger = world.user(721)
    stranger.send_command("/dashboard")
    await world.deliver()
    assert "/dashboard/login/" not in stranger.last_message().text
    admin = world.user(ADMIN_ID, "Admin")
    admin.send_command("/dashboard")
    await world.deliver()
    assert f"{PUBLIC}/dashboard/login/" in admin.last_message().text


async def test_without_public_url_there_is_no_button(world: BotWorld) -> None:
    world.services.settings = world.settings
    owner = world.user(722, "Ewa")
    owner.send_command("/start", await world.invite(InviteKind.OWNER, "sales", max_uses=1))
    await world.deliver()
    assert 722 not in world.telegram.menu_buttons
    owner.send_command("/digest")
    await world.deliver()
    assert _web_apps(owner.last_message().reply_markup) == []
    owner.send_command("/dashboard")
    await world.deliver()
    assert "FEEDBOT_PUBLIC_URL" in owner.last_message().text


async def test_invite_in_chat_sends_its_qr_code(world: BotWorld) -> None:
    admin = world.user(ADMIN_ID, "Admin")
    admin.send_text("/invite buyer coffee")
    await world.deliver()
    messages = admin.messages()
    photo, text = messages[-2], messages[-1]
    link = next(w for w in text.text.split() if w.startswith("https://t.me/"))
    assert photo.photo is not None and photo.photo.content is not None
    image = Image.open(io.BytesIO(photo.photo.content)).convert("L")
    code = qr.make(link)
    size = len(code.matrix)
    offset = (image.width - (size + 2 * qr.BORDER) * qr.SCALE) // 2
    matrix = [
        [
            is_dark(
                image, (offset + (qr.BORDER + c) * qr.SCALE + 5, (qr.BORDER + r) * qr.SCALE + 5)
            )
            for c in range(size)
        ]
        for r in range(size)
    ]
    assert matrix == [[bool(v) for v in row] for row in code.matrix]
    assert json.dumps(photo.caption)  # the caption says what it is
