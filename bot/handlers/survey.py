"""Answering questions: survey buttons, typed answers, Back, Skip, Cancel, resume."""

from __future__ import annotations

import logging
from datetime import date

from markupsafe import Markup
from telegram import CallbackQuery, MaybeInaccessibleMessage, Update
from telegram.error import BadRequest

from bot import flow, render
from bot.button_checks import press_value
from bot.callbacks import Action, Callback, CallbackDataError
from bot.context import FeedbotContext
from bot.handlers.common import (
    answer_query,
    drop_keyboard,
    edit_text,
    pressed,
    reply,
    resend_thanks,
    send_finished,
    send_question,
    subject_of,
)
from bot.handlers.refusals import refuse_press
from bot.i18n import t, visible
from bot.sending import Undelivered
from storage import sessions as session_repo
from storage.models import Session, Subject
from surveys import engine
from surveys.schema import QuestionType

log = logging.getLogger(__name__)

SESSION_ACTIONS = frozenset(
    {
        Action.ANSWER,
        Action.TOGGLE,
        Action.CONFIRM,
        Action.BACK,
        Action.SKIP,
        Action.CANCEL,
        Action.RESUME,
        Action.RESTART,
    }
)

_OPS = {
    Action.ANSWER: flow.Op.ANSWER,
    Action.TOGGLE: flow.Op.TOGGLE,
    Action.CONFIRM: flow.Op.CONFIRM,
    Action.SKIP: flow.Op.SKIP,
    Action.BACK: flow.Op.BACK,
}


def _date_text(value: object, lang: str) -> str:
    """A date as the catalog shows it (DD.MM.YYYY in Polish, YYYY-MM-DD in English)."""
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y") if lang == "pl" else value.isoformat()
    return str(value)


def refusal_text(refused: flow.Refused, lang: str) -> Markup:
    """Catalog text for a refusal, with dates formatted for the language."""
    params = {k: _date_text(v, lang) for k, v in refused.params.items()}
    return t(lang, refused.key, **params)


async def resend_current(context: FeedbotContext, session: Session, lang: str) -> None:
    """Send the open session's current question again (after a stale button or on resume)."""
    services = context.services
    subject = await subject_of(services, session)
    where = flow.current(services, session)
    if isinstance(where, flow.Finished):
        # Every answer is in but completing failed earlier; finish it now.
        return
    keyboard = services.keyboard_of(session.id, session.message_id)
    await drop_keyboard(context, flow.chat_of(session), keyboard)
    await send_question(context, where, lang, subject)


async def resend_if_missing(context: FeedbotContext, session: Session, lang: str) -> bool:
    """Send the current question again if it may not have reached the respondent (the bot
    died before sending it, or Telegram kept failing); True if it was re-sent."""
    if not context.services.prompts.pending(session):
        return False
    await resend_current(context, session, lang)
    return True


async def offer_to_resume(
    update: Update, context: FeedbotContext, session: Session, lang: str
) -> None:
    """The unfinished `session`: continue where they left off, or start over."""
    services = context.services
    subject = await subject_of(services, session)
    where = flow.current(services, session)
    number = where.step.number if isinstance(where, flow.Ask) else 1
    keyboard = render.resume_keyboard(session.id, lang)
    await reply(
        update,
        t(lang, "survey.resume_offer", subject=subject.name(lang), number=number),
        reply_markup=keyboard,
    )


async def on_survey_button(update: Update, context: FeedbotContext) -> None:
    """A button under a question: answer, toggle, Done, Back, Skip, Cancel, resume."""
    services = context.services
    query, callback = pressed(update)
    user, lang = await context.caller(update)
    found = await session_repo.get_active_session_and_subject(services.db.conn, user.id)
    session, subject = found if found is not None else (None, None)
    if session is None or session.id != callback.session_id:
        await _foreign_or_stale(context, query, callback, session, user.id, lang, update.update_id)
        return
    if callback.action is Action.CANCEL:
        await flow.cancel(services, session)
        await answer_query(services, query)
        await _edit(context, query, t(lang, "survey.cancelled"))
        return
    if callback.action is Action.RESUME:
        await answer_query(services, query)
        await _edit(context, query, t(lang, "survey.resumed"))
        await resend_current(context, session, lang)
        return
    if callback.action is Action.RESTART:
        await answer_query(services, query)
        await _edit(context, query, t(lang, "survey.restarted"))
        subject = await subject_of(services, session)
        restarted = await flow.restart(services, session, subject)
        if isinstance(restarted, flow.Refused):
            await reply(update, refusal_text(restarted, lang))
        else:
            await send_question(context, restarted, lang, subject)
        return
    definition = flow.definition_for(services, session)
    try:
        # The session keeps its survey version, so its buttons name only its questions.
        question = definition.question(callback.question_id)
        value = press_value(question, callback)
    except KeyError:
        await refuse_press(services, query, lang, "unknown_question", update.update_id)
        return
    except CallbackDataError as exc:
        await refuse_press(services, query, lang, exc.kind, update.update_id)
        return
    outcome = await flow.act(
        services,
        session,
        op=_OPS[callback.action],
        question_id=callback.question_id,
        value=value,
        update_id=update.update_id,
    )
    await _show_outcome(update, context, query, session, outcome, callback, lang, subject)


async def _foreign_or_stale(
    context: FeedbotContext,
    query: CallbackQuery,
    callback: Callback,
    session: Session | None,
    user_id: int,
    lang: str,
    update_id: int,
) -> None:
    services = context.services
    pressed = await session_repo.get_session(services.db.conn, callback.session_id)
    if pressed is not None and pressed.respondent_id not in (None, user_id):
        # Only a forged press can name another person's session (Telegram shows a
        # button only in the chat it was sent to); say no more than for any forgery.
        await refuse_press(services, query, lang, "foreign_session", update_id)
        return
    if session is None:
        # The press that completed the survey, again, and its thank-you never went out.
        if await resend_thanks(context, update_id, user_id, lang):
            await answer_query(services, query)
            return
        await answer_query(services, query, t(lang, "callback.closed"))
        if query.message is not None:
            await drop_keyboard(context, query.message.chat.id, query.message.message_id)
        return
    await _stale_press(context, query, session, lang)


async def _stale_press(
    context: FeedbotContext, query: CallbackQuery, session: Session, lang: str
) -> None:
    """A button of a question already answered (a double press, an old message): a toast,
    its keyboard removed, and the current question again only if it is missing."""
    await answer_query(context.services, query, t(lang, "callback.outdated"))
    if query.message is not None:
        await drop_keyboard(context, query.message.chat.id, query.message.message_id)
    await resend_if_missing(context, session, lang)


async def _edit(context: FeedbotContext, query: CallbackQuery, text: Markup) -> None:
    """Edit the pressed message (no keyboard); too old to edit or unchanged is fine."""
    message = query.message
    if message is None:
        return
    await edit_text(context.services, context, message.chat.id, message.message_id, text)


async def _show_outcome(
    update: Update,
    context: FeedbotContext,
    query: CallbackQuery | None,
    session: Session,
    outcome: flow.Outcome,
    callback: Callback | None,
    lang: str,
    subject: Subject | None = None,
) -> None:
    """Tell the respondent what happened: a refusal, the edited question, the next one
    (`subject`: the session's, if read with it)."""
    services = context.services
    if isinstance(outcome, flow.Duplicate):
        # Applied before, maybe by a process that died before sending what came next.
        if query is not None:
            await answer_query(services, query)
        if not await resend_thanks(context, update.update_id, flow.chat_of(session), lang):
            await resend_if_missing(context, session, lang)
        return
    if isinstance(outcome, flow.Refused):
        text = refusal_text(outcome, lang)
        if outcome.key == "error.not_current_question":
            if query is not None:
                await _stale_press(context, query, session, lang)
            else:
                await resend_if_missing(context, session, lang)
        elif query is not None:
            toast = visible(text)  # a toast shows no HTML
            await answer_query(services, query, toast, show_alert=len(toast) > 190)
        else:
            await reply(update, text)
        return
    if query is not None:
        await answer_query(services, query)
    if subject is None:
        subject = await subject_of(services, session)
    name = subject.name(lang)
    definition = outcome.definition
    if callback is not None and callback.action is Action.TOGGLE:
        assert isinstance(outcome, flow.Ask) and query is not None
        markup = render.question_keyboard(outcome.step, session.id, lang)
        try:
            await services.retry.run(
                lambda: query.edit_message_reply_markup(markup), what="ticking a choice"
            )
        except (BadRequest, Undelivered):
            pass  # the tick is stored; the keyboard shows it at the next toggle or resume
        # Pressed on the question's own message: it is on screen (stored so by `act`).
        services.prompts.on_screen(outcome.session)
        return
    answered_id = callback.question_id if callback is not None else None
    if answered_id is not None and callback is not None and callback.action is not Action.BACK:
        answers = (
            outcome.answers
            if isinstance(outcome, flow.Finished)
            else engine.SessionState.from_json(outcome.session.state_json).answers
        )
        question = definition.question(answered_id)
        if query is not None:
            answered = render.answered_text(question, answers.get(answered_id), lang, name)
            await _edit(context, query, answered)
            await _drop_other_copy(context, session, query.message)
    elif query is not None:
        await _edit(context, query, t(lang, "survey.went_back"))
    if isinstance(outcome, flow.Finished):
        await send_finished(context, outcome, lang, subject)
    else:
        previous = None
        if callback is not None and callback.action is Action.BACK:
            before = engine.SessionState.from_json(session.state_json).answers
            reopened = outcome.step.question.id
            previous = render.Previous(before[reopened]) if reopened in before else None
        await send_question(context, outcome, lang, subject, previous)


async def _drop_other_copy(
    context: FeedbotContext, session: Session, answered: MaybeInaccessibleMessage | None
) -> None:
    """Take the buttons off the latest copy of the question just answered, when the answer
    came from an earlier copy (one a re-send left on screen): its buttons beside the next
    question would offer two questions at once.

    Only a message later than the answered one can be that copy (message ids grow within
    a chat). A known one that is earlier is this process's view lagging behind: another
    instance sent the question answered and its note (bot.prompts) is not committed yet,
    so the one known is an older question's, whose buttons went when it was answered;
    Telegram refuses to remove them again ("message is not modified")."""
    latest = context.services.keyboard_of(session.id, session.message_id)
    edited = answered.message_id if answered is not None else session.message_id
    if latest is not None and (edited is None or latest > edited):
        await drop_keyboard(context, flow.chat_of(session), latest)


async def on_text_answer(
    update: Update,
    context: FeedbotContext,
    session: Session,
    lang: str,
    subject: Subject | None = None,
) -> None:
    """Plain text while a survey is open: the answer to a text question, else a pointer
    (`subject`: the session's, if read with it)."""
    services = context.services
    message = update.effective_message
    assert message is not None and message.text is not None
    where = flow.current(services, session)
    if isinstance(where, flow.Finished):
        return
    # The current question never arrived: this message cannot be its answer.
    if await resend_if_missing(context, session, lang):
        return
    question = where.step.question
    if question.type is not QuestionType.TEXT:
        await reply(update, t(lang, "survey.use_buttons"))
        return
    value = engine.parse_text(question, message.text)
    if isinstance(value, engine.Rejection):
        await reply(update, refusal_text(flow.Refused(f"error.{value.key}", value.params), lang))
        return
    outcome = await flow.act(
        services,
        session,
        op=flow.Op.ANSWER,
        question_id=question.id,
        value=value,
        update_id=update.update_id,
    )
    if isinstance(outcome, flow.Refused):
        await reply(update, refusal_text(outcome, lang))
        return
    if isinstance(outcome, flow.Duplicate):
        if not await resend_thanks(context, update.update_id, flow.chat_of(session), lang):
            await resend_if_missing(context, session, lang)
        return
    if subject is None:
        subject = await subject_of(services, session)
    if session.message_id is not None:
        await edit_text(
            services,
            context,
            flow.chat_of(session),
            session.message_id,
            render.answered_text(question, value, lang, subject.name(lang)),
        )
    await _drop_other_copy(context, session, None)
    if isinstance(outcome, flow.Finished):
        await send_finished(context, outcome, lang, subject)
    else:
        await send_question(context, outcome, lang, subject)
