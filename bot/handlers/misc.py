"""Help, language, cancel, the input guards, fallbacks and the error handler."""

from __future__ import annotations

import logging

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import NetworkError, TelegramError
from telegram.ext import ApplicationHandlerStop

from bot import flow
from bot.callbacks import Action, encode
from bot.context import FeedbotContext
from bot.handlers import survey
from bot.handlers.common import drop_keyboard, pressed, reply
from bot.handlers.recovery import on_redelivered
from bot.handlers.refusals import refuse_press, refused_undecodable
from bot.i18n import LANGUAGES, join, markup, plain, t
from bot.menus import allowed_commands, refresh_menu
from storage import sessions as session_repo
from storage import updates as update_repo
from storage import users as user_repo

log = logging.getLogger(__name__)


async def on_help(update: Update, context: FeedbotContext) -> None:
    """/help: what this bot is and the commands this user may use."""
    user, lang = await context.caller(update)
    lines = [t(lang, "help.intro"), Markup()]
    for command in await allowed_commands(context.services, user.id):
        lines.append(markup("/{} — {}", command, t(lang, f"command.{command}")))
    await reply(update, join("\n", lines))


async def on_lang(update: Update, context: FeedbotContext) -> None:
    """/lang [pl|en]: switch the language, or pick it from buttons."""
    lang = await context.language(update)
    choice = context.args[0].lower() if context.args else None
    if choice in LANGUAGES:
        await _set_language(update, context, choice)
        return
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    plain(code, "lang.name"), callback_data=encode(Action.LANG, code)
                )
                for code in LANGUAGES
            ]
        ]
    )
    await reply(update, t(lang, "lang.choose"), reply_markup=keyboard)


async def on_lang_button(update: Update, context: FeedbotContext) -> None:
    """A language button of /lang."""
    query, press = pressed(update)
    if press.value not in LANGUAGES:
        lang = await context.language(update)
        await refuse_press(context.services, query, lang, "unknown_language", update.update_id)
        return
    await query.answer()
    await _set_language(update, context, press.value)


async def _set_language(update: Update, context: FeedbotContext, code: str) -> None:
    services = context.services
    user = context.user(update)
    async with services.db.transaction() as conn:
        await user_repo.touch_user(conn, user.id, lang_hint=code, now=services.now())
        await user_repo.set_language(conn, user.id, code)
    services.remember_language(user.id, code)
    await reply(update, t(code, "lang.changed"))
    await refresh_menu(context.bot, services, user.id, code)


async def on_cancel(update: Update, context: FeedbotContext) -> None:
    """/cancel: drop the open survey, if any."""
    services = context.services
    user, lang = await context.caller(update)
    session = await session_repo.get_active_session(services.db.conn, user.id)
    if session is None:
        await reply(update, t(lang, "survey.nothing_to_cancel"))
        return
    await flow.cancel(services, session)
    keyboard = services.keyboard_of(session.id, session.message_id)
    await drop_keyboard(context, flow.chat_of(session), keyboard)
    await reply(update, t(lang, "survey.cancelled"))


async def on_text(update: Update, context: FeedbotContext) -> None:
    """Plain text: an answer to a text question, or a pointer to what to do."""
    services = context.services
    user, lang = await context.caller(update)
    found = await session_repo.get_active_session_and_subject(services.db.conn, user.id)
    if found is not None:
        session, subject = found
        await survey.on_text_answer(update, context, session, lang, subject)
        return
    await reply(update, t(lang, "fallback.no_survey"))


async def on_other_content(update: Update, context: FeedbotContext) -> None:
    """Stickers, photos, voice, files...: the bot reads only text and buttons."""
    lang = await context.language(update)
    await reply(update, t(lang, "fallback.unsupported_content"))


async def on_edited(update: Update, context: FeedbotContext) -> None:
    """An edited message: edits are not read, answers stay as first sent."""
    services = context.services
    user, lang = await context.caller(update)
    running = await session_repo.get_active_session(services.db.conn, user.id) is not None
    # Without a survey there is no answer to keep and no Back to point to.
    await reply(update, t(lang, "fallback.edited" if running else "fallback.edited_no_survey"))


async def on_unknown_command(update: Update, context: FeedbotContext) -> None:
    """A command the bot does not know (or this user may not use)."""
    lang = await context.language(update)
    await reply(update, t(lang, "fallback.unknown_command"))


async def skip_redelivered(update: Update, context: FeedbotContext) -> None:
    """Drop an update Telegram delivered again after a restart if its effect was committed.

    Handlers that change state record the update id in the same transaction as the
    change, so a recorded id means the update was fully applied. Only ids up to the
    highest recorded at start-up can be redeliveries; newer ones skip the look-up.
    """
    services = context.services
    horizon = services.redelivery_horizon
    if horizon is None or update.update_id > horizon:
        return
    if await update_repo.is_processed(services.db.conn, update.update_id):
        log.info("update %s was already applied before a restart; skipped", update.update_id)
        await on_redelivered(update, context)
        raise ApplicationHandlerStop


async def guard_private(update: Update, context: FeedbotContext) -> None:
    """Group and channel chats get one line and nothing else runs for them; so do texts
    that are not valid UTF-8, and button presses whose data feedbot could not have
    produced (refused politely). Updates from no user (polls, channel posts) are ignored."""
    chat = update.effective_chat
    if update.effective_user is None:
        raise ApplicationHandlerStop
    if chat is None or chat.type == "private":
        if _unreadable(update):
            # Lone surrogates cannot be stored (SQLite wants UTF-8) nor sent back.
            log.warning(
                "ignored a message that is not valid UTF-8 in update %s",
                update.update_id,
                extra={"refused": "not_utf8_text"},
            )
            lang = await context.language(update)
            await reply(update, t(lang, "fallback.unreadable_text"))
            raise ApplicationHandlerStop
        if await refused_undecodable(update, context):
            raise ApplicationHandlerStop
        return
    lang = await context.language(update)
    if update.callback_query is not None:
        await update.callback_query.answer(plain(lang, "fallback.private_only"))
    elif update.effective_message is not None and update.message is not None:
        await reply(update, t(lang, "fallback.private_only"))
    raise ApplicationHandlerStop


def _unreadable(update: Update) -> bool:
    """Whether the message's text or caption holds lone surrogates (not UTF-8)."""
    message = update.effective_message
    if message is None:
        return False
    for text in (message.text, message.caption):
        try:
            if text is not None:
                text.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


async def on_error(update: object, context: FeedbotContext) -> None:
    """Log the exception with the update id and tell the user, without a trace."""
    error = context.error
    if update is None and isinstance(error, TelegramError):
        # A failed poll for updates (run_polling hands those here); PTB retries it with
        # backoff. A network blip is expected now and then: one line, no traceback.
        level = logging.WARNING if isinstance(error, NetworkError) else logging.ERROR
        log.log(level, "polling for updates failed (%s: %s); retrying", type(error).__name__, error)
        return
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, NetworkError):
        # Telegram unreachable for a moment: what failed is said in one line.
        log.warning(
            "the Bot API failed while handling update %s (%s: %s)",
            update_id,
            type(error).__name__,
            error,
        )
    else:
        log.error("error while handling update %s", update_id, exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        lang = await context.language(update)
    except Exception:
        lang = "en"
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(plain(lang, "error.internal_short"))
        await update.effective_chat.send_message(t(lang, "error.internal"))
    except NetworkError as exc:
        log.warning("could not tell the user about the error (%s: %s)", type(exc).__name__, exc)
    except Exception:
        log.warning("could not tell the user about the error", exc_info=True)
