"""Database invariants the fuzz suite checks after each example, whatever the storage layout.

Ended sessions are deleted and responses carry no pseudonym: "has answered" is a marker
kept apart (answered_markers), so one response per person and period is checked as one
marker per completed response plus per-period counts against the real users.
"""

from __future__ import annotations

from typing import Any

from bot import flow
from bot.services import Services
from storage.connection import Connection
from storage.models import Subject
from surveys import engine
from surveys.schema import SCALES, Period, QuestionType, SurveyDefinition


async def _rows(conn: Connection, sql: str, *params: object) -> list[tuple[Any, ...]]:
    async with conn.execute(sql, params) as cursor:
        return [tuple(r) for r in await cursor.fetchall()]


async def check_database(
    services: Services, respondents: dict[int, list[Subject]], typed: set[str]
) -> dict[str, int]:
    """Assert every invariant; return how many rows each check looked at.

    `typed` holds every text users sent: a stored free-text answer must be one of them
    (a button, forged or not, never fills in a free-text question).

    `respondents` maps each real user to the subjects they may answer about: only they
    can complete surveys, so per subject the completed responses are exactly those
    users who have answered it (flow.already_answered), never more.
    """
    conn = services.db.conn
    checked: dict[str, int] = {}
    [(integrity,)] = await _rows(conn, "PRAGMA integrity_check")
    assert integrity == "ok", integrity
    dangling = await _rows(conn, "PRAGMA foreign_key_check")
    assert not dangling, f"rows pointing at nothing: {dangling}"
    orphans = await _rows(
        conn,
        "SELECT a.response_id FROM answers a LEFT JOIN responses r ON r.id = a.response_id"
        " WHERE r.id IS NULL",
    )
    assert not orphans, f"answers without a response: {orphans}"

    # Ended sessions are deleted with their identity; open ones belong to distinct people.
    ended = await _rows(conn, "SELECT id, status FROM sessions WHERE status != 'active'")
    assert not ended, f"ended sessions still stored: {ended}"
    twice = await _rows(
        conn,
        "SELECT respondent_id, count(*) FROM sessions WHERE status = 'active'"
        " GROUP BY respondent_id HAVING count(*) > 1",
    )
    assert not twice, f"respondents with two open sessions: {twice}"
    checked["sessions"] = (await _rows(conn, "SELECT count(*) FROM sessions"))[0][0]
    checked["open_answers"] = await _check_open_answers(conn, services, typed)

    completed = "status = 'completed'"
    # One response per person, subject and period: each completed response stored its
    # "has answered" marker (primary key) in the same transaction, and nothing else does.
    [(markers,)] = await _rows(conn, "SELECT count(*) FROM answered_markers")
    [(completed_total,)] = await _rows(conn, f"SELECT count(*) FROM responses WHERE {completed}")
    assert markers == completed_total, f"{markers} markers for {completed_total} responses"
    # This period: exactly the real users who have answered (no duplicates, none lost).
    expected: dict[int, int] = {}
    eligible: dict[int, int] = {}
    key = ""
    for user_id, subjects in respondents.items():
        for subject in subjects:
            eligible[subject.id] = eligible.get(subject.id, 0) + 1
            definition = services.surveys.latest(subject.survey_id)
            assert definition.period is Period.WEEK, "the bundled surveys run weekly"
            key = flow.unique_key(services, definition)
            if await flow.already_answered(services, user_id, subject) is not None:
                expected[subject.id] = expected.get(subject.id, 0) + 1
    now = dict(
        await _rows(
            conn,
            f"SELECT subject_id, count(*) FROM responses WHERE {completed}"
            " AND week_key = ? GROUP BY 1",
            key,
        )
    )
    assert now == expected, f"completed responses {now}, answered {expected} in {key}"
    # Earlier periods: never more than one response per eligible person.
    per_period = await _rows(
        conn,
        f"SELECT subject_id, week_key, count(*) FROM responses WHERE {completed} GROUP BY 1, 2",
    )
    for subject_id, period, count in per_period:
        assert count <= eligible.get(subject_id, 0), (subject_id, period, count)
    per_subject = dict(
        await _rows(
            conn, f"SELECT subject_id, count(*) FROM responses WHERE {completed} GROUP BY 1"
        )
    )
    assert set(per_subject) <= set(eligible), f"responses nobody real gave: {per_subject}"
    checked["responses"] = sum(per_subject.values())
    checked["answers"] = await _check_answers(conn, services, typed)
    return checked


async def _check_answers(conn: Connection, services: Services, typed: set[str]) -> int:
    """Every stored answer is valid for its question's type and range."""
    rows = await _rows(
        conn,
        "SELECT r.survey_id, r.survey_version, a.question_id, a.question_type, a.number,"
        " a.text, a.choice FROM answers a JOIN responses r ON r.id = a.response_id",
    )
    for survey_id, version, question_id, qtype, number, text, choice in rows:
        definition: SurveyDefinition = services.surveys.get(survey_id, version)
        question = definition.question(question_id)
        assert question.type == qtype, (question_id, qtype)
        kind = QuestionType(qtype)
        where = f"{question_id}={number!r}/{text!r}/{choice!r}"
        if kind in SCALES:
            low, high = question.scale or SCALES[kind]
            assert number is not None and number == int(number) and low <= number <= high, where
            assert text is None and choice is None, where
        elif kind is QuestionType.YES_NO:
            assert number in (0, 1) and text is None and choice is None, where
        elif kind in (QuestionType.SINGLE, QuestionType.MULTI):
            assert question.choice(str(choice)) is not None and number is None, where
        else:
            assert isinstance(text, str) and text.strip() == text and text, where
            assert len(text) <= question.max_length and number is None, where
            text.encode("utf-8")  # storable and showable: no lone surrogates
            assert text in typed, f"{where} was never typed"
    return len(rows)


async def _check_open_answers(conn: Connection, services: Services, typed: set[str]) -> int:
    """The answers of surveys still running are valid too (the same rules as stored)."""
    rows = await _rows(
        conn, "SELECT survey_id, survey_version, state_json FROM sessions WHERE status = 'active'"
    )
    count = 0
    for survey_id, version, state_json in rows:
        definition = services.surveys.get(survey_id, version)
        state = engine.SessionState.from_json(state_json)
        for question_id, value in state.answers.items():
            question = definition.question(question_id)
            if value is None:
                assert not question.required, f"{question_id} skipped though required"
                continue
            assert engine.validate_value(question, value) == value, (question_id, value)
            if question.type is QuestionType.TEXT:
                assert value in typed, f"{question_id}={value!r} was never typed"
            count += 1
    return count
