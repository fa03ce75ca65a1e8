"""Sessions and responses: saved at every answer, one response per period, no identity kept."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from storage.connection import Connection, IntegrityError
from storage.db import Database
from storage.errors import ActiveSessionExists, AlreadyAnswered, SessionNotActive
from storage.models import Response, ResponseStatus, Session, SessionStatus, Subject
from storage.sessions import (
    abandon_session,
    cancel_session,
    complete_session,
    count_active_sessions,
    get_active_session,
    get_active_session_and_subject,
    get_session,
    has_answered,
    mark_prompted,
    mark_reminded,
    pending_prompts,
    save_state,
    sessions_to_remind,
    set_message_id,
    stale_sessions,
)
from storage.updates import mark_processed, prune_processed
from surveys.periods import span, week_key
from surveys.schema import AnswerRecord, Audience, QuestionType

StartSession = Callable[..., Awaitable[Session]]
Pseudonym = Callable[[int], str]

RECORDS = [
    AnswerRecord(
        question_id="reliability", question_type=QuestionType.RATING, metric="reliability", number=4
    ),
    AnswerRecord(
        question_id="channels", question_type=QuestionType.MULTI, choices=("email", "chat")
    ),
    AnswerRecord(
        question_id="comment",
        question_type=QuestionType.TEXT,
        metric="comment",
        text="Szybko i rzeczowo",
    ),
    AnswerRecord(question_id="skipped", question_type=QuestionType.TEXT),
]


async def _complete(
    db: Database, session: Session, pseudonym: str, now: datetime, *, contact_id: int | None = None
) -> Response:
    key = week_key(now.date())
    async with db.transaction() as conn:
        return await complete_session(
            conn,
            session,
            records=RECORDS,
            marker=_marker(pseudonym, session.subject_id, key),
            next_possible=span(key).next_start,
            contact_id=contact_id,
            now=now,
            week_key=key,
        )


def _marker(pseudonym: str, subject_id: int, key: str) -> str:
    """A stand-in for Services.pseudonym: one person, one subject, one period."""
    return f"{pseudonym}:{subject_id}:{key}"


async def _rows(conn: Connection, sql: str, *params: object) -> list[tuple[object, ...]]:
    async with conn.execute(sql, params) as cur:
        return [tuple(row) for row in await cur.fetchall()]


# --- the session's life -------------------------------------------------------------------


async def test_a_started_session_is_the_respondents_active_one(
    db: Database, department: Subject, start: StartSession, now: datetime
) -> None:
    session = await start(5, department)
    assert session.status is SessionStatus.ACTIVE
    assert (session.respondent_id, session.chat_id, session.subject_id) == (5, 5, department.id)
    assert (session.audience, session.role, session.week_key) == (
        Audience.INTERNAL,
        "employee",
        "2026-W48",
    )
    assert session.started_at == session.updated_at == now
    assert session.message_id is None and session.reminded_at is None
    assert await get_active_session(db.conn, 5) == session
    assert await get_session(db.conn, session.id) == session
    assert await get_active_session(db.conn, 6) is None
    assert await count_active_sessions(db.conn) == 1


async def test_the_active_session_is_read_with_its_subject(
    db: Database, department: Subject, start: StartSession
) -> None:
    session = await start(5, department)
    assert await get_active_session_and_subject(db.conn, 5) == (session, department)
    assert await get_active_session_and_subject(db.conn, 6) is None
    async with db.transaction() as conn:
        await cancel_session(conn, session.id, now=session.started_at)
    assert await get_active_session_and_subject(db.conn, 5) is None


async def test_a_second_active_session_is_refused(
    db: Database, department: Subject, product: Subject, start: StartSession
) -> None:
    first = await start(5, department)
    with pytest.raises(ActiveSessionExists) as caught:
        await start(5, product)
    assert caught.value.session_id == first.id


async def test_the_index_alone_allows_one_active_session(
    db: Database, department: Subject, start: StartSession
) -> None:
    """Even a writer that skips the check (another instance) cannot add a second."""
    session = await start(5, department)
    with pytest.raises(IntegrityError):
        await db.conn.execute(
            "INSERT INTO sessions (respondent_id, chat_id, survey_id, survey_version, subject_id,"
            " audience, state_json, status, started_at, updated_at, week_key)"
            " SELECT respondent_id, chat_id, survey_id, survey_version, subject_id, audience,"
            " state_json, status, started_at, updated_at, week_key FROM sessions WHERE id = ?",
            (session.id,),
        )


async def test_every_answer_is_saved_with_its_keyboard_message(
    db: Database, department: Subject, start: StartSession, now: datetime
) -> None:
    session = await start(5, department)
    later = now + timedelta(minutes=1)
    async with db.transaction() as conn:
        await save_state(conn, session.id, state_json='{"q": 1}', now=later, message_id=77)
        await save_state(conn, session.id, state_json='{"q": 2}', now=later)
    saved = await get_session(db.conn, session.id)
    assert saved is not None
    assert (saved.state_json, saved.message_id, saved.updated_at) == ('{"q": 2}', 77, later)

    async with db.transaction() as conn:
        await set_message_id(conn, session.id, 78)
    saved = await get_session(db.conn, session.id)
    assert saved is not None and saved.message_id == 78


async def test_a_question_is_pending_from_the_answer_until_it_was_sent(
    db: Database, department: Subject, start: StartSession, now: datetime
) -> None:
    session = await start(6, department)
    assert session.prompt_pending  # the first question is not sent yet

    async def pending() -> list[int]:
        found = await pending_prompts(db.conn, answered_since=now, limit=10)
        return [s.id for s in found]

    assert await pending() == [session.id]
    async with db.transaction() as conn:
        await mark_prompted(conn, [(40, session.state_json, session.id)])
    assert await pending() == []
    async with db.transaction() as conn:
        await save_state(conn, session.id, state_json='{"q": 1}', now=now)
    assert await pending() == [session.id]
    async with db.transaction() as conn:
        # A late note for an older state keeps the flag of the newer one, and never puts
        # an older message id back.
        await mark_prompted(conn, [(41, session.state_json, session.id)])
        await mark_prompted(conn, [(39, session.state_json, session.id)])
    saved = await get_session(db.conn, session.id)
    assert saved is not None and (saved.prompt_pending, saved.message_id) == (True, 41)
    assert await pending_prompts(db.conn, answered_since=now + timedelta(seconds=1), limit=10) == []
    async with db.transaction() as conn:
        # A toggle is pressed on the question: it is on screen.
        await save_state(
            conn, session.id, state_json='{"q": 1, "t": 1}', now=now, prompt_pending=False
        )
    assert await pending() == []


async def test_a_cancelled_session_keeps_nothing(
    db: Database, department: Subject, start: StartSession, now: datetime
) -> None:
    session = await start(5, department, state_json='{"answers": {"q": 3}}')
    async with db.transaction() as conn:
        assert await cancel_session(conn, session.id, now=now)
        assert not await cancel_session(conn, session.id, now=now)
    # The row is gone: nothing of who it was, what they answered or when remains.
    assert await get_session(db.conn, session.id) is None
    assert await _rows(db.conn, "SELECT COUNT(*) FROM sessions") == [(0,)]
    assert await get_active_session(db.conn, 5) is None
    with pytest.raises(SessionNotActive):
        async with db.transaction() as conn:
            await save_state(conn, session.id, state_json="{}", now=now)
    again = await start(5, department)  # a new one may start, never with the old id
    assert again.id > session.id
    assert await _rows(db.conn, "SELECT week_key, started FROM session_counts") == [("2026-W48", 2)]


async def test_a_duplicate_update_is_applied_once(
    db: Database, department: Subject, start: StartSession, now: datetime
) -> None:
    session = await start(5, department)

    async def deliver(update_id: int, state: str, at: datetime) -> bool:
        async with db.transaction() as conn:
            if not await mark_processed(conn, update_id, now=at):
                return False
            await save_state(conn, session.id, state_json=state, now=at)
            return True

    assert await deliver(1001, '{"q": 1}', now)
    assert not await deliver(1001, '{"q": "again"}', now + timedelta(seconds=5))
    saved = await get_session(db.conn, session.id)
    assert saved is not None and (saved.state_json, saved.updated_at) == ('{"q": 1}', now)


async def test_an_update_whose_transaction_failed_is_processed_on_redelivery(
    db: Database, now: datetime
) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            assert await mark_processed(conn, 7, now=now)
            raise RuntimeError("crash before commit")
    async with db.transaction() as conn:
        assert await mark_processed(conn, 7, now=now)


async def test_old_update_ids_are_pruned(db: Database, now: datetime) -> None:
    async with db.transaction() as conn:
        await mark_processed(conn, 1, now=now - timedelta(days=3))
        await mark_processed(conn, 2, now=now)
        assert await prune_processed(conn, older_than=now - timedelta(days=1)) == 1
        assert await mark_processed(conn, 1, now=now)
        assert not await mark_processed(conn, 2, now=now)


# --- responses ----------------------------------------------------------------------------


async def test_a_completed_session_becomes_a_response_with_normalized_answers(
    db: Database, department: Subject, start: StartSession, now: datetime, pseudo: Pseudonym
) -> None:
    session = await start(5, department)
    response = await _complete(db, session, pseudo(5), now)
    assert response.status is ResponseStatus.COMPLETED
    assert response.role == "employee"
    assert response.week_key == "2026-W48"
    assert 0 < response.id < 2**62 and response.id % 2 == 1  # random, not a count
    # Stamped with the start of the week, not the moment (Wednesday 10:30) it came in.
    assert response.submitted_at == datetime(2026, 11, 23, tzinfo=UTC)
    assert await _rows(db.conn, "SELECT submitted_at FROM responses") == [
        ("2026-11-23T00:00:00.000000+00:00",)
    ]
    answers = await _rows(
        db.conn,
        "SELECT question_id, question_type, metric, number, text, choice FROM answers"
        " ORDER BY position",
    )
    assert answers == [
        ("reliability", "rating", "reliability", 4.0, None, None),
        ("channels", "multi", None, None, None, "email"),
        ("channels", "multi", None, None, None, "chat"),
        ("comment", "text", "comment", None, "Szybko i rzeczowo", None),
    ]
    assert await get_session(db.conn, session.id) is None
    assert await count_active_sessions(db.conn) == 0
    # The marker says this person answered, and nothing else: no response id, no time.
    assert await _rows(db.conn, "SELECT * FROM answered_markers") == [
        (_marker(pseudo(5), department.id, "2026-W48"),)
    ]


async def test_no_telegram_id_remains_anywhere_near_an_internal_response(
    db: Database, department: Subject, start: StartSession, now: datetime, pseudo: Pseudonym
) -> None:
    telegram_id = 987654321
    session = await start(telegram_id, department)
    async with db.transaction() as conn:
        await save_state(
            conn, session.id, state_json=json.dumps({"user": telegram_id}), now=now, message_id=555
        )
    response = await _complete(db, session, pseudo(telegram_id), now)

    rows = [
        *await _rows(db.conn, "SELECT * FROM responses WHERE id = ?", response.id),
        *await _rows(db.conn, "SELECT * FROM answers WHERE response_id = ?", response.id),
        *await _rows(db.conn, "SELECT * FROM sessions"),
        *await _rows(db.conn, "SELECT * FROM session_counts"),
    ]
    assert len(rows) == 1 + 4 + 0 + 1
    for row in rows:
        for value in row:
            assert value != telegram_id
            assert str(telegram_id) not in str(value)


async def test_an_external_buyer_who_consented_keeps_a_contact(
    db: Database, product: Subject, start: StartSession, now: datetime, pseudo: Pseudonym
) -> None:
    session = await start(8, product)
    response = await _complete(db, session, pseudo(8), now, contact_id=8)
    assert response.role is None
    # A buyer's response keeps its moment (alerts and the contact refer to it).
    assert await _rows(db.conn, "SELECT contact_id, audience, submitted_at FROM responses") == [
        (8, "external", "2026-11-25T10:30:00.000000+00:00")
    ]
    assert await get_session(db.conn, session.id) is None


async def test_an_internal_response_refuses_a_contact(
    db: Database, department: Subject, start: StartSession, now: datetime, pseudo: Pseudonym
) -> None:
    session = await start(5, department)
    with pytest.raises(ValueError, match="contact"):
        await _complete(db, session, pseudo(5), now, contact_id=5)


async def test_a_second_response_in_the_same_period_is_refused_with_the_next_date(
    db: Database, department: Subject, start: StartSession, now: datetime, pseudo: Pseudonym
) -> None:
    await _complete(db, await start(5, department), pseudo(5), now)
    assert await has_answered(db.conn, _marker(pseudo(5), department.id, "2026-W48"))

    again = await start(5, department, now=now + timedelta(days=2))  # Friday, same week
    with pytest.raises(AlreadyAnswered) as refused:
        await _complete(db, again, pseudo(5), now + timedelta(days=2))
    assert refused.value.next_possible == date(2026, 11, 30)  # Monday of 2026-W49
    # The refusal rolled back: the session is still active, no second response exists.
    still = await get_session(db.conn, again.id)
    assert still is not None and still.status is SessionStatus.ACTIVE
    assert await _rows(db.conn, "SELECT COUNT(*) FROM responses") == [(1,)]

    async with db.transaction() as conn:
        await cancel_session(conn, again.id, now=now)
    next_week = now + timedelta(days=7)
    await _complete(db, await start(5, department, now=next_week), pseudo(5), next_week)
    assert await _rows(db.conn, "SELECT week_key FROM responses ORDER BY week_key") == [
        ("2026-W48",),
        ("2026-W49",),
    ]


async def test_the_unique_index_alone_refuses_a_second_response(
    db: Database, department: Subject, start: StartSession, now: datetime, pseudo: Pseudonym
) -> None:
    """Even a writer that skips the check (another instance) cannot add a second."""
    await _complete(db, await start(5, department), pseudo(5), now)
    with pytest.raises(IntegrityError):
        await db.conn.execute("INSERT INTO answered_markers SELECT marker FROM answered_markers")


async def test_a_monthly_survey_allows_one_response_per_month(
    db: Database, department: Subject, start: StartSession, now: datetime, pseudo: Pseudonym
) -> None:
    async def complete(at: datetime) -> None:
        session = await start(5, department, now=at)
        async with db.transaction() as conn:
            await complete_session(
                conn,
                session,
                records=RECORDS,
                marker=_marker(pseudo(5), department.id, f"{at:%Y-%m}"),
                next_possible=date(2026, 12, 1),
                contact_id=None,
                now=at,
                week_key=week_key(at.date()),
            )

    await complete(now)
    with pytest.raises(AlreadyAnswered):
        await complete(now + timedelta(days=5))  # Monday 2026-11-30: another week, same month
    async with db.transaction() as conn:
        active = await get_active_session(conn, 5)
        assert active is not None
        await cancel_session(conn, active.id, now=now)
    await complete(now + timedelta(days=7))  # December


async def test_completing_an_ended_session_is_refused(
    db: Database, department: Subject, start: StartSession, now: datetime, pseudo: Pseudonym
) -> None:
    session = await start(5, department)
    async with db.transaction() as conn:
        await cancel_session(conn, session.id, now=now)
    with pytest.raises(SessionNotActive) as caught:
        await _complete(db, session, pseudo(5), now)
    assert caught.value.status is None  # deleted when it was cancelled


# --- idle sessions ------------------------------------------------------------------------


async def test_idle_sessions_are_reminded_once_then_abandoned_as_partial(
    db: Database, department: Subject, start: StartSession, now: datetime, pseudo: Pseudonym
) -> None:
    old = await start(1, department, now=now - timedelta(days=8))
    recent = await start(2, department, now=now - timedelta(hours=2))
    await start(3, department, now=now)

    to_remind = await sessions_to_remind(db.conn, idle_since=now - timedelta(hours=1), limit=10)
    assert [s.id for s in to_remind] == [old.id, recent.id]
    async with db.transaction() as conn:
        await mark_reminded(conn, recent.id, now=now)
    to_remind = await sessions_to_remind(db.conn, idle_since=now - timedelta(hours=1), limit=10)
    assert [s.id for s in to_remind] == [old.id]
    reminded = await get_session(db.conn, recent.id)
    assert reminded is not None and reminded.reminded_at == now
    assert reminded.updated_at == recent.updated_at  # the idle clock is not reset

    stale = await stale_sessions(db.conn, idle_since=now - timedelta(days=7), limit=10)
    assert [s.id for s in stale] == [old.id]
    async with db.transaction() as conn:
        partial = await abandon_session(
            conn,
            stale[0],
            records=RECORDS[:1],
            now=now,
            week_key="2026-W48",
        )
    assert partial is not None and partial.status is ResponseStatus.PARTIAL
    assert await get_session(db.conn, old.id) is None
    assert await _rows(db.conn, "SELECT status, role FROM responses") == [("partial", "employee")]
    assert await _rows(db.conn, "SELECT question_id, number FROM answers") == [("reliability", 4.0)]
    # A partial response does not count as answered.
    assert await _rows(db.conn, "SELECT COUNT(*) FROM answered_markers") == [(0,)]
    assert partial.submitted_at == datetime(2026, 11, 23, tzinfo=UTC)


async def test_abandoning_without_answers_or_after_completion_keeps_no_response(
    db: Database, department: Subject, start: StartSession, now: datetime, pseudo: Pseudonym
) -> None:
    empty = await start(1, department)
    finished = await start(2, department)
    await _complete(db, finished, pseudo(2), now)
    async with db.transaction() as conn:
        assert (
            await abandon_session(
                conn,
                empty,
                records=[],
                now=now,
                week_key="2026-W48",
            )
            is None
        )
        assert (
            await abandon_session(
                conn,
                finished,
                records=RECORDS,
                now=now,
                week_key="2026-W48",
            )
            is None
        )
    assert await get_session(db.conn, empty.id) is None
    assert await _rows(db.conn, "SELECT status FROM responses") == [("completed",)]
