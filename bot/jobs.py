"""Background jobs: the one reminder for an unfinished survey, closing stale ones, and
scrubbing the database files (hourly, and within minutes of an internal survey ending).
bot.app lists them with their intervals."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta

from telegram.error import Forbidden, TelegramError

from bot import flow, render
from bot.context import FeedbotContext, user_language
from bot.i18n import t
from bot.services import Services
from storage import inbox as inbox_repo
from storage import schedule as schedule_repo
from storage import sessions as session_repo
from storage import subjects as subject_repo
from storage import thanks as thanks_repo
from storage import updates as update_repo
from storage.connection import DatabaseUnavailable
from surveys import engine
from surveys.periods import week_key

log = logging.getLogger(__name__)

BATCH = 200


async def send_reminders(context: FeedbotContext) -> None:
    """One gentle reminder per unfinished survey idle for FEEDBOT_REMINDER_HOURS; never two."""
    services = context.services
    idle_since = services.now() - timedelta(hours=services.settings.reminder_hours)
    due = await session_repo.sessions_to_remind(
        services.db.conn, idle_since=idle_since, limit=BATCH
    )
    for session in due:
        # Marked first: a crash after sending must not lead to a second reminder. Not
        # marked (by another instance, or the respondent answered meanwhile): not sent.
        async with services.db.transaction() as conn:
            if not await session_repo.mark_reminded(conn, session.id, now=services.now()):
                continue
        if session.respondent_id is None:
            continue
        lang = await user_language(services, session.respondent_id)
        subject = await subject_repo.get_subject_by_id(services.db.conn, session.subject_id)
        name = subject.name(lang) if subject is not None else "?"
        keyboard = render.resume_keyboard(session.id, lang, start_over=False)
        try:
            await context.bot.send_message(
                flow.chat_of(session),
                t(lang, "survey.reminder", subject=name),
                reply_markup=keyboard,
            )
        except Forbidden:
            log.info("user blocked the bot; reminder for session %s dropped", session.id)
        except TelegramError:
            log.warning("reminder for session %s failed", session.id, exc_info=True)


async def close_stale_sessions(context: FeedbotContext) -> None:
    """Close sessions idle past FEEDBOT_ABANDON_DAYS, keeping answers as partial responses."""
    services = context.services
    await abandon_stale(services)
    # Telegram keeps an unconfirmed update for at most 24 hours; older ids are dead weight.
    async with services.db.transaction() as conn:
        await update_repo.prune_processed(conn, older_than=services.now() - timedelta(days=2))
        await inbox_repo.prune_done(conn, older_than=services.now() - timedelta(days=2))
        await schedule_repo.prune_runs(conn, older_than=services.now() - timedelta(days=2))
        await thanks_repo.prune(conn, older_than=services.now() - timedelta(days=2))
    # What ended this hour (deleted sessions, the order rows went in) leaves the files.
    await scrub_files(services)


# How soon after an internal survey ends the files are rewritten: a copy of the database
# taken before that shows the order in which those responses were stored.
SCRUB_AFTER_INTERNAL_SECONDS = 300


async def scrub_after_internal(context: FeedbotContext) -> None:
    """Scrub the files within minutes of an internal survey ending, not only hourly."""
    services = context.services
    if services.internal_ended_since_scrub:
        await scrub_files(services)


async def scrub_files(services: Services) -> None:
    """Rewrite the database files (`Database.scrub`); retried at the next run on failure."""
    pending = services.internal_ended_since_scrub
    services.internal_ended_since_scrub = False
    try:
        await services.db.scrub()
    except (sqlite3.OperationalError, DatabaseUnavailable) as exc:
        services.internal_ended_since_scrub = pending
        log.warning("database scrub postponed to the next run: %s", exc)


async def abandon_stale(services: Services) -> int:
    """Close every stale session; returns how many were closed."""
    idle_since = services.now() - timedelta(days=services.settings.abandon_days)
    closed = 0
    while True:
        stale = await session_repo.stale_sessions(
            services.db.conn, idle_since=idle_since, limit=BATCH
        )
        if not stale:
            return closed
        for session in stale:
            definition = flow.definition_for(services, session)
            state = engine.SessionState.from_json(session.state_json)
            async with services.db.transaction() as conn:
                await session_repo.abandon_session(
                    conn,
                    session,
                    records=engine.answer_records(definition, state.answers),
                    now=services.now(),
                    week_key=week_key(services.today()),
                )
            closed += 1
        if len(stale) < BATCH:
            return closed
