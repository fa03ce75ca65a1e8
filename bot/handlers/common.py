"""Helpers shared by handlers: the user's language, replies, survey message sending."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import flow, render
from bot.app import services_of
from bot.i18n import Markup, join, normalize_language, t
from bot.services import Services
from storage import subjects as subject_repo
from storage import users as user_repo
from storage.models import Session, Subject
from surveys.schema import QuestionType

log = logging.getLogger(__name__)


async def language(services: Services, update: Update) -> str:
    """The user's language: an explicit /lang choice, else their Telegram setting."""
    user = update.effective_user
    if user is None:
        return "en"
    cached = services.cached_language(user.id)
    if cached is not None:
        return cached
    stored = await user_repo.get_user(services.db.conn, user.id)
    lang = stored.lang if stored is not None and stored.lang else None
    lang = lang or normalize_language(user.language_code)
    services.remember_language(user.id, lang)
    return lang


async def reply(update: Update, text: Markup, **kwargs: object) -> Message | None:
    """Send a message (Telegram HTML, built by `t`/`markup` so it is escaped) to the chat
    the update came from."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await chat.send_message(text, **kwargs)  # type: ignore[arg-type]


async def subject_of(services: Services, session: Session) -> Subject:
    """The subject a session is about."""
    subject = await subject_repo.get_subject_by_id(services.db.conn, session.subject_id)
    assert subject is not None, "sessions reference existing subjects"
    return subject


async def send_question(
    context: ContextTypes.DEFAULT_TYPE, ask: flow.Ask, lang: str, subject: Subject
) -> Message:
    """Send a question with its keyboard and remember which message carries it."""
    services = services_of(context)
    message = await context.bot.send_message(
        flow.chat_of(ask.session),
        render.question_text(ask.step, lang, subject.name(lang)),
        reply_markup=render.question_keyboard(ask.step, ask.session.id, lang),
    )
    await flow.remember_message(
        services,
        ask.session,
        message.message_id,
        persist=ask.step.question.type is QuestionType.TEXT,
    )
    return message


async def drop_keyboard(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, message_id: int | None
) -> None:
    """Remove the keyboard of an older question message; harmless if already gone."""
    if message_id is None:
        return
    try:
        await context.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
    except BadRequest:
        # Already without keyboard, deleted, or too old to edit: nothing to clean up.
        pass


async def send_finished(
    context: ContextTypes.DEFAULT_TYPE, finished: flow.Finished, lang: str, subject: Subject
) -> None:
    """The survey's thank-you text, and for buyers who the feedback goes to."""
    from surveys.schema import Audience, localize

    definition = finished.definition
    parts = [render.fill(localize(definition.thanks, lang), subject.name(lang))]
    if definition.audience is Audience.EXTERNAL:
        parts.append(t(lang, "survey.goes_to_owner", subject=subject.name(lang)))
    else:
        parts.append(t(lang, "survey.internal_done"))
    await context.bot.send_message(flow.chat_of(finished.session), join("\n\n", parts))
