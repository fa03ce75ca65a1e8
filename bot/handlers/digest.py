"""Owners' /digest and /settings, members' /pulses, and noticing a blocked or unblocked bot."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest

from bot.callbacks import Action, encode
from bot.context import FeedbotContext
from bot.delivery import scheduler, sender
from bot.digest.render import plural
from bot.handlers.common import pressed, reply
from bot.handlers.owner import digest_rule, owned_subject
from bot.handlers.refusals import refuse_press
from bot.i18n import join, plain, t
from bot.services import Services
from domain import settings as owner_settings
from domain.errors import (
    AlertsProductsOnly,
    BadButton,
    BadDay,
    BadHour,
    BadTimezone,
    SettingsUsage,
)
from domain.settings import SettingsButton, SettingsView
from storage import members as member_repo
from storage import owners as owner_repo
from storage.models import OwnerSettings, SubjectKind
from surveys.periods import week_key

log = logging.getLogger(__name__)

# The zones offered as buttons; any other IANA zone can be typed.
COMMON_ZONES = (
    "Europe/Warsaw",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Kyiv",
    "America/New_York",
    "UTC",
)
HOURS = (6, 7, 8, 9, 10, 11, 12, 14, 16, 18)
# "every N weeks" in the plural forms of bot.digest.render.plural: one, few, many.
_EVERY_WEEKS = ("member.every_weeks_one", "member.every_weeks_few", "member.every_weeks_many")


# ---------------------------------------------------------------------- /digest


async def on_digest(update: Update, context: FeedbotContext) -> None:
    """/digest [SLUG]: the digest now. Departments: the last closed week only (anonymity)."""
    services = context.services
    chat = update.effective_chat
    assert chat is not None
    user, lang = await context.caller(update)
    subject = await owned_subject(update, context, lang)
    if subject is None:
        return
    await _back_from_blocking(services, user.id)
    internal = subject.kind is SubjectKind.DEPARTMENT
    # Internal: compose_digest swaps the open week for the latest closed one. Two requests
    # minutes apart then show the same, fixed numbers, so the difference between them can
    # never be one colleague's answer. External: the week so far (buyers may be identified
    # by the owner anyway when they consent, and are not colleagues).
    parts = await sender.digest_parts(
        services, subject, lang, week_key(services.today()), closed_only=internal
    )
    if internal:
        rule = digest_rule(lang, subject.kind)
        await reply(update, t(lang, "delivery.digest.internal_closed", rule=rule))
    # A handful of messages answering a command: the app's rate limiter paces them.
    await sender.send_parts(context.bot, chat.id, parts, sender.Pacer.unpaced())


async def _back_from_blocking(services: Services, telegram_id: int) -> None:
    """An owner who writes to the bot has evidently unblocked it: deliver again."""
    settings = await owner_repo.get_owner_settings(
        services.db.conn, telegram_id, default_timezone=services.settings.timezone
    )
    if not settings.active:
        async with services.db.transaction() as conn:
            await owner_repo.update_owner_settings(
                conn, telegram_id, default_timezone=services.settings.timezone, active=True
            )


# ---------------------------------------------------------------------- /settings


def _day(lang: str, weekday: int, *, short: bool = False) -> str:
    return plain(lang, f"delivery.settings.{'day_short' if short else 'day'}_{weekday}")


def _when(lang: str, moment: datetime, zone: str) -> Markup:
    local = moment.astimezone(ZoneInfo(zone))
    return t(
        lang,
        "delivery.settings.when",
        day=_day(lang, local.weekday()),
        date=local.strftime("%d.%m.%Y"),
        time=local.strftime("%H:%M"),
        timezone=zone,
    )


def settings_text(
    services: Services, settings: OwnerSettings, lang: str, *, owns_product: bool
) -> Markup:
    """The owner's current settings, the next digest time and what alerts are."""
    if owns_product:
        alerts = t(lang, f"delivery.settings.alerts_{'on' if settings.detractor_alerts else 'off'}")
    else:
        alerts = t(lang, "delivery.settings.alerts_na")
    lines = [
        t(lang, "delivery.settings.title"),
        Markup(),
        t(
            lang,
            "delivery.settings.summary",
            day=_day(lang, settings.weekday),
            hour=f"{settings.hour:02d}:00",
            timezone=settings.timezone,
            state=t(lang, f"delivery.settings.state_{'paused' if settings.paused else 'on'}"),
            alerts=alerts,
        ),
        Markup(),
    ]
    if settings.paused:
        lines.append(t(lang, "delivery.settings.paused_note"))
    else:
        moment = scheduler.next_digest_at(
            scheduler.SendTime.of(settings), services.now(), period_zone=services.settings.timezone
        )
        lines.append(t(lang, "delivery.settings.next", when=_when(lang, moment, settings.timezone)))
    lines += [Markup(), t(lang, "delivery.settings.alerts_note")]
    lines.append(t(lang, "delivery.settings.typed_hint"))
    return join("\n", lines)


def _button(text: str, name: SettingsButton, value: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=encode(Action.SETTINGS, name, value))


def settings_keyboard(
    settings: OwnerSettings, lang: str, view: SettingsView, *, owns_product: bool
) -> InlineKeyboardMarkup:
    """The main menu, or the picker of one setting (view: main, day, hour, tz)."""
    back = [
        _button(
            plain(lang, "delivery.settings.button_back"), SettingsButton.SHOW, SettingsView.MAIN
        )
    ]
    if view is SettingsView.DAY:
        days = [
            _button(
                ("✓ " if d == settings.weekday else "") + _day(lang, d, short=True),
                SettingsButton.DAY,
                d,
            )
            for d in range(7)
        ]
        return InlineKeyboardMarkup([days[:4], days[4:], back])
    if view is SettingsView.HOUR:
        hours = [
            _button(("✓ " if h == settings.hour else "") + f"{h:02d}:00", SettingsButton.HOUR, h)
            for h in HOURS
        ]
        return InlineKeyboardMarkup([hours[:5], hours[5:], back])
    if view is SettingsView.TZ:
        zones = [
            [_button(("✓ " if z == settings.timezone else "") + z, SettingsButton.TZ, z)]
            for z in COMMON_ZONES
        ]
        return InlineKeyboardMarkup([*zones, back])
    rows = [
        [
            _button(
                plain(lang, "delivery.settings.button_day"), SettingsButton.SHOW, SettingsView.DAY
            ),
            _button(
                plain(lang, "delivery.settings.button_hour"), SettingsButton.SHOW, SettingsView.HOUR
            ),
        ],
        [
            _button(
                plain(lang, "delivery.settings.button_timezone"),
                SettingsButton.SHOW,
                SettingsView.TZ,
            )
        ],
        [
            _button(plain(lang, "delivery.settings.button_resume"), SettingsButton.PAUSE, 0)
            if settings.paused
            else _button(plain(lang, "delivery.settings.button_pause"), SettingsButton.PAUSE, 1)
        ],
    ]
    if owns_product:
        rows.append(
            [
                _button(
                    plain(lang, "delivery.settings.button_alerts_off"), SettingsButton.ALERTS, 0
                )
                if settings.detractor_alerts
                else _button(
                    plain(lang, "delivery.settings.button_alerts_on"), SettingsButton.ALERTS, 1
                )
            ]
        )
    return InlineKeyboardMarkup(rows)


async def _owner_state(services: Services, telegram_id: int) -> tuple[bool, bool]:
    """(owns anything, owns a product)."""
    owned = await owner_repo.list_owned_subjects(services.db.conn, telegram_id)
    return bool(owned), any(s.kind is SubjectKind.PRODUCT for s in owned)


async def _update(services: Services, telegram_id: int, **changes: Any) -> OwnerSettings:
    async with services.db.transaction() as conn:
        return await owner_repo.update_owner_settings(
            conn, telegram_id, default_timezone=services.settings.timezone, **changes
        )


async def _typed_change(
    services: Services, telegram_id: int, lang: str, args: list[str], owns_product: bool
) -> Markup | None:
    """Apply `/settings NAME VALUE`; returns an error or usage text, or None when applied."""
    try:
        changes = owner_settings.typed_change(args, owns_product=owns_product)
    except BadTimezone as bad:
        return t(lang, "delivery.settings.bad_timezone", zone=bad.zone)
    except BadHour:
        return t(lang, "delivery.settings.bad_hour")
    except BadDay as bad:
        return t(lang, "delivery.settings.bad_day", day=bad.day)
    except AlertsProductsOnly:
        return t(lang, "delivery.settings.alerts_products_only")
    except SettingsUsage:
        return t(lang, "delivery.settings.usage")
    await _update(services, telegram_id, **changes)
    return None


async def on_settings(update: Update, context: FeedbotContext) -> None:
    """/settings [NAME VALUE]: when digests arrive, pausing them, detractor alerts."""
    services = context.services
    user, lang = await context.caller(update)
    owns, owns_product = await _owner_state(services, user.id)
    if not owns:
        await reply(update, t(lang, "owner.not_owner"))
        return
    await _back_from_blocking(services, user.id)
    if context.args:
        problem = await _typed_change(services, user.id, lang, list(context.args), owns_product)
        if problem is not None:
            await reply(update, problem)
            return
    settings = await owner_repo.get_owner_settings(
        services.db.conn, user.id, default_timezone=services.settings.timezone
    )
    await reply(
        update,
        settings_text(services, settings, lang, owns_product=owns_product),
        reply_markup=settings_keyboard(
            settings, lang, SettingsView.MAIN, owns_product=owns_product
        ),
    )


async def on_settings_button(update: Update, context: FeedbotContext) -> None:
    """A /settings button: open a picker, or change one setting and show the menu again."""
    services = context.services
    query, callback = pressed(update)
    user, lang = await context.caller(update)
    owns, owns_product = await _owner_state(services, user.id)
    if not owns:
        await query.answer(plain(lang, "owner.not_owner"), show_alert=True)
        return
    name, value = callback.args
    try:
        view, changes = owner_settings.button_press(name, value, owns_product=owns_product)
    except AlertsProductsOnly:
        await query.answer(plain(lang, "delivery.settings.alerts_products_only"), show_alert=True)
        return
    except BadButton:
        await refuse_press(services, query, lang, "bad_setting", update.update_id)
        return
    if changes:
        settings = await _update(services, user.id, **changes)
        await query.answer(plain(lang, "delivery.settings.saved"))
    else:
        settings = await owner_repo.get_owner_settings(
            services.db.conn, user.id, default_timezone=services.settings.timezone
        )
        await query.answer()
    prompts = {
        SettingsView.DAY: "delivery.settings.pick_day",
        SettingsView.HOUR: "delivery.settings.pick_hour",
        SettingsView.TZ: "delivery.settings.pick_timezone",
    }
    text = (
        t(lang, prompts[view])
        if view in prompts
        else settings_text(services, settings, lang, owns_product=owns_product)
    )
    keyboard = settings_keyboard(settings, lang, view, owns_product=owns_product)
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except BadRequest:  # not modified, or too old to edit: send it afresh
        await reply(update, text, reply_markup=keyboard)


# ---------------------------------------------------------------------- /pulses


async def _set_muted(update: Update, context: FeedbotContext, lang: str, muted: bool) -> None:
    services = context.services
    user = context.user(update)
    async with services.db.transaction() as conn:
        await member_repo.set_pulse_muted(conn, user.id, muted)
    if not muted and services.settings.pulse_weeks == 0:
        await reply(update, t(lang, "delivery.pulses.disabled"))
        return
    if muted:
        await reply(update, t(lang, "member.pulses_off"))
        return
    # The interval the scheduler applies (FEEDBOT_PULSE_WEEKS), not a fixed "monthly".
    weeks = services.settings.pulse_weeks
    every = t(lang, plural(weeks, lang, *_EVERY_WEEKS), weeks=weeks)
    await reply(update, t(lang, "member.pulses_on", every=every))


async def on_pulses(update: Update, context: FeedbotContext) -> None:
    """/pulses [on|off]: toggle (or set) the periodic invitations to evaluate."""
    services = context.services
    user, lang = await context.caller(update)
    member = await member_repo.get_member(services.db.conn, user.id)
    if member is None:
        await reply(update, t(lang, "member.not_member"))
        return
    switch = owner_settings.parse_switch(context.args[0]) if context.args else None
    muted = not member.pulse_muted if switch is None else not switch
    await _set_muted(update, context, lang, muted)


async def on_mute_button(update: Update, context: FeedbotContext) -> None:
    """The mute button under a pulse invitation (1 mutes, 0 unmutes)."""
    services = context.services
    query, callback = pressed(update)
    user, lang = await context.caller(update)
    if callback.value not in ("0", "1"):
        await refuse_press(services, query, lang, "bad_value", update.update_id)
        return
    if await member_repo.get_member(services.db.conn, user.id) is None:
        await query.answer(plain(lang, "member.not_member"), show_alert=True)
        return
    muted = callback.value == "1"
    await query.answer(plain(lang, f"delivery.pulses.{'mute' if muted else 'unmute'}_answer"))
    message = query.message
    markup = getattr(message, "reply_markup", None)
    if muted and isinstance(markup, InlineKeyboardMarkup):
        # The department buttons stay; only the mute button goes.
        rows = [
            row
            for row in markup.inline_keyboard
            if not any(b.callback_data == encode(Action.MUTE_PULSE, 1) for b in row)
        ]
        try:
            await query.edit_message_reply_markup(InlineKeyboardMarkup(rows))
        except BadRequest:
            pass
    await _set_muted(update, context, lang, muted)


# ---------------------------------------------------------------------- blocking


async def on_my_chat_member(update: Update, context: FeedbotContext) -> None:
    """A user blocked or unblocked the bot: pause or resume an owner's deliveries."""
    change = update.my_chat_member
    if change is None or change.chat.type != "private":
        return
    services = context.services
    user_id = change.chat.id
    owns, _ = await _owner_state(services, user_id)
    if not owns:
        return
    status = change.new_chat_member.status
    async with services.db.transaction() as conn:
        if status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
            await owner_repo.mark_owner_inactive(conn, user_id)
        elif status == ChatMemberStatus.MEMBER:
            await owner_repo.update_owner_settings(
                conn, user_id, default_timezone=services.settings.timezone, active=True
            )
