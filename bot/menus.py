"""Which commands each user may use, and the per-chat command menu Telegram shows them."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeChat, MenuButtonDefault
from telegram.error import TelegramError

from bot.context import user_language
from bot.i18n import plain
from bot.services import Services
from bot.web.links import dashboard_url, menu_button
from storage import members as member_repo
from storage import menu_buttons as menu_button_repo
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


async def refresh_menu(
    bot: Bot, services: Services, telegram_id: int, lang: str, *, menu_button: bool = True
) -> None:
    """Show this user exactly their commands in Telegram's menu (best effort).

    The default menu lists everyone's commands; members, owners and admins get a menu
    of their own chat, in their language, when their role changes.
    """
    commands = await allowed_commands(services, telegram_id)
    if list(commands) == list(EVERYONE):
        return
    if menu_button and "dashboard" in commands:
        await _dashboard_menu_button(bot, services, telegram_id, lang)
    try:
        await bot.set_my_commands(
            [BotCommand(c, plain(lang, f"command.{c}")) for c in commands],
            scope=BotCommandScopeChat(telegram_id),
        )
    except TelegramError:
        # An admin who never opened the chat has none yet; the menu is a convenience.
        log.info("could not set the command menu of chat %s", telegram_id)


async def _dashboard_menu_button(bot: Bot, services: Services, telegram_id: int, lang: str) -> bool:
    """The chat's menu button opens the dashboard (owners and admins, when it is on);
    the URL it opens is remembered for `sync_menu_buttons`. True when set."""
    button = menu_button(services.settings, lang)
    if button is None or button.web_app is None:
        return False
    try:
        await bot.set_chat_menu_button(chat_id=telegram_id, menu_button=button)
    except TelegramError:
        log.info("could not set the menu button of chat %s", telegram_id)
        return False
    async with services.db.transaction() as conn:
        await menu_button_repo.record(conn, telegram_id, button.web_app.url, now=services.now())
    return True


async def sync_menu_buttons(bot: Bot, services: Services) -> int:
    """At start-up: every owner and admin whose menu button does not open this dashboard
    URL yet gets it (owners from before the dashboard was on, or a changed
    FEEDBOT_PUBLIC_URL); a chat that may no longer open it (no longer an owner, or the
    dashboard off) gets Telegram's default button back. Chats already right are left
    alone. Paced by the bot's rate limiter; returns how many buttons were sent."""
    conn = services.db.conn
    url = dashboard_url(services.settings)
    stored = await menu_button_repo.stored_urls(conn)
    owners = {owner.telegram_id for owner, _ in await owner_repo.list_owners(conn)}
    sent = 0
    for telegram_id in sorted(owners | set(services.settings.admins) | stored.keys()):
        wanted = url is not None and "dashboard" in await allowed_commands(services, telegram_id)
        if wanted and stored.get(telegram_id) != url:
            lang = await user_language(services, telegram_id)
            sent += await _dashboard_menu_button(bot, services, telegram_id, lang)
        elif not wanted and telegram_id in stored:
            try:
                await bot.set_chat_menu_button(chat_id=telegram_id, menu_button=MenuButtonDefault())
            except TelegramError:
                log.info("could not reset the menu button of chat %s", telegram_id)
                continue
            async with services.db.transaction() as tx:
                await menu_button_repo.forget(tx, telegram_id)
            sent += 1
    if sent:
        log.info("dashboard menu buttons set or reset at start-up: %d", sent)
    return sent
