"""Helpers for delivery tests: the flow-test world of tests/bot, owners, members, answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from bot.delivery import scheduler
from bot.delivery.sender import Pacer
from storage import members as member_repo
from storage import outbox as outbox_repo
from storage import owners as owner_repo
from storage import sessions as session_repo
from storage import users as user_repo
from storage.models import MemberRole, OutboxItem, Session
from surveys import engine, periods
from surveys.schema import AnswerValue, Audience
from tests.bot.conftest import BotWorld, Clock, start_world, stop_world

__all__ = ["BotWorld", "Clock", "start_world", "stop_world"]

# Wednesday 2026-11-25 10:00 in Warsaw: week 2026-W48 is in progress, W47 is closed
# and its Monday 09:00 digest is due.
WEDNESDAY = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
OWNER = 7001
_respondents = count(300_000)


async def tick(world: BotWorld) -> scheduler.TickReport:
    """One run of the delivery job, without pacing (the job queue never runs in tests)."""
    return await scheduler.tick(world.services, world.app.bot, pacer=Pacer.unpaced())


async def add_owner(
    world: BotWorld, telegram_id: int, slug: str, *, since: datetime | None = None, **settings: Any
) -> None:
    """Make a user the owner of a subject (since long ago unless told), with settings."""
    services = world.services
    async with services.db.transaction() as conn:
        await user_repo.touch_user(conn, telegram_id, lang_hint="en", now=world.clock())
        await owner_repo.add_owner(
            conn,
            telegram_id,
            world.subjects[slug].id,
            now=since or world.clock() - timedelta(weeks=8),
        )
        if settings:
            await owner_repo.update_owner_settings(
                conn, telegram_id, default_timezone=services.settings.timezone, **settings
            )
    world.user(telegram_id, "Owner")


async def add_member(
    world: BotWorld,
    telegram_id: int,
    department: str | None = "marketing",
    *,
    since: datetime | None = None,
    muted: bool = False,
    lang: str = "en",
) -> None:
    """Register an internal member (an employee of `department`, else a contractor)."""
    services = world.services
    async with services.db.transaction() as conn:
        await user_repo.touch_user(conn, telegram_id, lang_hint=lang, now=world.clock())
        await member_repo.register_member(
            conn,
            telegram_id,
            role=MemberRole.EMPLOYEE if department else MemberRole.CONTRACTOR,
            department_id=world.subjects[department].id if department else None,
            now=since or world.clock() - timedelta(weeks=8),
        )
        if muted:
            await member_repo.set_pulse_muted(conn, telegram_id, True)
    world.user(telegram_id, "Member", lang=lang)


async def respond(
    world: BotWorld,
    slug: str,
    answers: dict[str, AnswerValue],
    *,
    at: datetime | None = None,
    respondent: int | None = None,
) -> Session:
    """Store one completed response the way the flow does (engine records, storage),
    submitted at `at` (default: now). Returns the session as it was while open."""
    services = world.services
    subject = world.subjects[slug]
    definition = services.surveys.latest(subject.survey_id)
    moment = at or world.clock()
    day = moment.astimezone(services.settings.tz).date()
    week = periods.week_key(day)
    unique = periods.period_key(day, definition.period)
    who = respondent if respondent is not None else next(_respondents)
    async with services.db.transaction() as conn:
        session = await session_repo.start_session(
            conn,
            respondent_id=who,
            chat_id=who,
            survey_id=definition.id,
            survey_version=definition.version,
            subject_id=subject.id,
            audience=definition.audience,
            role="employee" if definition.audience is Audience.INTERNAL else None,
            state_json=engine.new_state().to_json(),
            now=moment,
            week_key=week,
        )
        await session_repo.complete_session(
            conn,
            session,
            records=engine.answer_records(definition, answers),
            marker=services.pseudonym(who, subject.id, unique),
            next_possible=periods.span(unique).next_start,
            contact_id=None,
            now=moment,
            week_key=week,
        )
    return session


def internal_answers(score: int) -> dict[str, AnswerValue]:
    """An internal response giving every dimension `score` (1-5)."""
    return {
        "overall": score,
        "reliability": score,
        "responsiveness": score,
        "communication": score,
        "quality": score,
        "recommend": min(10, score * 2),
    }


def buyer_answers(nps: int, csat: int = 4, **more: AnswerValue) -> dict[str, AnswerValue]:
    """An external response."""
    return {"nps": nps, "csat": csat, "effort": 6, "contact_consent": False, **more}


async def outbox(world: BotWorld, kind: str | None = None) -> list[OutboxItem]:
    return await outbox_repo.list_items(world.services.db.conn, kind)
