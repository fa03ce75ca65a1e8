"""Help, language, cancel, the callback dispatcher, fallbacks and the error handler."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import NetworkError, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.app import services_of
from bot.callbacks import Action, CallbackDataError, decode, encode, parse_id
from bot.handlers import survey
from bot.handlers.common import language, reply
from bot.handlers.refusals import refuse_press
from bot.i18n import LANGUAGES, Markup, join, markup, plain, t
from bot.menus import allowed_commands, refresh_menu
from storage import invites as invite_repo
from storage import sessions as session_repo
from storage import updates as update_repo
from storage import users as user_repo

log = logging.getLogger(__name__)


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: what this bot is and the commands this user may use."""
    lang = await language(services_of(context), update)
    lines = [t(lang, "help.intro"), Markup()]
    user = update.effective_user
    assert user is not None
    for command in await allowed_commands(services_of(context), user.id):
        lines.append(markup("/{} — {}", command, t(lang, f"command.{command}")))
    await reply(update, join("\n", lines))


async def on_lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lang [pl|en]: switch the language, or pick it from buttons."""
    services = services_of(context)
    lang = await language(services, update)
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


async def _set_language(update: Update, context: ContextTypes.DEFAULT_TYPE, code: str) -> None:
    services = services_of(context)
    user = update.effective_user
    assert user is not None
    async with services.db.transaction() as conn:
        await user_repo.touch_user(conn, user.id, lang_hint=code, now=services.now())
        await user_repo.set_language(conn, user.id, code)
    services.remember_language(user.id, code)
    await reply(update, t(code, "lang.changed"))
    await refresh_menu(context.bot, services, user.id, code)


async def on_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: drop the open survey, if any."""
    services = services_of(context)
    user = update.effective_user
    assert user is not None
    lang = await language(services, update)
    session = await session_repo.get_active_session(services.db.conn, user.id)
    if session is None:
        await reply(update, t(lang, "survey.nothing_to_cancel"))
        return
    from bot import flow
    from bot.handlers.common import drop_keyboard

    await flow.cancel(services, session)
    keyboard = services.keyboard_of(session.id, session.message_id)
    await drop_keyboard(context, flow.chat_of(session), keyboard)
    await reply(update, t(lang, "survey.cancelled"))


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every inline button comes here and is dispatched by its decoded action."""
    query = update.callback_query
    assert query is not None
    services = services_of(context)
    try:
        callback = decode(query.data)
    except CallbackDataError as exc:
        await refuse_press(
            services, query, await language(services, update), exc.kind, update.update_id
        )
        return
    action = callback.action
    if action in survey.SESSION_ACTIONS:
        await survey.on_survey_button(update, context, callback)
    elif action is Action.EVALUATE:
        from bot.handlers.member import on_evaluate

        await on_evaluate(update, context, parse_id(callback.value))
    elif action is Action.SWITCH_EVALUATE:
        from bot.handlers.member import on_switch_evaluate

        await on_switch_evaluate(update, context, parse_id(callback.value))
    elif action is Action.SWITCH_INVITE:
        from bot.handlers.start import on_switch_invite

        if not invite_repo.is_well_formed(callback.value):
            lang = await language(services, update)
            await refuse_press(services, query, lang, "bad_invite", update.update_id)
            return
        await on_switch_invite(update, context, callback.value)
    elif action is Action.LANG:
        if callback.value not in LANGUAGES:
            lang = await language(services, update)
            await refuse_press(services, query, lang, "unknown_language", update.update_id)
            return
        await query.answer()
        await _set_language(update, context, callback.value)
    elif action is Action.MENU:
        await query.answer()
        from bot.handlers.member import show_departments

        await show_departments(update, context, await language(services, update))
    else:
        from bot.handlers import extra_callbacks

        handler = extra_callbacks.get(action)
        if handler is None:
            lang = await language(services, update)
            await refuse_press(services, query, lang, "unknown_action", update.update_id)
            return
        await handler(update, context, callback)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plain text: an answer to a text question, or a pointer to what to do."""
    services = services_of(context)
    user = update.effective_user
    assert user is not None
    lang = await language(services, update)
    session = await session_repo.get_active_session(services.db.conn, user.id)
    if session is not None:
        await survey.on_text_answer(update, context, session, lang)
        return
    await reply(update, t(lang, "fallback.no_survey"))


async def on_other_content(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice, files...: the bot reads only text and buttons."""
    lang = await language(services_of(context), update)
    await reply(update, t(lang, "fallback.unsupported_content"))


async def on_edited(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edited message: edits are not read, answers stay as first sent."""
    services = services_of(context)
    lang = await language(services, update)
    user = update.effective_user
    running = user is not None and (
        await session_repo.get_active_session(services.db.conn, user.id) is not None
    )
    # Without a survey there is no answer to keep and no Back to point to.
    await reply(update, t(lang, "fallback.edited" if running else "fallback.edited_no_survey"))


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A command the bot does not know (or this user may not use)."""
    lang = await language(services_of(context), update)
    await reply(update, t(lang, "fallback.unknown_command"))


async def skip_redelivered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Drop an update Telegram delivered again after a restart if its effect was committed.

    Handlers that change state record the update id in the same transaction as the
    change, so a recorded id means the update was fully applied. Only ids up to the
    highest recorded at start-up can be redeliveries; newer ones skip the look-up.
    """
    services = services_of(context)
    horizon = services.redelivery_horizon
    if horizon is None or update.update_id > horizon:
        return
    if await update_repo.is_processed(services.db.conn, update.update_id):
        log.info("update %s was already applied before a restart; skipped", update.update_id)
        from bot.handlers.recovery import on_redelivered

        await on_redelivered(update, context)
        raise ApplicationHandlerStop


async def guard_private(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group and channel chats get one line and nothing else runs for them; so do texts
    that are not valid UTF-8. Updates from no user (polls, channel posts) are ignored."""
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
            lang = await language(services_of(context), update)
            await reply(update, t(lang, "fallback.unreadable_text"))
            raise ApplicationHandlerStop
        return
    lang = await language(services_of(context), update)
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


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
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
        lang = await language(services_of(context), update)
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
