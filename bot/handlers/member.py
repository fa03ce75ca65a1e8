"""Internal members: the list of departments to evaluate and starting an evaluation."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import flow
from bot.app import services_of
from bot.callbacks import Action, encode
from bot.digest.render import month_name
from bot.handlers.common import drop_keyboard, language, reply, send_question, subject_of
from bot.i18n import plain, t, visible
from storage import members as member_repo
from storage import sessions as session_repo
from storage import subjects as subject_repo
from storage.models import Session, Subject, SubjectKind


def _short_date(value: object, lang: str) -> str:
    from datetime import date

    if isinstance(value, date):
        return value.strftime("%d.%m") if lang == "pl" else f"{month_name(value.month)} {value:%d}"
    return str(value)


async def department_keyboard(
    context: ContextTypes.DEFAULT_TYPE, telegram_id: int, lang: str
) -> InlineKeyboardMarkup | None:
    """Buttons for every department that serves this member (never their own)."""
    services = services_of(context)
    conn = services.db.conn
    member = await member_repo.get_member(conn, telegram_id)
    if member is None:
        return None
    rows = []
    departments = await subject_repo.list_subjects(conn, SubjectKind.DEPARTMENT)
    for department in sorted(departments, key=lambda d: d.name(lang).casefold()):
        if department.id == member.department_id:
            continue
        again = await flow.already_answered(services, telegram_id, department)
        label = department.name(lang)
        if again is not None:
            label = "✓ " + plain(
                lang, "member.again_from", name=label, date=_short_date(again, lang)
            )
        rows.append(
            [InlineKeyboardButton(label, callback_data=encode(Action.EVALUATE, department.id))]
        )
    return InlineKeyboardMarkup(rows) if rows else None


async def show_departments(update: Update, context: ContextTypes.DEFAULT_TYPE, lang: str) -> None:
    """The member menu: which department would you like to evaluate?"""
    user = update.effective_user
    assert user is not None
    keyboard = await department_keyboard(context, user.id, lang)
    member = await member_repo.get_member(services_of(context).db.conn, user.id)
    # A contractor or supplier has no department of their own: nothing was left out.
    partner = member is not None and member.department_id is None
    if keyboard is None:
        if member is None:
            await reply(update, t(lang, "member.not_member"))
        else:
            key = "member.no_departments_partner" if partner else "member.no_departments"
            await reply(update, t(lang, key))
        return
    key = "member.pick_department_partner" if partner else "member.pick_department"
    await reply(update, t(lang, key), reply_markup=keyboard)


async def on_menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/evaluate: show the departments again."""
    lang = await language(services_of(context), update)
    await show_departments(update, context, lang)


async def on_evaluate(update: Update, context: ContextTypes.DEFAULT_TYPE, subject_id: int) -> None:
    """A member picked a department: start the internal survey about it."""
    services = services_of(context)
    query = update.callback_query
    user = update.effective_user
    chat = update.effective_chat
    assert query is not None and user is not None and chat is not None
    lang = await language(services, update)
    conn = services.db.conn
    member = await member_repo.get_member(conn, user.id)
    department = await subject_repo.get_subject_by_id(conn, subject_id)
    if member is None:
        await query.answer(plain(lang, "member.not_member"), show_alert=True)
        return
    if department is None or department.kind is not SubjectKind.DEPARTMENT:
        # No menu ever offered this id: forged (an archived department is only stale).
        from bot.handlers.refusals import refuse_press

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
            from bot.handlers.start import offer_resume

            await offer_resume(update, context, lang)
        else:
            await _offer_switch(update, context, session, department, lang)
        return
    await _begin(update, context, department, member.role.value, lang)


async def on_switch_evaluate(
    update: Update, context: ContextTypes.DEFAULT_TYPE, subject_id: int
) -> None:
    """Drop the unfinished survey (its answers are deleted) and evaluate this department."""
    services = services_of(context)
    query = update.callback_query
    user = update.effective_user
    assert query is not None and user is not None
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
    context: ContextTypes.DEFAULT_TYPE,
    session: Session,
    department: Subject,
    lang: str,
) -> None:
    """Another survey is unfinished: continue it, or drop it and evaluate `department`."""
    services = services_of(context)
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
    context: ContextTypes.DEFAULT_TYPE,
    department: Subject,
    role: str,
    lang: str,
) -> None:
    """Start the internal survey about `department` and send its intro and first question."""
    services = services_of(context)
    query = update.callback_query
    user = update.effective_user
    chat = update.effective_chat
    assert query is not None and user is not None and chat is not None
    outcome = await flow.begin(
        services,
        telegram_id=user.id,
        chat_id=chat.id,
        subject=department,
        role=role,
    )
    if isinstance(outcome, flow.Refused):
        from bot.handlers.survey import refusal_text

        await query.answer(visible(refusal_text(outcome, lang)), show_alert=True)
        return
    await query.answer()
    from bot.render import fill
    from surveys.schema import localize

    await reply(update, fill(localize(outcome.definition.intro, lang), department.name(lang)))
    await send_question(context, outcome, lang, department)
