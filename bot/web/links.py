"""Where the dashboard is reached: its URLs, one-time login links and Telegram's web_app buttons."""

from __future__ import annotations

from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MenuButtonWebApp, WebAppInfo

from bot.config import Settings
from bot.i18n import plain
from storage import dashboard as dashboard_repo
from storage.db import Database

BASE = "/dashboard"


def dashboard_url(settings: Settings, path: str = "/") -> str | None:
    """An address of the dashboard (None when it is off: FEEDBOT_PUBLIC_URL unset)."""
    if settings.public_url is None:
        return None
    return f"{settings.public_url}{BASE}{path}"


async def login_link(
    db: Database, settings: Settings, secret: bytes, telegram_id: int, *, now: datetime
) -> str | None:
    """A one-time login link for a browser outside Telegram, valid 10 minutes (None: off)."""
    base = dashboard_url(settings, "/login/")
    if base is None:
        return None
    async with db.transaction() as conn:
        token = await dashboard_repo.create_link(conn, secret, telegram_id, now=now)
    return base + token


def dashboard_keyboard(
    settings: Settings, lang: str, slug: str | None = None
) -> InlineKeyboardMarkup | None:
    """The "📊 Dashboard" web_app button (on a subject's page when `slug` is given)."""
    url = dashboard_url(settings, f"/s/{slug}" if slug else "/")
    if url is None:
        return None
    button = InlineKeyboardButton(plain(lang, "dashboard.button"), web_app=WebAppInfo(url))
    return InlineKeyboardMarkup([[button]])


def menu_button(settings: Settings, lang: str) -> MenuButtonWebApp | None:
    """The chat menu button opening the dashboard (None when it is off)."""
    url = dashboard_url(settings)
    if url is None:
        return None
    return MenuButtonWebApp(plain(lang, "dashboard.menu_button"), WebAppInfo(url))
