"""Refusing a forged or malformed button press: one polite toast and one WARNING line."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Update

from bot.callbacks import CallbackDataError, decode
from bot.context import FeedbotContext
from bot.handlers.common import answer_query
from bot.i18n import plain
from bot.services import Services

log = logging.getLogger(__name__)


async def refuse_press(
    services: Services, query: CallbackQuery, lang: str, kind: str, update_id: int
) -> None:
    """Answer a press feedbot could not have produced with "this button doesn't work any
    more" and log it once at WARNING.

    The line names the update and the class of the problem (kept in the record as
    `refused` for counting) but neither the user nor the callback data: forged data may
    carry answer content, and a Telegram id beside it would break anonymity.
    """
    log.warning(
        "refused a button press (%s) in update %s", kind, update_id, extra={"refused": kind}
    )
    await answer_query(services, query, plain(lang, "callback.invalid"))


async def refused_undecodable(update: Update, context: FeedbotContext) -> bool:
    """Refuse a press whose data does not decode (bot.callbacks); True when refused. Run
    before the button routes, so that each route sees only data feedbot produced."""
    query = update.callback_query
    if query is None:
        return False
    try:
        decode(query.data)
    except CallbackDataError as exc:
        lang = await context.language(update)
        await refuse_press(context.services, query, lang, exc.kind, update.update_id)
        return True
    return False


async def on_unrouted_press(update: Update, context: FeedbotContext) -> None:
    """A press with well-formed data that no button route takes: refused like a forgery."""
    query = update.callback_query
    assert query is not None
    lang = await context.language(update)
    await refuse_press(context.services, query, lang, "unknown_action", update.update_id)
