"""The dashboard's chat menu button at start-up: every owner and admin gets it once (not
at every start), again when FEEDBOT_PUBLIC_URL changes, and a former owner gets
Telegram's default button back. Through the fake Bot API, on each storage backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import MENU_SYNC_KEY, build_application
from bot.config import load_settings
from bot.context import FeedbotApplication
from storage import owners as owner_repo
from storage import subjects as subject_repo
from storage.models import SubjectKind
from tests.backends import backend_params, database_target
from tests.bot.conftest import ADMIN_ID, SECRET, Clock
from tests.fakes.request import FakeRequest
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "123456:TEST-token"
OWNERS = (501, 502, 503)


def _menu_calls(telegram: FakeTelegram) -> list[int]:
    """The chats setChatMenuButton was called for since the last clear_calls."""
    return sorted(int(call.params["chat_id"]) for call in telegram.calls_of("setChatMenuButton"))


async def _start(
    telegram: FakeTelegram, database: str, public_url: str | None
) -> FeedbotApplication:
    """Start the bot as the runner does (post_init) and wait for its menu-button task."""
    env = {"FEEDBOT_PUBLIC_URL": public_url} if public_url else {}
    settings = load_settings(
        None,
        TELEGRAM_BOT_TOKEN=TOKEN,
        FEEDBOT_SECRET=SECRET,
        FEEDBOT_DATABASE=database,
        FEEDBOT_ADMINS=str(ADMIN_ID),
        FEEDBOT_TIMEZONE="Europe/Warsaw",
        **env,
    )
    app = build_application(
        settings,
        request=FakeRequest(telegram),
        clock=Clock(),
        rate_limiter=False,
        schedule_jobs=False,
    )
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    await asyncio.wait_for(app.bot_data[MENU_SYNC_KEY], 60)
    return app


async def _stop(app: FeedbotApplication) -> None:
    assert app.post_shutdown is not None
    await app.post_shutdown(app)
    await app.shutdown()


@pytest.mark.parametrize("backend", backend_params())
async def test_menu_buttons_at_start_up(tmp_path: Path, backend: str) -> None:
    telegram = FakeTelegram(token=TOKEN)
    async with database_target(backend, str(tmp_path / "bot.sqlite3")) as database:
        # Owners from before the dashboard was on: no menu button for anyone.
        app = await _start(telegram, database, None)
        services = app.services
        async with services.db.transaction() as conn:
            sales = await subject_repo.add_subject(
                conn,
                slug="sales",
                kind=SubjectKind.DEPARTMENT,
                names={"en": "Sales"},
                survey_id="internal",
                now=services.now(),
            )
            for owner in OWNERS:
                await owner_repo.add_owner(conn, owner, sales.id, now=services.now())
        await _stop(app)
        assert _menu_calls(telegram) == []

        # The dashboard switched on: every owner and the admin, once.
        first = "https://feedback.example.com"
        await _stop(await _start(telegram, database, first))
        assert _menu_calls(telegram) == sorted((*OWNERS, ADMIN_ID))
        for chat in (*OWNERS, ADMIN_ID):
            assert telegram.menu_buttons[chat]["web_app"] == {"url": f"{first}/dashboard/"}

        # The next start sends none.
        telegram.clear_calls()
        await _stop(await _start(telegram, database, first))
        assert _menu_calls(telegram) == []

        # A new public URL: all again; an owner removed meanwhile gets the default back.
        app = await _start(telegram, database, first)
        services = app.services
        async with services.db.transaction() as conn:
            assert await owner_repo.remove_owner(conn, OWNERS[0], sales.id)
        await _stop(app)
        telegram.clear_calls()
        second = "https://dash.example.org"
        await _stop(await _start(telegram, database, second))
        assert _menu_calls(telegram) == sorted((*OWNERS, ADMIN_ID))
        assert telegram.menu_buttons[OWNERS[0]]["type"] == "default"
        for chat in (*OWNERS[1:], ADMIN_ID):
            assert telegram.menu_buttons[chat]["web_app"] == {"url": f"{second}/dashboard/"}

        # The dashboard switched off: everyone's button back to the default, once.
        telegram.clear_calls()
        await _stop(await _start(telegram, database, None))
        assert _menu_calls(telegram) == sorted((*OWNERS[1:], ADMIN_ID))
        assert all(telegram.menu_buttons[c]["type"] == "default" for c in (*OWNERS, ADMIN_ID))
        telegram.clear_calls()
        await _stop(await _start(telegram, database, None))
        assert _menu_calls(telegram) == []
