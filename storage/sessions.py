"""Survey sessions (saved at every answer) and the responses they turn into."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime

import aiosqlite

from storage.db import decode_optional_time, decode_time, encode_time, placeholders
from storage.errors import ActiveSessionExists, AlreadyAnswered, SessionNotActive
from storage.models import Response, ResponseStatus, Session, SessionStatus
from surveys.schema import AnswerRecord, Audience

CLEARED_STATE = "{}"

_COLUMNS = (
    "id, respondent_id, chat_id, survey_id, survey_version, subject_id, audience, role,"
    " state_json, status, started_at, updated_at, message_id, reminded_at, week_key, prompt_pending"
)
# What ending a session does to it, whatever the audience: no identity, no state and no
# message id remain, so an ended session cannot be tied to the response it produced.
_END = (
    "UPDATE sessions SET status = ?, updated_at = ?, respondent_id = NULL, chat_id = NULL,"
    f" message_id = NULL, state_json = '{CLEARED_STATE}' WHERE id = ? AND status = 'active'"
)


def _session(row: sqlite3.Row) -> Session:
    return Session(
        id=row["id"],
        respondent_id=row["respondent_id"],
        chat_id=row["chat_id"],
        survey_id=row["survey_id"],
        survey_version=row["survey_version"],
        subject_id=row["subject_id"],
        audience=Audience(row["audience"]),
        role=row["role"],
        state_json=row["state_json"],
        status=SessionStatus(row["status"]),
        started_at=decode_time(row["started_at"]),
        updated_at=decode_time(row["updated_at"]),
        message_id=row["message_id"],
        reminded_at=decode_optional_time(row["reminded_at"]),
        week_key=row["week_key"],
        prompt_pending=bool(row["prompt_pending"]),
    )


async def _one(conn: aiosqlite.Connection, where: str, *params: object) -> Session | None:
    async with conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE {where}", params) as cur:
        row = await cur.fetchone()
    return None if row is None else _session(row)


async def _status(conn: aiosqlite.Connection, session_id: int) -> str | None:
    async with conn.execute("SELECT status FROM sessions WHERE id = ?", (session_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else str(row["status"])


# --- the session's life -------------------------------------------------------------------


async def start_session(
    conn: aiosqlite.Connection,
    *,
    respondent_id: int,
    chat_id: int,
    survey_id: str,
    survey_version: int,
    subject_id: int,
    audience: Audience,
    role: str | None,
    state_json: str,
    now: datetime,
    week_key: str,
) -> Session:
    """Start a session (ActiveSessionExists if the respondent already has an active one:
    a partial unique index allows one per respondent). `week_key`: the week it started."""
    active = await get_active_session(conn, respondent_id)
    if active is not None:
        raise ActiveSessionExists(active.id)
    stamp = encode_time(now)
    try:
        cursor = await conn.execute(
            "INSERT INTO sessions (respondent_id, chat_id, survey_id, survey_version, subject_id,"
            " audience, role, state_json, status, started_at, updated_at, message_id,"
            " reminded_at, week_key, prompt_pending)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, NULL, NULL, ?, TRUE)",
            (
                respondent_id,
                chat_id,
                survey_id,
                survey_version,
                subject_id,
                Audience(audience).value,
                role,
                state_json,
                stamp,
                stamp,
                week_key,
            ),
        )
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" not in str(exc):
            raise
        # Another process started one since the check above.
        other = await get_active_session(conn, respondent_id)
        raise ActiveSessionExists(other.id if other is not None else 0) from None
    session = await get_session(conn, cursor.lastrowid or 0)
    assert session is not None
    return session


async def get_active_session(conn: aiosqlite.Connection, respondent_id: int) -> Session | None:
    """The respondent's active session, if any."""
    return await _one(conn, "respondent_id = ? AND status = 'active'", respondent_id)


async def get_session(conn: aiosqlite.Connection, session_id: int) -> Session | None:
    """A session by id, whatever its status."""
    return await _one(conn, "id = ?", session_id)


async def save_state(
    conn: aiosqlite.Connection,
    session_id: int,
    *,
    state_json: str,
    now: datetime,
    message_id: int | None = None,
    prompt_pending: bool = True,
) -> None:
    """Save an active session's state after an answer (message_id None: unchanged)
    (SessionNotActive). `prompt_pending`: the question the new state asks is not sent
    yet (False for a change shown in the message pressed, a toggle: it is on screen)."""
    cursor = await conn.execute(
        "UPDATE sessions SET state_json = ?, updated_at = ?,"
        " message_id = COALESCE(?, message_id), prompt_pending = ?"
        " WHERE id = ? AND status = 'active'",
        (state_json, encode_time(now), message_id, prompt_pending, session_id),
    )
    if cursor.rowcount == 0:
        raise SessionNotActive(session_id, await _status(conn, session_id))


async def set_message_id(conn: aiosqlite.Connection, session_id: int, message_id: int) -> None:
    """Remember the message carrying the session's current keyboard (active sessions)."""
    await conn.execute(
        "UPDATE sessions SET message_id = ? WHERE id = ? AND status = 'active'",
        (message_id, session_id),
    )


async def mark_prompted(conn: aiosqlite.Connection, shown: Sequence[tuple[int, str, int]]) -> None:
    """Note questions that were sent: (message id, the state it was sent for, session id).

    Keeps the latest message carrying a keyboard (ids grow within a chat, so a late
    write never replaces a newer one), and clears `prompt_pending` unless the session
    was answered again since (another state: its next question is pending)."""
    await conn.executemany(
        "UPDATE sessions SET message_id = max(coalesce(message_id, 0), ?),"
        " prompt_pending = CASE WHEN state_json = ? THEN FALSE ELSE prompt_pending END"
        " WHERE id = ? AND status = 'active'",
        shown,
    )


async def pending_prompts(
    conn: aiosqlite.Connection, *, answered_since: datetime, limit: int
) -> list[Session]:
    """Active sessions answered since `answered_since` whose current question may not
    have reached the respondent."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM sessions WHERE prompt_pending AND status = 'active'"
        " AND updated_at >= ? ORDER BY id LIMIT ?",
        (encode_time(answered_since), limit),
    ) as cur:
        rows = await cur.fetchall()
    return [_session(row) for row in rows]


async def cancel_session(conn: aiosqlite.Connection, session_id: int, *, now: datetime) -> bool:
    """Cancel an active session (/cancel): state and identity are dropped, nothing is
    kept as a response. False when it was not active."""
    cursor = await conn.execute(_END, (SessionStatus.CANCELLED.value, encode_time(now), session_id))
    return cursor.rowcount == 1


# --- responses ----------------------------------------------------------------------------


def _answer_rows(response_id: int, records: Sequence[AnswerRecord]) -> list[tuple[object, ...]]:
    """One row per value: the number and/or text of a record, then each chosen choice id."""
    rows: list[tuple[object, ...]] = []
    for record in records:
        base = (response_id, record.question_id, record.question_type.value, record.metric)
        if record.number is not None or record.text is not None:
            rows.append((*base, record.number, record.text, None))
        rows.extend((*base, None, None, choice) for choice in record.choices)
    return rows


async def _insert_response(
    conn: aiosqlite.Connection,
    session: Session,
    *,
    status: ResponseStatus,
    records: Sequence[AnswerRecord],
    pseudonym: str,
    unique_key: str,
    contact_id: int | None,
    now: datetime,
    week_key: str,
) -> Response:
    role = session.role if session.audience is Audience.INTERNAL else None
    cursor = await conn.execute(
        "INSERT INTO responses (subject_id, survey_id, survey_version, audience, week_key,"
        " unique_key, pseudonym, status, role, contact_id, submitted_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session.subject_id,
            session.survey_id,
            session.survey_version,
            session.audience.value,
            week_key,
            unique_key,
            pseudonym,
            status.value,
            role,
            contact_id,
            encode_time(now),
        ),
    )
    response_id = cursor.lastrowid
    assert response_id is not None
    await conn.executemany(
        "INSERT INTO answers (response_id, question_id, question_type, metric, number, text,"
        " choice) VALUES (?, ?, ?, ?, ?, ?, ?)",
        _answer_rows(response_id, records),
    )
    return Response(
        id=response_id,
        subject_id=session.subject_id,
        survey_id=session.survey_id,
        survey_version=session.survey_version,
        audience=session.audience,
        week_key=week_key,
        unique_key=unique_key,
        status=status,
        role=role,
        submitted_at=now,
    )


async def complete_session(
    conn: aiosqlite.Connection,
    session: Session,
    *,
    records: list[AnswerRecord],
    pseudonym: str,
    unique_key: str,
    next_possible: date,
    contact_id: int | None,
    now: datetime,
    week_key: str,
) -> Response:
    """Turn an active session into a completed response with its answers.

    `pseudonym` is the caller's keyed hash of the Telegram id; `unique_key` the survey's
    uniqueness period (e.g. 2026-W48 or 2026-11); `week_key` the digest week. Raises
    AlreadyAnswered(next_possible) if this pseudonym already completed one for the
    subject and unique_key (a unique index guarantees it even across processes), and
    SessionNotActive if the session ended meanwhile. The session keeps no identity.
    `contact_id` only for an external buyer who consented (ValueError for internal)."""
    if contact_id is not None and session.audience is not Audience.EXTERNAL:
        raise ValueError("internal responses never hold a contact")
    status = await _status(conn, session.id)
    if status != SessionStatus.ACTIVE.value:
        raise SessionNotActive(session.id, status)
    if await has_answered(conn, session.subject_id, pseudonym, unique_key):
        raise AlreadyAnswered(next_possible)
    await conn.execute(_END, (SessionStatus.COMPLETED.value, encode_time(now), session.id))
    try:
        return await _insert_response(
            conn,
            session,
            status=ResponseStatus.COMPLETED,
            records=records,
            pseudonym=pseudonym,
            unique_key=unique_key,
            contact_id=contact_id,
            now=now,
            week_key=week_key,
        )
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" not in str(exc):
            raise
        raise AlreadyAnswered(next_possible) from None


async def abandon_session(
    conn: aiosqlite.Connection,
    session: Session,
    *,
    records: list[AnswerRecord],
    pseudonym: str,
    unique_key: str,
    now: datetime,
    week_key: str,
) -> Response | None:
    """End an idle session: its answers so far become a response flagged partial (none
    when `records` is empty). Returns None, doing nothing, if the session is no longer
    active (the respondent finished it meanwhile)."""
    ended = await conn.execute(_END, (SessionStatus.ABANDONED.value, encode_time(now), session.id))
    if ended.rowcount == 0 or not records:
        return None
    return await _insert_response(
        conn,
        session,
        status=ResponseStatus.PARTIAL,
        records=records,
        pseudonym=pseudonym,
        unique_key=unique_key,
        contact_id=None,
        now=now,
        week_key=week_key,
    )


async def has_answered(
    conn: aiosqlite.Connection, subject_id: int, pseudonym: str, unique_key: str
) -> bool:
    """Whether this pseudonym completed a response for the subject in that period."""
    async with conn.execute(
        "SELECT 1 FROM responses WHERE subject_id = ? AND pseudonym = ? AND unique_key = ?"
        " AND status = 'completed'",
        (subject_id, pseudonym, unique_key),
    ) as cur:
        return await cur.fetchone() is not None


async def answered_subjects(
    conn: aiosqlite.Connection, pseudonym: str, unique_keys: dict[int, str]
) -> set[int]:
    """Of the subjects in `unique_keys` (subject id -> its current period key), those this
    pseudonym already completed in that period; one query for all."""
    if not unique_keys:
        return set()
    subject_ids = list(unique_keys)
    async with conn.execute(
        "SELECT subject_id, unique_key FROM responses WHERE pseudonym = ?"
        f" AND status = 'completed' AND subject_id IN ({placeholders(subject_ids)})",
        (pseudonym, *subject_ids),
    ) as cur:
        rows = await cur.fetchall()
    return {
        row["subject_id"] for row in rows if unique_keys[row["subject_id"]] == row["unique_key"]
    }


# --- maintenance --------------------------------------------------------------------------


async def stale_sessions(
    conn: aiosqlite.Connection, *, idle_since: datetime, limit: int
) -> list[Session]:
    """Active sessions with no answer since `idle_since`, oldest first (to abandon)."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM sessions WHERE status = 'active' AND updated_at < ?"
        " ORDER BY updated_at, id LIMIT ?",
        (encode_time(idle_since), limit),
    ) as cur:
        rows = await cur.fetchall()
    return [_session(row) for row in rows]


async def sessions_to_remind(
    conn: aiosqlite.Connection, *, idle_since: datetime, limit: int
) -> list[Session]:
    """Active sessions idle since `idle_since` and never reminded, oldest first."""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM sessions WHERE status = 'active' AND updated_at < ?"
        " AND reminded_at IS NULL ORDER BY updated_at, id LIMIT ?",
        (encode_time(idle_since), limit),
    ) as cur:
        rows = await cur.fetchall()
    return [_session(row) for row in rows]


async def mark_reminded(conn: aiosqlite.Connection, session_id: int, *, now: datetime) -> None:
    """Note the one reminder was sent (the idle clock, `updated_at`, is not reset)."""
    await conn.execute(
        "UPDATE sessions SET reminded_at = ? WHERE id = ? AND status = 'active'",
        (encode_time(now), session_id),
    )


async def count_active_sessions(conn: aiosqlite.Connection) -> int:
    """How many sessions are in progress."""
    async with conn.execute("SELECT COUNT(*) FROM sessions WHERE status = 'active'") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else 0
