"""Internal members: the list of departments to evaluate and starting an evaluation."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import flow
from bot.app import services_of
from bot.callbacks import Action, encode
from bot.handlers.common import language, reply, send_question
from bot.i18n import plain, t, visible
from storage import members as member_repo
from storage import sessions as session_repo
from storage import subjects as subject_repo
from storage.models import SubjectKind


def _short_date(value: object, lang: str) -> str:
    from datetime import date

    if isinstance(value, date):
        return value.strftime("%d.%m") if lang == "pl" else value.strftime("%b %d")
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
    if keyboard is None:
        member = await member_repo.get_member(services_of(context).db.conn, user.id)
        await reply(update, t(lang, "member.no_departments" if member else "member.not_member"))
        return
    await reply(update, t(lang, "member.pick_department"), reply_markup=keyboard)


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
    if await session_repo.get_active_session(conn, user.id) is not None:
        await query.answer()
        from bot.handlers.start import offer_resume

        await offer_resume(update, context, lang)
        return
    outcome = await flow.begin(
        services,
        telegram_id=user.id,
        chat_id=chat.id,
        subject=department,
        role=member.role.value,
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
