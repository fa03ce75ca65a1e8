"""The one place that wires the bot: every way into it (commands, buttons, messages,
recurring jobs), the database opened in post_init and closed in post_shutdown, the
update processor and the rate limiter.

Updates are tried group by group (PTB): group -2 drops redeliveries of updates already
applied, group -1 guards (private chats only, readable text, button data feedbot
produced), group 0 holds the routes below, tried in order until one matches. Updates
arrive by polling, or by the webhook; the HTTP side (webhook, /healthz, dashboard) is
wired in bot/web/runtime.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram import BotCommand, BotCommandScopeDefault, LinkPreviewOptions, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseHandler,
    BaseRateLimiter,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot import jobs
from bot.callbacks import Action, routes_to
from bot.config import Settings
from bot.context import FeedbotApplication, FeedbotContext, feedbot_application, user_language
from bot.delivery import scheduler
from bot.handlers import admin, digest, member, misc, owner, recovery, refusals, start, survey
from bot.i18n import LANGUAGES, plain
from bot.menus import refresh_menu, sync_menu_buttons
from bot.periodic import once_per_period
from bot.processor import MAX_CONCURRENT_UPDATES, PerUserUpdateProcessor
from bot.services import Services, utc_now
from storage import updates as update_repo
from storage.connection import DatabaseUnavailable
from storage.db import Database
from surveys.loader import SurveyCatalog

log = logging.getLogger(__name__)

# The start-up task setting the dashboard's menu buttons (bot.menus.sync_menu_buttons).
MENU_SYNC_KEY = "menu_sync"

# Commands in Telegram's default menu; bot.menus gives members, owners and admins theirs.
PUBLIC_COMMANDS = ("start", "help", "lang", "cancel")

PRIVATE = filters.ChatType.PRIVATE

Handler = Callable[[Update, FeedbotContext], Coroutine[Any, Any, None]]


def _command(name: str, callback: Handler) -> CommandHandler[FeedbotContext, None]:
    return CommandHandler(name, callback, filters=PRIVATE)


def _button(callback: Handler, *actions: Action) -> CallbackQueryHandler[FeedbotContext, None]:
    return CallbackQueryHandler(callback, pattern=routes_to(*actions))


def handlers() -> dict[int, Sequence[BaseHandler[Any, FeedbotContext, Any]]]:
    """Every handler by group, in the order tried: the bot's every way in."""
    return {
        -2: [TypeHandler(Update, misc.skip_redelivered)],
        -1: [TypeHandler(Update, misc.guard_private)],
        0: [
            # Buttons, one route per action group (bot.callbacks decodes their data). First:
            # most updates are presses, and only these routes take one (a command route
            # would look at the message under the buttons, and none starts with a command).
            _button(survey.on_survey_button, *survey.SESSION_ACTIONS),
            _button(member.on_menu_button, Action.MENU),
            _button(member.on_evaluate_button, Action.EVALUATE),
            _button(member.on_switch_evaluate_button, Action.SWITCH_EVALUATE),
            _button(start.on_switch_invite_button, Action.SWITCH_INVITE),
            _button(misc.on_lang_button, Action.LANG),
            _button(digest.on_settings_button, Action.SETTINGS),
            _button(digest.on_mute_button, Action.MUTE_PULSE),
            CallbackQueryHandler(refusals.on_unrouted_press),  # well-formed, but no route
            # Everyone
            _command("start", start.on_start),
            _command("help", misc.on_help),
            _command("lang", misc.on_lang),
            _command("cancel", misc.on_cancel),
            # Members
            _command("evaluate", member.on_menu),
            _command("pulses", digest.on_pulses),
            # Owners
            _command("subjects", owner.on_subjects),
            _command("export", owner.on_export),
            _command("dashboard", owner.on_dashboard),
            _command("digest", digest.on_digest),
            _command("settings", digest.on_settings),
            # Admins (each checks FEEDBOT_ADMINS itself and says no politely)
            _command("invite", admin.on_invite),
            _command("departments", admin.on_departments),
            _command("products", admin.on_products),
            _command("adddepartment", admin.on_add_department),
            _command("addproduct", admin.on_add_product),
            # A user blocked or unblocked the bot: an owner's deliveries pause or resume.
            ChatMemberHandler(digest.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER),
            # Everything else
            MessageHandler(filters.UpdateType.EDITED_MESSAGE, misc.on_edited),
            MessageHandler(filters.COMMAND & PRIVATE, misc.on_unknown_command),
            MessageHandler(filters.TEXT & PRIVATE, misc.on_text),
            MessageHandler(PRIVATE & ~filters.TEXT, misc.on_other_content),
        ],
    }


@dataclass(frozen=True)
class Every:
    """A job of PTB's job queue: `callback` every `interval` seconds, first after `first`."""

    name: str
    callback: Callable[[FeedbotContext], Coroutine[Any, Any, None]]
    interval: float
    first: float


@dataclass(frozen=True)
class Loop:
    """A loop of our own tasks: started after the jobs, stopped before the database closes."""

    name: str
    start: Callable[[FeedbotApplication], Awaitable[None]]
    stop: Callable[[FeedbotApplication], Awaitable[None]]


# Everything the bot does by itself. Names are fixed, so a restart replaces, never duplicates.
RECURRING: tuple[Every | Loop, ...] = (
    # The one reminder for a survey left unfinished for FEEDBOT_REMINDER_HOURS.
    # It and stale-sessions run once per period across all instances sharing the database
    # (bot.periodic); the loop below needs no such claim: each outbox item is claimed by
    # one sender.
    Every("reminders", once_per_period("reminders", 600, jobs.send_reminders), 600, 30),
    # Surveys idle past FEEDBOT_ABANDON_DAYS become partial responses; old update ids go;
    # the database files are scrubbed.
    Every(
        "stale-sessions",
        once_per_period("stale-sessions", 3600, jobs.close_stale_sessions),
        interval=3600,
        first=60,
    ),
    # The files are scrubbed within minutes of an internal survey ending, too.
    Every(
        "scrub-after-internal",
        jobs.scrub_after_internal,
        interval=jobs.SCRUB_AFTER_INTERNAL_SECONDS,
        first=jobs.SCRUB_AFTER_INTERNAL_SECONDS,
    ),
    # Digests, pulses and alerts: queued when due and sent from the outbox, every
    # scheduler.TICK_SECONDS, and at once when a detractor alert is queued.
    Loop(scheduler.TICK_JOB, scheduler.schedule, scheduler.stop),
)


async def schedule_all(app: FeedbotApplication) -> None:
    """Start everything in RECURRING (a second call replaces each job and loop)."""
    queue = app.job_queue
    if queue is None:  # pragma: no cover - the job-queue extra is a dependency
        log.warning("no job queue: reminders and digests are off")
        return
    for entry in RECURRING:
        if isinstance(entry, Every):
            for job in queue.get_jobs_by_name(entry.name):
                job.schedule_removal()
            queue.run_repeating(
                entry.callback, interval=entry.interval, first=entry.first, name=entry.name
            )
        else:
            await entry.start(app)


async def stop_loops(app: FeedbotApplication) -> None:
    """Stop the loops of RECURRING (PTB stops its job queue itself)."""
    for entry in RECURRING:
        if isinstance(entry, Loop):
            await entry.stop(app)


async def register_commands(app: FeedbotApplication) -> None:
    """Tell Telegram our command list in every language (the default scope is English)."""
    for lang in LANGUAGES:
        commands = [BotCommand(c, plain(lang, f"command.{c}")) for c in PUBLIC_COMMANDS]
        await app.bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=lang)
    await app.bot.set_my_commands(
        [BotCommand(c, plain("en", f"command.{c}")) for c in PUBLIC_COMMANDS]
    )
    services = app.services
    for admin_id in sorted(services.settings.admins):
        lang = await user_language(services, admin_id)
        # Their menu button: by sync_menu_buttons, only when it is not set to this URL yet.
        await refresh_menu(app.bot, services, admin_id, lang, menu_button=False)


async def _sync_menu_buttons(app: FeedbotApplication) -> None:
    try:
        await sync_menu_buttons(app.bot, app.services)
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
    inbox: bool = False,
) -> FeedbotApplication:
    """Build the Application; the database opens in post_init and closes in post_shutdown.

    `inbox`: updates come through webhook mode's inbox (bot/inbox.py), maybe with other
    instances on the same database. Then no question is re-sent at start-up: every
    update not done is taken again from the inbox, in its user's order, and re-sends
    what it left unsent (bot/handlers/recovery.py, on_redelivered); a start-up pass
    would bypass that order and race with the instances answering those very users,
    re-sending a question its respondent has already answered.

    Tests and benchmarks inject `request` (an in-process fake Bot API), a clock and
    their own rate limiter; production passes only the settings.
    """
    if settings.token is None:
        raise ValueError("a bot token is required to build the application")
    catalog = surveys or SurveyCatalog.from_folders(settings.surveys_dir)

    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        app = feedbot_application(application)
        db = await Database.open(settings.database)
        services = Services(settings=settings, db=db, surveys=catalog, clock=clock)
        services.bot_username = app.bot.username
        services.redelivery_horizon = await update_repo.highest_processed(db.conn)
        app.services = services
        try:
            await register_commands(app)
        except Exception:  # the bot works without a command menu
            log.warning("could not register the command list", exc_info=True)
        # In the background: many owners' buttons, paced by the rate limiter, must not
        # hold up polling or the webhook.
        app.bot_data[MENU_SYNC_KEY] = asyncio.create_task(_sync_menu_buttons(app))
        if not inbox:
            # Before polling starts, so no update of the same respondent can overtake it.
            await recovery.resend_pending(app)
        if schedule_jobs:
            await schedule_all(app)

    async def post_stop(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        app = feedbot_application(application)
        # Before the bot's connection closes: the delivery loop may be sending.
        await stop_loops(app)
        sync = app.bot_data.pop(MENU_SYNC_KEY, None)
        if sync is not None and not sync.done():
            sync.cancel()  # the rest is set at the next start
            with contextlib.suppress(asyncio.CancelledError):
                await sync

    async def post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        app = feedbot_application(application)
        await post_stop(app)  # when stopped without run_polling (which calls post_stop)
        services = app.release_services()
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
        .application_class(FeedbotApplication)
        .context_types(ContextTypes(context=FeedbotContext))
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
        if request is None:
            # Without the rate limiter every running handler may be in a Bot API call:
            # a connection for each (PTB's default pool has 256).
            builder = builder.connection_pool_size(MAX_CONCURRENT_UPDATES)
    app = feedbot_application(builder.build())
    app.add_handlers(handlers())
    app.add_error_handler(misc.on_error)
    return app
