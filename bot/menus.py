"""Which commands each user may use, and the per-chat command menu Telegram shows them."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot.i18n import plain
from bot.services import Services
from storage import members as member_repo
from storage import owners as owner_repo

log = logging.getLogger(__name__)

EVERYONE = ("start", "help", "lang", "cancel")
MEMBER = ("evaluate", "pulses")
OWNER = ("digest", "export", "subjects", "settings", "dashboard")
ADMIN = ("invite", "departments", "products", "adddepartment", "addproduct")
ALL_COMMANDS = EVERYONE + MEMBER + OWNER + ADMIN


async def allowed_commands(services: Services, telegram_id: int) -> list[str]:
    """The commands this user may use: everyone's, plus members', owners', admins'."""
    conn = services.db.conn
    allowed = list(EVERYONE)
    if await member_repo.get_member(conn, telegram_id) is not None:
        allowed += MEMBER
    if await owner_repo.list_owned_subjects(conn, telegram_id):
        allowed += OWNER
    if services.is_admin(telegram_id):
        allowed += ADMIN
        if "dashboard" not in allowed:
            allowed.append("dashboard")
    if not services.settings.dashboard_on:
        allowed = [c for c in allowed if c != "dashboard"]
    return allowed


async def refresh_menu(bot: Bot, services: Services, telegram_id: int, lang: str) -> None:
    """Show this user exactly their commands in Telegram's menu (best effort).

    The default menu lists everyone's commands; members, owners and admins get a menu
    of their own chat, in their language, when their role changes.
    """
    commands = await allowed_commands(services, telegram_id)
    if list(commands) == list(EVERYONE):
        return
    if "dashboard" in commands:
        await _dashboard_menu_button(bot, services, telegram_id, lang)
    try:
        await bot.set_my_commands(
            [BotCommand(c, plain(lang, f"command.{c}")) for c in commands],
            scope=BotCommandScopeChat(telegram_id),
        )
    except TelegramError:
        # An admin who never opened the chat has none yet; the menu is a convenience.
        log.info("could not set the command menu of chat %s", telegram_id)


async def _dashboard_menu_button(bot: Bot, services: Services, telegram_id: int, lang: str) -> None:
    """The chat's menu button opens the dashboard (owners and admins, when it is on)."""
    from bot.web.links import menu_button

    button = menu_button(services.settings, lang)
    if button is None:
        return
    try:
        await bot.set_chat_menu_button(chat_id=telegram_id, menu_button=button)
    except TelegramError:
        log.info("could not set the menu button of chat %s", telegram_id)
