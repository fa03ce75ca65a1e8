"""/start: invites for employees, partners, buyers and owners, and the plain welcome."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot import flow
from bot.callbacks import Action, encode
from bot.context import FeedbotContext, known_language
from bot.handlers.common import pressed, reply, send_question, subject_of
from bot.handlers.member import show_departments
from bot.handlers.owner import digest_rule
from bot.handlers.refusals import refuse_press
from bot.handlers.survey import offer_to_resume, refusal_text
from bot.i18n import normalize_language, plain, t
from bot.menus import refresh_menu
from bot.render import fill
from bot.services import Services
from domain import invites as invite_rules
from domain.invites import BecomesOwner, Registers, StartsSurvey
from storage import invites as invite_repo
from storage import members as member_repo
from storage import owners as owner_repo
from storage import sessions as session_repo
from storage import subjects as subject_repo
from storage import updates as update_repo
from storage import users as user_repo
from storage.connection import Connection
from storage.errors import ActiveSessionExists, InviteError
from storage.models import InvitationSource, Invite
from surveys.periods import week_key
from surveys.schema import localize

log = logging.getLogger(__name__)


def weekday_name(lang: str, weekday: int) -> str:
    """\"every Monday\" in the language (0 = Monday)."""
    return plain(lang, f"delivery.settings.every_{weekday % 7}")


async def on_start(update: Update, context: FeedbotContext) -> None:
    """/start, with or without an invite payload."""
    services = context.services
    user = context.user(update)
    async with services.db.one_statement() as conn:
        stored = await user_repo.touch_user(
            conn, user.id, lang_hint=normalize_language(user.language_code), now=services.now()
        )
    lang = known_language(services, user, stored)
    payload = context.args[0] if context.args else None
    session = await session_repo.get_active_session(services.db.conn, user.id)
    if payload is None:
        if session is not None:
            await offer_resume(update, context, lang)
            return
        await welcome(update, context, lang)
        return
    if session is not None:
        try:
            await invite_repo.check_invite(
                services.db.conn, services.secret, payload, now=services.now()
            )
        except InviteError as exc:
            if not await update_repo.is_processed(services.db.conn, update.update_id):
                await reply(update, t(lang, f"invite.{exc.problem.value}"))
            # else: this very update took the invite's last use and began the survey
            # (applied twice: a lapsed claim); the first application showed it all.
            return
        subject = await subject_of(services, session)
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        plain(lang, "button.continue"),
                        callback_data=encode(Action.RESUME, session.id),
                    )
                ],
                [
                    InlineKeyboardButton(
                        plain(lang, "button.open_new_invite"),
                        callback_data=encode(Action.SWITCH_INVITE, payload),
                    )
                ],
            ]
        )
        await reply(
            update,
            t(lang, "start.open_survey_and_invite", subject=subject.name(lang)),
            reply_markup=keyboard,
        )
        return
    await open_invite(update, context, payload, lang)


async def open_invite(update: Update, context: FeedbotContext, token: str, lang: str) -> None:
    """Redeem an invite and do what it is for."""
    services = context.services
    user = context.user(update)
    chat = update.effective_chat
    assert chat is not None
    now = services.now()
    try:
        invite = await invite_repo.check_invite(services.db.conn, services.secret, token, now=now)
        if isinstance(invite_rules.opening(invite), StartsSurvey):
            # A buyer's: nothing to store but the use (the survey starts in a write of
            # its own), one statement on PostgreSQL (storage.invites.use_invite).
            async with services.db.one_statement() as conn:
                used = await invite_repo.use_invite(
                    conn, invite, update_id=update.update_id, now=now
                )
            if used is None:
                return
            invite = used
        else:
            async with services.db.transaction() as conn:
                if not await update_repo.mark_processed(conn, update.update_id, now=now):
                    return
                invite = await invite_repo.redeem_invite(conn, services.secret, token, now=now)
                await _apply_invite(services, conn, invite, user.id, lang)
    except InviteError as exc:
        if await update_repo.is_processed(services.db.conn, update.update_id):
            return  # applied already (its use counted), and shown by whoever applied it
        log.info("invite refused for user %s: %s", user.id, exc.problem.value)
        await reply(update, t(lang, f"invite.{exc.problem.value}"))
        return
    await _after_invite(update, context, invite, lang)


async def reopen_invite(update: Update, context: FeedbotContext, token: str, lang: str) -> None:
    """A /start whose invite was redeemed already (the process died, or another instance
    took over, before the user saw what follows): show it now, counting no new use."""
    services = context.services
    invite = await invite_repo.find_invite(services.db.conn, services.secret, token)
    if invite is None:
        return
    try:
        await _after_invite(update, context, invite, lang)
    except ActiveSessionExists:
        # Begun meanwhile by a worker whose claim on this update lapsed while it still
        # applied it (a lease too short for its load): that one shows the survey.
        log.info("update %s: the survey was begun meanwhile", update.update_id)


async def _apply_invite(
    services: Services, conn: Connection, invite: Invite, telegram_id: int, lang: str
) -> None:
    """The database side of an invite (domain.invites.opening), in the same transaction
    as counting its use."""
    now = services.now()
    match invite_rules.opening(invite):
        case Registers(role, department_id):
            await member_repo.register_member(
                conn, telegram_id, role=role, department_id=department_id, now=now
            )
            await member_repo.record_invitation(
                conn, telegram_id, week_key=week_key(services.today()), source=InvitationSource.LINK
            )
        case BecomesOwner(subject_id):
            await owner_repo.add_owner(conn, telegram_id, subject_id, now=now)
        case StartsSurvey():
            pass  # nothing to store: the survey starts once the use is counted


async def _after_invite(update: Update, context: FeedbotContext, invite: Invite, lang: str) -> None:
    """What the user sees after an invite was accepted."""
    services = context.services
    user = context.user(update)
    chat = update.effective_chat
    assert chat is not None
    await refresh_menu(context.bot, services, user.id, lang)
    conn = services.db.conn
    opened = invite_rules.opening(invite)
    if isinstance(opened, Registers):
        member = await member_repo.get_member(conn, user.id)
        assert member is not None
        if member.department_id is not None:
            department = await subject_repo.get_subject_by_id(conn, member.department_id)
            where = department.name(lang) if department else "?"
            await reply(update, t(lang, "member.welcome_employee", department=where))
        else:
            await reply(update, t(lang, f"member.welcome_{member.role.value}"))
        await reply(update, t(lang, "member.anonymity", threshold=services.settings.anonymity_min))
        await show_departments(update, context, lang)
        return
    subject = await subject_repo.get_subject_by_id(conn, opened.subject_id)
    if subject is None or subject.archived:
        await reply(update, t(lang, "invite.unknown"))
        return
    if isinstance(opened, BecomesOwner):
        settings = await owner_repo.get_owner_settings(
            conn, user.id, default_timezone=services.settings.timezone
        )
        await reply(
            update,
            t(
                lang,
                "owner.welcome",
                kind=t(lang, f"subject.kind_{subject.kind.value}"),
                subject=subject.name(lang),
                digest_rule=digest_rule(lang, subject.kind),
                weekday=weekday_name(lang, settings.weekday),
                hour=f"{settings.hour:02d}:00",
                timezone=settings.timezone,
            ),
        )
        return
    # A buyer: straight into the product's survey, with its intro.
    definition = services.surveys.latest(subject.survey_id)
    outcome = await flow.begin(
        services, telegram_id=user.id, chat_id=chat.id, subject=subject, role=None
    )
    if isinstance(outcome, flow.Refused):
        await reply(update, refusal_text(outcome, lang))
        return
    await reply(update, fill(localize(definition.intro, lang), subject.name(lang)))
    await send_question(context, outcome, lang, subject)


async def offer_resume(update: Update, context: FeedbotContext, lang: str) -> None:
    """An unfinished survey: continue where they left off, or start over."""
    services = context.services
    user = context.user(update)
    session = await session_repo.get_active_session(services.db.conn, user.id)
    if session is None:
        await welcome(update, context, lang)
        return
    await offer_to_resume(update, context, session, lang)


async def welcome(update: Update, context: FeedbotContext, lang: str) -> None:
    """/start without an invite: members get their menu, owners a reminder, others the intro."""
    services = context.services
    user = context.user(update)
    conn = services.db.conn
    if await member_repo.get_member(conn, user.id) is not None:
        await show_departments(update, context, lang)
        return
    owned = await owner_repo.list_owned_subjects(conn, user.id)
    if owned:
        names = ", ".join(s.name(lang) for s in owned)
        await reply(update, t(lang, "owner.hello", subjects=names))
        return
    if services.is_admin(user.id):
        await reply(update, t(lang, "admin.hello"))
        return
    await reply(update, t(lang, "start.stranger"))


async def on_switch_invite_button(update: Update, context: FeedbotContext) -> None:
    """Leave the open survey (its answers are dropped) and open the new invite."""
    services = context.services
    query, press = pressed(update)
    token = press.value
    user, lang = await context.caller(update)
    if not invite_repo.is_well_formed(token):
        await refuse_press(services, query, lang, "bad_invite", update.update_id)
        return
    await query.answer()
    session = await session_repo.get_active_session(services.db.conn, user.id)
    if session is not None:
        await flow.cancel(services, session)
    try:
        await query.edit_message_reply_markup(None)
    except Exception:
        pass
    await open_invite(update, context, token, lang)
