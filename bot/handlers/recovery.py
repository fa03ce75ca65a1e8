"""Questions that never reached their respondents: sent again at start-up and on redelivery;
and thank-yous a crash kept from going out, sent when their update comes again."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from telegram import Update
from telegram.error import TelegramError

from bot.context import FeedbotApplication, FeedbotContext, user_language
from bot.handlers.common import answer_query, resend_thanks
from bot.handlers.survey import resend_current, resend_if_missing
from storage import sessions as session_repo
from storage.models import Session

log = logging.getLogger(__name__)

# Seconds the start-up pass may take before polling starts anyway.
BUDGET = 60.0
# Questions re-sent at once at start-up (each waits for AIORateLimiter's turn anyway).
PARALLEL = 8
# A question missing for longer is not sent out of the blue at a start: it comes back at
# the respondent's next message or press (a bot down that long has other news to tell).
RECENT = timedelta(days=1)
# Sessions looked at per start-up; more than that many open surveys at a crash is not
# expected, and any left over get their question at their respondent's next action.
LIMIT = 10_000


async def on_redelivered(update: Update, context: FeedbotContext) -> None:
    """An update applied before a restart came again: its effect is stored, but what it
    should have shown may not be. Answer its press and re-send the current question if
    it never went out (the start-up pass usually did already: then nothing more); if
    the update completed a survey whose thank-you was never sent, send that."""
    services = context.services
    if update.callback_query is not None:
        await answer_query(services, update.callback_query)
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    lang = await context.language(update)
    if await resend_thanks(context, update.update_id, chat.id, lang):
        return
    session = await session_repo.get_active_session(services.db.conn, user.id)
    token = _invite_token(update)
    if session is not None:
        await resend_if_missing(context, session, lang)
    elif token is not None:
        # The invite was taken, but what it opens may never have been shown (a buyer's
        # /start applies in two transactions: the invite, then the survey): show it now.
        from bot.handlers.start import reopen_invite

        await reopen_invite(update, context, token, lang)


def _invite_token(update: Update) -> str | None:
    """The invite of a "/start <token>" message, else None."""
    message = update.message
    text = message.text if message is not None else None
    if not text or not text.startswith("/start "):
        return None
    parts = text.split()
    return parts[1] if len(parts) == 2 else None


async def resend_pending(app: FeedbotApplication) -> int:
    """At start-up, before polling: send the current question of every open session
    whose question may not have been sent; returns how many were sent."""
    services = app.services
    pending = await session_repo.pending_prompts(
        services.db.conn, answered_since=services.now() - RECENT, limit=LIMIT
    )
    if not pending:
        return 0
    context = FeedbotContext(app)  # the context of a job: the bot and services, no update
    gate = asyncio.Semaphore(PARALLEL)
    sent = 0

    async def one(session: Session) -> None:
        nonlocal sent
        assert session.respondent_id is not None, "an open session knows its respondent"
        async with gate:
            lang = await user_language(services, session.respondent_id)
            try:
                await resend_current(context, session, lang)
            except TelegramError as exc:  # e.g. the user blocked the bot meanwhile
                log.warning("question of session %s not re-sent: %s", session.id, exc)
                return
        if not services.prompts.pending(session):
            sent += 1

    try:
        # Polling waits for this: with Telegram failing, the retries must not hold it long.
        async with asyncio.timeout(BUDGET):
            await asyncio.gather(*(one(session) for session in pending))
    except TimeoutError:
        log.warning(
            "re-sending questions at start-up took over %g s; the rest come back at"
            " their respondents' next message or press",
            BUDGET,
        )
    log.info("re-sent %d of %d questions left unsent before the restart", sent, len(pending))
    return sent
