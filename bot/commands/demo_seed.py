"""Filling the demo database: subjects, members and owners, then every week's sessions."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING

from bot.commands.demo_data import (
    BUYER_IDS_FROM,
    CONTRACTORS,
    DEPARTMENTS,
    MEMBER_IDS_FROM,
    OWNER_IDS_FROM,
    PRODUCTS,
    SUPPLIERS,
    Answerer,
    buyer_answerer,
    generic_answer,
    internal_answerer,
)
from bot.config import Settings
from storage import members as member_repo
from storage import owners as owner_repo
from storage import sessions as session_repo
from storage import subjects as subject_repo
from storage import users as user_repo
from storage.connection import Connection
from storage.models import InvitationSource, MemberRole, Subject, SubjectKind
from surveys import engine, periods
from surveys.schema import Audience, SurveyDefinition

if TYPE_CHECKING:  # `feedbot --help` imports this module, and bot.services loads telegram
    from bot.services import Services


@dataclass
class Counts:
    """How much the demo generated."""

    responses: int = 0
    partial: int = 0
    buyers: int = 0


@dataclass(frozen=True)
class Respondent:
    """Who answers, as the bot's session would hold it."""

    telegram_id: int
    role: str | None


async def _respond(
    services: Services,
    conn: Connection,
    definition: SurveyDefinition,
    subject: Subject,
    who: Respondent,
    answer: Answerer,
    *,
    started: datetime,
    week: str,
    rng: random.Random,
    counts: Counts,
) -> None:
    """One session through the engine and storage: completed, or abandoned part-way."""
    # Here, not at the top: bot.delivery loads telegram, which `feedbot --help` must not load.
    from bot.delivery.alerts import consented

    state = engine.new_state()
    session = await session_repo.start_session(
        conn,
        respondent_id=who.telegram_id,
        chat_id=who.telegram_id,
        survey_id=definition.id,
        survey_version=definition.version,
        subject_id=subject.id,
        audience=definition.audience,
        role=who.role,
        state_json=state.to_json(),
        now=started,
        week_key=week,
    )
    # About one in ten stops part-way (sometimes before answering anything).
    stop_after = rng.randint(0, 4) if rng.random() < 0.1 else None
    answered = 0
    while True:
        step = engine.next_step(definition, state)
        if isinstance(step, engine.Done) or answered == stop_after:
            break
        value = answer(step.question)
        if value is None and step.question.required:
            value = generic_answer(rng, step.question)
        result = engine.apply_answer(definition, state, step.question.id, value)
        if isinstance(result, engine.Rejection):
            result = engine.skip(definition, state, step.question.id)
        assert not isinstance(result, engine.Rejection), result
        state = result
        answered += 1
    finished = started + timedelta(minutes=rng.randint(1, 6))
    day = finished.astimezone(services.settings.tz).date()
    unique = periods.period_key(day, definition.period)
    records = engine.answer_records(definition, state.answers)
    pseudonym = services.pseudonym(who.telegram_id, subject.id, unique)
    if stop_after is not None and not isinstance(engine.next_step(definition, state), engine.Done):
        response = await session_repo.abandon_session(
            conn,
            session,
            records=records,
            now=finished + timedelta(days=1),
            week_key=week,
        )
        if response is not None:
            counts.partial += 1
            counts.responses += 1
        return
    external = definition.audience is Audience.EXTERNAL
    await session_repo.complete_session(
        conn,
        session,
        records=records,
        marker=pseudonym,
        next_possible=periods.span(unique).next_start,
        contact_id=who.telegram_id if external and consented(definition, state.answers) else None,
        now=finished,
        week_key=week,
    )
    counts.responses += 1


def _moment_in(week: str, rng: random.Random, settings: Settings) -> datetime:
    """A working-hours moment in a week, in UTC."""
    day = periods.span(week).start + timedelta(days=rng.randint(0, 4))
    local = datetime.combine(
        day, clock_time(rng.randint(8, 16), rng.randint(0, 59)), tzinfo=settings.tz
    )
    return local.astimezone(UTC)


async def seed_database(
    services: Services, history: list[str], rng: random.Random
) -> tuple[int, Counts]:
    """Subjects, owners, members and every week's responses; returns (members, counts)."""
    settings, db, catalog = services.settings, services.db, services.surveys
    internal, external = catalog.latest("internal"), catalog.latest("external")
    joined = _moment_in(periods.shift(history[0], -1), rng, settings)
    members: list[tuple[int, MemberRole, int | None]] = []
    async with db.transaction() as conn:
        departments = [
            await subject_repo.add_subject(
                conn,
                slug=d.slug,
                kind=SubjectKind.DEPARTMENT,
                names=d.names,
                survey_id=internal.id,
                now=joined,
            )
            for d in DEPARTMENTS
        ]
        products = [
            await subject_repo.add_subject(
                conn,
                slug=p.slug,
                kind=SubjectKind.PRODUCT,
                names=p.names,
                survey_id=external.id,
                now=joined,
            )
            for p in PRODUCTS
        ]
        next_id = MEMBER_IDS_FROM
        for department_spec, department in zip(DEPARTMENTS, departments, strict=True):
            for _ in range(department_spec.staff):
                members.append((next_id, MemberRole.EMPLOYEE, department.id))
                next_id += 1
        for role, count in ((MemberRole.CONTRACTOR, CONTRACTORS), (MemberRole.SUPPLIER, SUPPLIERS)):
            for _ in range(count):
                members.append((next_id, role, None))
                next_id += 1
        for telegram_id, role, department_id in members:
            await user_repo.touch_user(
                conn, telegram_id, lang_hint=rng.choice(("pl", "pl", "en")), now=joined
            )
            await member_repo.register_member(
                conn, telegram_id, role=role, department_id=department_id, now=joined
            )
        for offset, subject in enumerate([*departments, *products]):
            await owner_repo.add_owner(conn, OWNER_IDS_FROM + offset, subject.id, now=joined)

    counts = Counts()
    buyer_id = BUYER_IDS_FROM
    for index, week in enumerate(history):
        progress = index / max(len(history) - 1, 1)
        # One transaction per week: the demo stays fast, and a week is all or nothing.
        async with db.transaction() as conn:
            for telegram_id, _, _ in members:
                # Weekly pulses in the demo: every member is invited every week.
                await member_repo.record_invitation(
                    conn, telegram_id, week_key=week, source=InvitationSource.PULSE
                )
            for department_spec, department in zip(DEPARTMENTS, departments, strict=True):
                start, end = department_spec.quality_from, department_spec.quality_to
                quality = start + (end - start) * progress + rng.gauss(0, 0.12)
                for telegram_id, role, department_id in members:
                    if department_id == department.id:
                        continue  # never one's own department
                    if rng.random() > department_spec.answer_rate:
                        continue
                    await _respond(
                        services,
                        conn,
                        internal,
                        department,
                        Respondent(telegram_id, role.value),
                        internal_answerer(rng, department_spec, quality),
                        started=_moment_in(week, rng, settings),
                        week=week,
                        rng=rng,
                        counts=counts,
                    )
            for product_spec, product in zip(PRODUCTS, products, strict=True):
                start, end = product_spec.mood_from, product_spec.mood_to
                mood = start + (end - start) * progress
                for _ in range(rng.randint(*product_spec.buyers)):
                    await _respond(
                        services,
                        conn,
                        external,
                        product,
                        Respondent(buyer_id, None),
                        buyer_answerer(rng, product_spec, mood),
                        started=_moment_in(week, rng, settings),
                        week=week,
                        rng=rng,
                        counts=counts,
                    )
                    buyer_id += 1
    counts.buyers = buyer_id - BUYER_IDS_FROM
    return len(members), counts
