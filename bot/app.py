"""The one place that wires the bot: handlers, jobs, database, processor, rate limiter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from telegram import BotCommand, BotCommandScopeDefault, LinkPreviewOptions
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    ContextTypes,
    Defaults,
)
from telegram.request import BaseRequest

from bot.config import Settings
from bot.i18n import LANGUAGES, plain
from bot.processor import PerUserUpdateProcessor
from bot.services import Services, utc_now
from storage import updates as update_repo
from storage.connection import DatabaseUnavailable
from storage.db import Database
from surveys.loader import SurveyCatalog

log = logging.getLogger(__name__)

SERVICES_KEY = "services"
# The start-up task setting the dashboard's menu buttons (bot.menus.sync_menu_buttons).
MENU_SYNC_KEY = "menu_sync"

# Commands in Telegram's default menu; bot.menus gives members, owners and admins theirs.
PUBLIC_COMMANDS = ("start", "help", "lang", "cancel")


def services_of(
    context: ContextTypes.DEFAULT_TYPE | Application[Any, Any, Any, Any, Any, Any],
) -> Services:
    """The Services object stored at start-up."""
    data = context.bot_data
    return cast(Services, data[SERVICES_KEY])


async def register_commands(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Tell Telegram our command list in every language (the default scope is English)."""
    for lang in LANGUAGES:
        commands = [BotCommand(c, plain(lang, f"command.{c}")) for c in PUBLIC_COMMANDS]
        await app.bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=lang)
    await app.bot.set_my_commands(
        [BotCommand(c, plain("en", f"command.{c}")) for c in PUBLIC_COMMANDS]
    )
    from bot.jobs import user_language
    from bot.menus import refresh_menu

    services = services_of(app)
    for admin in sorted(services.settings.admins):
        lang = await user_language(services, admin)
        # Their menu button: by sync_menu_buttons, only when it is not set to this URL yet.
        await refresh_menu(app.bot, services, admin, lang, menu_button=False)


async def _sync_menu_buttons(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    from bot.menus import sync_menu_buttons

    try:
        await sync_menu_buttons(app.bot, services_of(app))
    except Exception:  # a convenience: /start and /lang set it too
        log.warning("could not set the dashboard menu buttons", exc_info=True)


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    surveys: SurveyCatalog | None = None,
    clock: Callable[[], datetime] = utc_now,
    rate_limiter: BaseRateLimiter[Any] | bool | None = True,
    concurrent: bool = True,
    schedule_jobs: bool = True,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the Application; the database opens in post_init and closes in post_shutdown.

    Tests and benchmarks inject `request` (an in-process fake Bot API), a clock and
    their own rate limiter; production passes only the settings.
    """
    if settings.token is None:
        raise ValueError("a bot token is required to build the application")
    catalog = surveys or SurveyCatalog.from_folders(settings.surveys_dir)

    async def post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        db = await Database.open(settings.database)
        services = Services(settings=settings, db=db, surveys=catalog, clock=clock)
        services.bot_username = app.bot.username
        services.redelivery_horizon = await update_repo.highest_processed(db.conn)
        app.bot_data[SERVICES_KEY] = services
        try:
            await register_commands(app)
        except Exception:  # the bot works without a command menu
            log.warning("could not register the command list", exc_info=True)
        # In the background: many owners' buttons, paced by the rate limiter, must not
        # hold up polling or the webhook.
        app.bot_data[MENU_SYNC_KEY] = asyncio.create_task(_sync_menu_buttons(app))
        from bot.handlers.recovery import resend_pending

        # Before polling starts, so no update of the same respondent can overtake it.
        await resend_pending(app)
        if schedule_jobs:
            from bot import jobs

            await jobs.schedule_all(app)

    async def post_stop(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        # Before the bot's connection closes: the delivery loop may be sending.
        from bot.delivery import scheduler

        await scheduler.stop(app)
        sync = app.bot_data.pop(MENU_SYNC_KEY, None)
        if sync is not None and not sync.done():
            sync.cancel()  # the rest is set at the next start
            with contextlib.suppress(asyncio.CancelledError):
                await sync

    async def post_shutdown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        await post_stop(app)  # when stopped without run_polling (which calls post_stop)
        services = app.bot_data.pop(SERVICES_KEY, None)
        if services is not None:
            await services.prompts.flush()
            # A clean stop leaves the files as the hourly scrub would (see Database.scrub).
            # Not on PostgreSQL, shared by instances that restart one after another in a
            # deploy: there the hourly run (one instance's) rewrites the tables.
            try:
                await services.db.scrub(vacuum=services.db.dialect == "sqlite")
            except (sqlite3.OperationalError, DatabaseUnavailable) as exc:
                log.warning("database scrub skipped at shutdown: %s", exc)
            await services.db.close()

    builder = (
        ApplicationBuilder()
        .token(settings.token.get_secret_value())
        .defaults(
            Defaults(parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True))
        )
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
    )
    if settings.api_base_url:
        base = settings.api_base_url.rstrip("/")
        builder = builder.base_url(base).base_file_url(base.removesuffix("/bot") + "/file/bot")
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    if rate_limiter is True:
        limiter: BaseRateLimiter[Any] = AIORateLimiter(
            overall_max_rate=settings.messages_per_second, max_retries=3
        )
        builder = builder.rate_limiter(limiter)
    elif isinstance(rate_limiter, BaseRateLimiter):
        builder = builder.rate_limiter(rate_limiter)
    if concurrent:
        builder = builder.concurrent_updates(PerUserUpdateProcessor())
    app = builder.build()

    from bot.handlers import register_all

    register_all(app)
    return app
