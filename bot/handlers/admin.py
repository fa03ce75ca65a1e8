"""Admins (FEEDBOT_ADMINS): invites, subjects, in chat as well as from the CLI."""

from __future__ import annotations

import re

from telegram import Update

from bot.context import FeedbotContext
from bot.handlers.common import reply
from bot.i18n import join, markup, plain, t
from bot.web import qr
from domain import invites as invite_rules
from domain.errors import WrongSubjectKind
from storage import invites as invite_repo
from storage import subjects as subject_repo
from storage.errors import DuplicateSlug, InvalidSlug
from storage.models import InviteKind, MemberRole, SubjectKind
from surveys.schema import Audience

# The words /invite takes, in English and in Polish (a Polish admin reads Polish usage).
_KINDS = {
    **{k.value: k for k in InviteKind},
    "pracownik": InviteKind.EMPLOYEE,
    "kupujący": InviteKind.BUYER,
    "kupujacy": InviteKind.BUYER,
    "właściciel": InviteKind.OWNER,
    "wlasciciel": InviteKind.OWNER,
}
_ROLES = {
    MemberRole.CONTRACTOR.value: MemberRole.CONTRACTOR,
    MemberRole.SUPPLIER.value: MemberRole.SUPPLIER,
    "wykonawca": MemberRole.CONTRACTOR,
    "dostawca": MemberRole.SUPPLIER,
}


async def _admin_lang(update: Update, context: FeedbotContext) -> str | None:
    """The user's language if they are an admin; otherwise reply politely and return None."""
    user, lang = await context.caller(update)
    if not context.services.is_admin(user.id):
        await reply(update, t(lang, "admin.only_admins"))
        return None
    return lang


async def on_invite(update: Update, context: FeedbotContext) -> None:
    """/invite employee|buyer|owner SLUG, or /invite partner contractor|supplier."""
    lang = await _admin_lang(update, context)
    if lang is None:
        return
    services = context.services
    args = [a.lower() for a in context.args or []]
    if len(args) != 2 or args[0] not in _KINDS:
        await reply(update, t(lang, "admin.invite_usage"))
        return
    kind, target = _KINDS[args[0]], args[1]
    subject_id = None
    caption = target  # under the QR code: the subject's name, else the partner's role
    role: MemberRole | None = None
    if kind is InviteKind.PARTNER:
        if target not in _ROLES:
            await reply(update, t(lang, "admin.invite_usage"))
            return
        role = _ROLES[target]
    else:
        subject = await subject_repo.get_subject(services.db.conn, target)
        if subject is None or subject.archived:
            await reply(update, t(lang, "admin.unknown_subject", slug=target))
            return
        try:
            invite_rules.check_subject(kind, subject.kind)
        except WrongSubjectKind as wrong:
            await reply(
                update,
                t(
                    lang,
                    "admin.wrong_kind",
                    slug=target,
                    kind=args[0],
                    actual=t(lang, f"subject.kind_{wrong.actual.value}"),
                    expected=t(lang, f"subject.kind_{wrong.expected.value}"),
                ),
            )
            return
        subject_id = subject.id
        caption = subject.name(lang)
    max_uses = invite_rules.default_max_uses(kind)
    user = context.user(update)
    async with services.db.transaction() as conn:
        _, token = await invite_repo.create_invite(
            conn,
            services.secret,
            kind=kind,
            subject_id=subject_id,
            role=role,
            max_uses=max_uses,
            expires_at=None,
            created_by=user.id,
            now=services.now(),
        )
    # The link as a QR code first, for printing on a receipt or a poster; the link below it.
    chat = update.effective_chat
    if chat is not None:
        picture = qr.png(services.invite_link(token), caption)
        await chat.send_photo(picture, caption=plain(lang, "dashboard.qr_caption"))
    uses = t(lang, "admin.uses_unlimited") if max_uses is None else str(max_uses)
    await reply(
        update,
        t(
            lang,
            "admin.invite_created",
            kind=t(lang, f"admin.invite_kind_{kind.value}"),
            link=services.invite_link(token),
            uses=uses,
        ),
    )


async def _list(update: Update, context: FeedbotContext, kind: SubjectKind) -> None:
    lang = await _admin_lang(update, context)
    if lang is None:
        return
    services = context.services
    subjects = await subject_repo.list_subjects(services.db.conn, kind)
    if not subjects:
        await reply(update, t(lang, f"admin.no_{kind.value}s"))
        return
    lines = [t(lang, f"admin.{kind.value}s_header")]
    lines += [markup("• <code>{}</code> — {}", s.slug, s.name(lang)) for s in subjects]
    await reply(update, join("\n", lines))


async def on_departments(update: Update, context: FeedbotContext) -> None:
    """/departments: every department."""
    await _list(update, context, SubjectKind.DEPARTMENT)


async def on_products(update: Update, context: FeedbotContext) -> None:
    """/products: every product."""
    await _list(update, context, SubjectKind.PRODUCT)


_ADD = re.compile(r"^\s*(\S+)\s+(.+?)\s*$", re.S)


async def _add(update: Update, context: FeedbotContext, kind: SubjectKind) -> None:
    lang = await _admin_lang(update, context)
    if lang is None:
        return
    services = context.services
    message = update.effective_message
    assert message is not None and message.text is not None
    rest = message.text.partition(" ")[2]
    match = _ADD.match(rest)
    if match is None:
        await reply(update, t(lang, f"admin.add_{kind.value}_usage"))
        return
    slug, names_text = match[1].lower(), match[2]
    polish, _, english = (p.strip() for p in names_text.partition("|"))
    names = {"pl": polish, "en": english or polish}
    audience = Audience.INTERNAL if kind is SubjectKind.DEPARTMENT else Audience.EXTERNAL
    survey_id = services.surveys.latest(audience.value).id  # the bundled survey of the audience
    try:
        async with services.db.transaction() as conn:
            subject = await subject_repo.add_subject(
                conn, slug=slug, kind=kind, names=names, survey_id=survey_id, now=services.now()
            )
    except InvalidSlug:
        await reply(update, t(lang, "admin.invalid_slug", slug=slug))
        return
    except DuplicateSlug:
        await reply(update, t(lang, "admin.duplicate_slug", slug=slug))
        return
    await reply(
        update,
        t(
            lang,
            f"admin.{kind.value}_added",
            slug=subject.slug,
            name=subject.name(lang),
        ),
    )


async def on_add_department(update: Update, context: FeedbotContext) -> None:
    """/adddepartment SLUG Polish name | English name."""
    await _add(update, context, SubjectKind.DEPARTMENT)


async def on_add_product(update: Update, context: FeedbotContext) -> None:
    """/addproduct SLUG Polish name | English name."""
    await _add(update, context, SubjectKind.PRODUCT)
