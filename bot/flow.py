"""Survey orchestration between the engine and storage; no Telegram types here."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from bot.delivery import alerts
from bot.services import Services
from storage import sessions as session_repo
from storage import thanks as thanks_repo
from storage import updates as update_repo
from storage.connection import Connection
from storage.errors import AlreadyAnswered
from storage.models import Session, Subject
from surveys import engine
from surveys.periods import period_key, span, week_key
from surveys.schema import Audience, Metric, QuestionType, SurveyDefinition

log = logging.getLogger(__name__)


class Op(StrEnum):
    """What a respondent did to the current question."""

    ANSWER = "answer"
    TOGGLE = "toggle"
    CONFIRM = "confirm"
    SKIP = "skip"
    BACK = "back"


@dataclass(frozen=True)
class Ask:
    """The next question to show."""

    session: Session
    definition: SurveyDefinition
    step: engine.QuestionStep


@dataclass(frozen=True)
class Finished:
    """The survey was completed and the response stored."""

    session: Session
    definition: SurveyDefinition
    answers: dict[str, engine.AnswerValue]
    # The update that completed it, whose thank-you is owed until sent (storage.thanks).
    update_id: int | None = None


@dataclass(frozen=True)
class Refused:
    """Nothing changed; `key` names the catalog text explaining why."""

    key: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Duplicate:
    """The same update was already applied (Telegram delivered it twice)."""


Outcome = Ask | Finished | Refused | Duplicate


def chat_of(session: Session) -> int:
    """The chat of an open session (only finished sessions forget it)."""
    assert session.chat_id is not None, "an open session knows its chat"
    return session.chat_id


def definition_for(services: Services, session: Session) -> SurveyDefinition:
    """The survey version a session was started with (kept even after the YAML changes)."""
    return services.surveys.get(session.survey_id, session.survey_version)


def unique_key(services: Services, definition: SurveyDefinition) -> str:
    """The key of the period within which one respondent may answer once."""
    return period_key(services.today(), definition.period)


def next_possible(services: Services, definition: SurveyDefinition) -> date:
    """The first day a respondent who answered today may answer again."""
    return span(unique_key(services, definition)).next_start


async def already_answered(services: Services, telegram_id: int, subject: Subject) -> date | None:
    """The date this person may evaluate `subject` again, or None if they may now."""
    definition = services.surveys.latest(subject.survey_id)
    key = unique_key(services, definition)
    marker = services.pseudonym(telegram_id, subject.id, key)
    if await session_repo.has_answered(services.db.conn, marker):
        return span(key).next_start
    return None


async def begin(
    services: Services, *, telegram_id: int, chat_id: int, subject: Subject, role: str | None
) -> Ask | Refused:
    """Start a survey about `subject` (caller ensured no other survey is open)."""
    again = await already_answered(services, telegram_id, subject)
    if again is not None:
        return Refused("survey.already_answered", {"date": again})
    definition = services.surveys.latest(subject.survey_id)
    state = engine.new_state()
    async with services.db.one_statement() as conn:
        session = await session_repo.start_session(
            conn,
            respondent_id=telegram_id,
            chat_id=chat_id,
            survey_id=definition.id,
            survey_version=definition.version,
            subject_id=subject.id,
            audience=definition.audience,
            role=role,
            state_json=state.to_json(),
            now=services.now(),
            week_key=week_key(services.today()),
        )
    step = engine.next_step(definition, state)
    assert isinstance(step, engine.QuestionStep), "a survey has at least one question"
    return Ask(session, definition, step)


def current(services: Services, session: Session) -> Ask | Finished:
    """Where an open session stands (for resume and for re-sending after a stale button)."""
    definition = definition_for(services, session)
    state = engine.SessionState.from_json(session.state_json)
    step = engine.next_step(definition, state)
    if isinstance(step, engine.Done):
        return Finished(session, definition, step.answers)
    return Ask(session, definition, step)


def _apply(
    definition: SurveyDefinition,
    state: engine.SessionState,
    op: Op,
    question_id: str,
    value: engine.AnswerValue,
) -> engine.SessionState | engine.Rejection:
    if op is Op.ANSWER:
        return engine.apply_answer(definition, state, question_id, value)
    if op is Op.TOGGLE:
        return engine.toggle_choice(definition, state, question_id, str(value))
    if op is Op.CONFIRM:
        return engine.confirm_choices(definition, state, question_id)
    if op is Op.SKIP:
        return engine.skip(definition, state, question_id)
    step = engine.next_step(definition, state)
    if isinstance(step, engine.QuestionStep) and step.question.id != question_id:
        return engine.Rejection("not_current_question", {})
    return engine.go_back(definition, state)


async def act(
    services: Services,
    session: Session,
    *,
    op: Op,
    question_id: str,
    value: engine.AnswerValue = None,
    update_id: int | None = None,
) -> Outcome:
    """Apply one respondent action and commit it before anything is sent back."""
    definition = definition_for(services, session)
    state = engine.SessionState.from_json(session.state_json)
    result = _apply(definition, state, op, question_id, value)
    if isinstance(result, engine.Rejection):
        return Refused(f"error.{result.key}", dict(result.params))
    step = engine.next_step(definition, result)
    state_json = result.to_json()
    now = services.now()
    try:
        if isinstance(step, engine.Done):
            async with services.db.transaction() as conn:
                if update_id is not None and not await update_repo.mark_processed(
                    conn, update_id, now=now
                ):
                    return Duplicate()
                await _complete(services, conn, session, definition, step.answers)
                if update_id is not None:
                    # Owed until sent: a redelivery after a crash sends it (bot.prompts).
                    await thanks_repo.record(
                        conn,
                        update_id,
                        subject_id=session.subject_id,
                        survey_id=definition.id,
                        survey_version=definition.version,
                        now=now,
                    )
        else:
            # One statement on PostgreSQL (storage.sessions.save_answer): most updates
            # are answers, and a transaction would cost four round trips. Until the
            # next question is sent it is pending. A toggle was pressed on the question
            # itself, which is on screen: not pending.
            async with services.db.one_statement() as conn:
                if not await session_repo.save_answer(
                    conn,
                    session.id,
                    update_id=update_id,
                    state_json=state_json,
                    now=now,
                    prompt_pending=op is not Op.TOGGLE,
                ):
                    return Duplicate()
    except AlreadyAnswered as exc:
        async with services.db.transaction() as conn:
            await session_repo.cancel_session(conn, session.id, now=now)
        return Refused("survey.already_answered", {"date": exc.next_possible})
    if isinstance(step, engine.Done):
        if session.audience is Audience.INTERNAL:
            services.internal_ended_since_scrub = True
        await alerts.on_response_completed(services, session, definition, step.answers)
        return Finished(session, definition, step.answers, update_id)
    updated = dataclasses.replace(session, state_json=state_json)
    return Ask(updated, definition, step)


def _contact_id(
    session: Session, definition: SurveyDefinition, answers: dict[str, engine.AnswerValue]
) -> int | None:
    """The buyer's Telegram id, kept only when they said yes to being contacted."""
    if definition.audience is not Audience.EXTERNAL:
        return None
    for question in definition.questions:
        is_consent = question.type is QuestionType.YES_NO and question.metric == Metric.CONSENT
        if is_consent and answers.get(question.id) is True:
            return session.respondent_id
    return None


async def _complete(
    services: Services,
    conn: Connection,
    session: Session,
    definition: SurveyDefinition,
    answers: dict[str, engine.AnswerValue],
) -> None:
    assert session.respondent_id is not None, "an open session knows its respondent"
    key = unique_key(services, definition)
    await session_repo.complete_session(
        conn,
        session,
        records=engine.answer_records(definition, answers),
        marker=services.pseudonym(session.respondent_id, session.subject_id, key),
        next_possible=span(key).next_start,
        contact_id=_contact_id(session, definition, answers),
        now=services.now(),
        week_key=week_key(services.today()),
    )


async def remember_message(
    services: Services, session: Session, message_id: int, *, persist: bool
) -> None:
    """Note that the session's current question was sent as `message_id`; store it at
    once when `persist`.

    A typed answer needs the stored id to show the answer in its question (so text
    questions persist it before the user can answer). For button questions the id only
    lets the bot remove an old keyboard on resume, /cancel or after a restart, and the
    question's "prompt pending" flag only has to be cleared eventually: both are queued
    for one write shared with other replies (PromptLedger), because a second awaited
    transaction per answer would cost a quarter of the throughput under load
    (bench/burst). Memory covers the time until that write is committed.
    """
    services.note_keyboard(session.id, message_id)
    if persist:
        async with services.db.one_statement() as conn:
            await session_repo.mark_prompted(conn, [(message_id, session.state_json, session.id)])
        services.prompts.remember_stored(session)
    else:
        services.prompts.shown(session, message_id)


async def cancel(services: Services, session: Session) -> None:
    """Drop an open session at the respondent's request; nothing of it is kept."""
    async with services.db.transaction() as conn:
        await session_repo.cancel_session(conn, session.id, now=services.now())
    if session.audience is Audience.INTERNAL:
        services.internal_ended_since_scrub = True


async def restart(services: Services, session: Session, subject: Subject) -> Ask | Refused:
    """Throw away an open session's answers and begin the same survey again."""
    await cancel(services, session)
    assert session.respondent_id is not None and session.chat_id is not None
    return await begin(
        services,
        telegram_id=session.respondent_id,
        chat_id=session.chat_id,
        subject=subject,
        role=session.role,
    )
