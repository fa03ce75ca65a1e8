"""Owners: the subjects they own and their CSV export (digests live in bot.handlers.digest)."""

from __future__ import annotations

from markupsafe import Markup
from telegram import Update

from bot.config import Settings
from bot.context import FeedbotContext
from bot.digest.render import format_day
from bot.handlers.common import reply
from bot.i18n import join, markup, t
from bot.owner_export import owner_export
from bot.web.links import dashboard_keyboard, login_link
from storage import owners as owner_repo
from storage.models import Subject, SubjectKind
from surveys.anonymity import ExportPlan


def digest_rule(lang: str, kind: SubjectKind) -> Markup:
    """What /digest shows for this kind of subject: the one wording that the owner's
    welcome and /digest share (bot.handlers.digest.on_digest applies it)."""
    if kind is SubjectKind.DEPARTMENT:
        return t(lang, "delivery.digest.rule_department")
    return t(lang, "delivery.digest.rule_product")


async def owned_subject(update: Update, context: FeedbotContext, lang: str) -> Subject | None:
    """The subject an owner command is about: the only one owned, or the slug given.

    Replies with the reason and returns None when the user owns nothing, names a
    subject they do not own, or owns several and named none.
    """
    services = context.services
    user = context.user(update)
    owned = await owner_repo.list_owned_subjects(services.db.conn, user.id)
    if not owned:
        await reply(update, t(lang, "owner.not_owner"))
        return None
    slug = context.args[0].lower() if context.args else None
    if slug is None:
        if len(owned) == 1:
            return owned[0]
        slugs = ", ".join(s.slug for s in owned)
        await reply(update, t(lang, "owner.which_subject", slugs=slugs))
        return None
    for subject in owned:
        if subject.slug == slug:
            return subject
    await reply(update, t(lang, "owner.not_your_subject", slug=slug))
    return None


async def on_subjects(update: Update, context: FeedbotContext) -> None:
    """/subjects: what this owner receives digests for."""
    services = context.services
    user, lang = await context.caller(update)
    owned = await owner_repo.list_owned_subjects(services.db.conn, user.id)
    if not owned:
        await reply(update, t(lang, "owner.not_owner"))
        return
    lines = [t(lang, "owner.subjects_header")]
    for subject in owned:
        kind = t(lang, f"subject.kind_{subject.kind.value}")
        lines.append(
            markup("• <b>{}</b> ({}, <code>{}</code>)", subject.name(lang), kind, subject.slug)
        )
    await reply(update, join("\n", lines))


async def on_export(update: Update, context: FeedbotContext) -> None:
    """/export [SLUG]: the responses about the subject as a CSV document: a product's
    every response; a department's only those of the disclosure units its digests may
    show (surveys.anonymity), or a reply saying what is still missing."""
    services = context.services
    lang = await context.language(update)
    subject = await owned_subject(update, context, lang)
    if subject is None:
        return
    name = subject.name(lang)
    export = await owner_export(services, subject)
    if export.data is None:
        assert export.plan is not None
        await reply(update, _nothing_to_export(lang, name, export.plan, services.settings))
        return
    if subject.kind is SubjectKind.DEPARTMENT:
        caption = t(lang, "owner.export_internal_caption", subject=name)
    else:
        caption = t(lang, "owner.export_caption", subject=name)
    chat = update.effective_chat
    assert chat is not None
    await chat.send_document(document=export.data, filename=export.filename, caption=caption)


def _nothing_to_export(lang: str, name: str, plan: ExportPlan, settings: Settings) -> Markup:
    """Why a department's export would be empty, and when that can change."""
    threshold = settings.anonymity_min
    lines = [t(lang, "owner.export_internal_nothing", subject=name, threshold=threshold)]
    for pending in plan.pending:
        lines.append(
            t(
                lang,
                "owner.export_internal_pending",
                week=pending.week,
                needed=pending.needed,
                date=format_day(pending.pooled_after, lang),
            )
        )
    if plan.withheld:
        lines.append(t(lang, "owner.export_internal_withheld", count=plan.withheld))
    date = format_day(plan.open_week_closes, lang)
    lines.append(t(lang, "owner.export_internal_open", date=date, threshold=threshold))
    return join("\n", lines)


async def on_dashboard(update: Update, context: FeedbotContext) -> None:
    """/dashboard: the "📊 Dashboard" button, and a one-time login link (10 minutes) for a
    browser outside Telegram. Owners and admins only; a word when the dashboard is off."""
    services = context.services
    user, lang = await context.caller(update)
    owned = await owner_repo.list_owned_subjects(services.db.conn, user.id)
    if not owned and not services.is_admin(user.id):
        await reply(update, t(lang, "owner.not_owner"))
        return
    link = await login_link(
        services.db, services.settings, services.secret, user.id, now=services.now()
    )
    if link is None:
        await reply(update, t(lang, "dashboard.disabled"))
        return
    await reply(
        update,
        t(lang, "dashboard.link", link=link),
        reply_markup=dashboard_keyboard(services.settings, lang),
    )
