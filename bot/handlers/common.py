"""Helpers shared by handlers: replies, button presses, survey message sending."""

from __future__ import annotations

import logging

from markupsafe import Markup
from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden

from bot import flow, render
from bot.callbacks import Callback, decode
from bot.context import FeedbotContext
from bot.i18n import join, t
from bot.sending import DEFAULT_POLICY, Undelivered
from bot.services import Services
from storage import subjects as subject_repo
from storage import thanks as thanks_repo
from storage.models import Session, Subject
from surveys.loader import UnknownSurvey
from surveys.schema import Audience, QuestionType, SurveyDefinition, localize

log = logging.getLogger(__name__)


async def reply(update: Update, text: Markup, **kwargs: object) -> Message | None:
    """Send a message (Telegram HTML, built by `t`/`markup` so it is escaped) to the chat
    the update came from, retried through Telegram's passing faults; None if there is no
    chat or it still failed (logged)."""
    chat = update.effective_chat
    if chat is None:
        return None
    try:
        return await DEFAULT_POLICY.run(
            lambda: chat.send_message(text, **kwargs),  # type: ignore[arg-type]
            what="a reply",
            repeatable=False,
        )
    except Undelivered as exc:
        log.warning("%s", exc)
        return None


def pressed(update: Update) -> tuple[CallbackQuery, Callback]:
    """The button press of a button handler and its decoded data (`misc.guard_private`
    has refused every press whose data does not decode, before any route is tried)."""
    query = update.callback_query
    assert query is not None, "button handlers are routed only callback queries"
    return query, decode(query.data)


async def subject_of(services: Services, session: Session) -> Subject:
    """The subject a session is about."""
    subject = await subject_repo.get_subject_by_id(services.db.conn, session.subject_id)
    assert subject is not None, "sessions reference existing subjects"
    return subject


async def send_question(
    context: FeedbotContext,
    ask: flow.Ask,
    lang: str,
    subject: Subject,
    previous: render.Previous | None = None,
) -> Message | None:
    """Send a question with its keyboard (after Back, showing the answer given before)
    and remember which message carries it.

    Telegram's passing faults are retried (bot.sending); if it still fails, None: the
    session's question stays pending and comes back at the respondent's next message
    or press, or at the next start."""
    services = context.services
    session = ask.session
    try:
        message = await services.retry.run(
            lambda: context.bot.send_message(
                flow.chat_of(session),
                render.question_text(ask.step, lang, subject.name(lang), previous),
                reply_markup=render.question_keyboard(ask.step, session.id, lang, previous),
            ),
            what=f"question of session {session.id}",
            repeatable=False,
        )
    except Undelivered as exc:
        log.warning("%s; it is sent again at the respondent's next action", exc)
        return None
    await flow.remember_message(
        services,
        session,
        message.message_id,
        persist=ask.step.question.type is QuestionType.TEXT,
    )
    return message


async def drop_keyboard(context: FeedbotContext, chat_id: int, message_id: int | None) -> None:
    """Remove the keyboard of an older question message; harmless if already gone."""
    if message_id is None:
        return
    try:
        await context.services.retry.run(
            lambda: context.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None),
            what="removing an old keyboard",
        )
    except BadRequest:
        # Already without keyboard, deleted, or too old to edit: nothing to clean up.
        pass
    except Undelivered as exc:
        # Its buttons stay, and only answer "this question was already answered".
        log.info("%s", exc)


async def edit_text(
    services: Services,
    context: FeedbotContext,
    chat_id: int,
    message_id: int,
    text: Markup,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Edit a survey message (an answered question into the transcript), retried; a
    failure leaves the old text, which is all it costs."""
    try:
        await services.retry.run(
            lambda: context.bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=reply_markup
            ),
            what="editing a question",
        )
    except BadRequest:
        pass  # too old to edit, or already showing this text (a retry that had arrived)
    except Undelivered as exc:
        log.info("%s", exc)


async def answer_query(
    services: Services, query: CallbackQuery, text: str | None = None, *, show_alert: bool = False
) -> None:
    """Answer a button press (with a toast when `text`), retried; if it is lost the
    button only spins until Telegram gives up on it."""
    try:
        await services.retry.run(
            lambda: query.answer(text, show_alert=show_alert), what="answering a button press"
        )
    except BadRequest:
        pass  # answered already (a retry after a lost reply) or too old to answer
    except Undelivered as exc:
        log.info("%s", exc)


async def send_finished(
    context: FeedbotContext, finished: flow.Finished, lang: str, subject: Subject
) -> None:
    """The survey's thank-you text, and for buyers who the feedback goes to."""
    session = finished.session
    await send_thanks(
        context,
        flow.chat_of(session),
        finished.definition,
        subject,
        lang,
        update_id=finished.update_id,
        what=f"thanks of session {session.id}",
    )


async def send_thanks(
    context: FeedbotContext,
    chat_id: int,
    definition: SurveyDefinition,
    subject: Subject,
    lang: str,
    *,
    update_id: int | None,
    what: str,
) -> None:
    """Thank `chat_id` for answering `definition` about `subject`; once sent, the
    thank-you owed for `update_id` (storage.thanks) is forgotten. One Telegram kept
    refusing stays owed: if its update is delivered again, it is tried again."""
    parts = [render.fill(localize(definition.thanks, lang), subject.name(lang))]
    if definition.audience is Audience.EXTERNAL:
        parts.append(t(lang, "survey.goes_to_owner", subject=subject.name(lang)))
    else:
        parts.append(t(lang, "survey.internal_done"))
    try:
        await context.services.retry.run(
            lambda: context.bot.send_message(chat_id, join("\n\n", parts)),
            what=what,
            repeatable=False,
        )
    except Undelivered as exc:
        # The answers are stored; only the thank-you is missing (nothing is left to ask).
        log.warning("%s", exc)
        return
    except Forbidden:
        log.info("%s: the user blocked the bot", what)
    if update_id is not None:
        context.services.prompts.thanked(update_id)


async def resend_thanks(context: FeedbotContext, update_id: int, chat_id: int, lang: str) -> bool:
    """Send the thank-you the update `update_id` still owes to `chat_id` (it completed a
    survey, and the process died before thanking): True if it owed one."""
    services = context.services
    if services.prompts.was_thanked(update_id):
        return True  # sent by this process; the row is about to go
    owed = await thanks_repo.find(services.db.conn, update_id)
    if owed is None:
        return False
    subject = await subject_repo.get_subject_by_id(services.db.conn, owed.subject_id)
    try:
        definition = services.surveys.get(owed.survey_id, owed.survey_version)
    except UnknownSurvey:
        definition = None
    if subject is None or definition is None:
        # Deleted since, or its survey file is gone: nothing left to name in a thank-you.
        services.prompts.thanked(update_id)
        return True
    await send_thanks(
        context,
        chat_id,
        definition,
        subject,
        lang,
        update_id=update_id,
        what=f"thanks owed for update {update_id}",
    )
    return True
