"""Internal members: the list of departments to evaluate and starting an evaluation."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot import flow
from bot.callbacks import Action, encode, parse_id
from bot.context import FeedbotContext
from bot.handlers.common import drop_keyboard, pressed, reply, send_question, subject_of
from bot.handlers.refusals import refuse_press
from bot.handlers.survey import offer_to_resume, refusal_text
from bot.i18n import plain, t, visible
from bot.render import department_keyboard, fill
from storage import members as member_repo
from storage import sessions as session_repo
from storage import subjects as subject_repo
from storage.models import Session, Subject, SubjectKind
from surveys.schema import localize


async def show_departments(update: Update, context: FeedbotContext, lang: str) -> None:
    """The member menu: which department would you like to evaluate?"""
    user = context.user(update)
    services = context.services
    member = await member_repo.get_member(services.db.conn, user.id)
    if member is None:
        await reply(update, t(lang, "member.not_member"))
        return
    keyboard = await department_keyboard(services, member, lang)
    # A contractor or supplier has no department of their own: nothing was left out.
    partner = member.department_id is None
    if keyboard is None:
        key = "member.no_departments_partner" if partner else "member.no_departments"
        await reply(update, t(lang, key))
        return
    key = "member.pick_department_partner" if partner else "member.pick_department"
    await reply(update, t(lang, key), reply_markup=keyboard)


async def on_menu(update: Update, context: FeedbotContext) -> None:
    """/evaluate: show the departments again."""
    lang = await context.language(update)
    await show_departments(update, context, lang)


async def on_menu_button(update: Update, context: FeedbotContext) -> None:
    """The button back to the member menu."""
    query, _ = pressed(update)
    await query.answer()
    await show_departments(update, context, await context.language(update))


async def on_evaluate_button(update: Update, context: FeedbotContext) -> None:
    """A department button of the member menu (or of a pulse invitation)."""
    _, press = pressed(update)
    await on_evaluate(update, context, parse_id(press.value))


async def on_switch_evaluate_button(update: Update, context: FeedbotContext) -> None:
    """ "Drop it and evaluate this department", under the offer to switch surveys."""
    _, press = pressed(update)
    await on_switch_evaluate(update, context, parse_id(press.value))


async def on_evaluate(update: Update, context: FeedbotContext, subject_id: int) -> None:
    """A member picked a department: start the internal survey about it."""
    services = context.services
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None and chat is not None
    user, lang = await context.caller(update)
    conn = services.db.conn
    member = await member_repo.get_member(conn, user.id)
    department = await subject_repo.get_subject_by_id(conn, subject_id)
    if member is None:
        await query.answer(plain(lang, "member.not_member"), show_alert=True)
        return
    if department is None or department.kind is not SubjectKind.DEPARTMENT:
        # No menu ever offered this id: forged (an archived department is only stale).
        await refuse_press(services, query, lang, "unknown_subject", update.update_id)
        return
    if department.archived:
        await query.answer(plain(lang, "member.department_gone"), show_alert=True)
        return
    if department.id == member.department_id:
        await query.answer(plain(lang, "member.own_department"), show_alert=True)
        return
    session = await session_repo.get_active_session(conn, user.id)
    if session is not None:
        await query.answer()
        if session.subject_id == department.id:
            await offer_to_resume(update, context, session, lang)
        else:
            await _offer_switch(update, context, session, department, lang)
        return
    await _begin(update, context, department, member.role.value, lang)


async def on_switch_evaluate(update: Update, context: FeedbotContext, subject_id: int) -> None:
    """Drop the unfinished survey (its answers are deleted) and evaluate this department."""
    services = context.services
    query = update.callback_query
    assert query is not None
    user = context.user(update)
    conn = services.db.conn
    member = await member_repo.get_member(conn, user.id)
    department = await subject_repo.get_subject_by_id(conn, subject_id)
    session = await session_repo.get_active_session(conn, user.id)
    usable = (
        member is not None
        and department is not None
        and not department.archived
        and department.kind is SubjectKind.DEPARTMENT
        and department.id != member.department_id
    )
    # Only for a department that can be evaluated: otherwise on_evaluate says why, and
    # the unfinished survey stays.
    if usable and session is not None and session.subject_id != subject_id:
        await flow.cancel(services, session)
        keyboard = services.keyboard_of(session.id, session.message_id)
        await drop_keyboard(context, flow.chat_of(session), keyboard)
    if query.message is not None:
        await drop_keyboard(context, query.message.chat.id, query.message.message_id)
    await on_evaluate(update, context, subject_id)


async def _offer_switch(
    update: Update,
    context: FeedbotContext,
    session: Session,
    department: Subject,
    lang: str,
) -> None:
    """Another survey is unfinished: continue it, or drop it and evaluate `department`."""
    services = context.services
    unfinished = await subject_of(services, session)
    where = flow.current(services, session)
    number = where.step.number if isinstance(where, flow.Ask) else 1
    name = department.name(lang)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    plain(lang, "button.continue"), callback_data=encode(Action.RESUME, session.id)
                )
            ],
            [
                InlineKeyboardButton(
                    plain(lang, "button.drop_and_evaluate", department=name),
                    callback_data=encode(Action.SWITCH_EVALUATE, department.id),
                )
            ],
        ]
    )
    text = t(
        lang,
        "survey.other_unfinished",
        unfinished=unfinished.name(lang),
        number=number,
        department=name,
    )
    await reply(update, text, reply_markup=keyboard)


async def _begin(
    update: Update,
    context: FeedbotContext,
    department: Subject,
    role: str,
    lang: str,
) -> None:
    """Start the internal survey about `department` and send its intro and first question."""
    services = context.services
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None and chat is not None
    user = context.user(update)
    outcome = await flow.begin(
        services,
        telegram_id=user.id,
        chat_id=chat.id,
        subject=department,
        role=role,
    )
    if isinstance(outcome, flow.Refused):
        await query.answer(visible(refusal_text(outcome, lang)), show_alert=True)
        return
    await query.answer()
    await reply(update, fill(localize(outcome.definition.intro, lang), department.name(lang)))
    await send_question(context, outcome, lang, department)
