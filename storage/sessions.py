"""Survey sessions (saved at every answer) and the responses they turn into.

A session row exists only while its survey runs: then it holds the respondent's Telegram
id and answers so far (the operator can see them). When it completes, is cancelled or is
abandoned the row is deleted, and what it turns into holds no identity: a response with a
random id (an internal one stamped with the start of its week, not its time) and, for a
completed one, a "has answered" marker that is not linked to the response at all."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, date, datetime, time

from storage.connection import Connection, IntegrityError, Row
from storage.db import decode_optional_time, decode_time, encode_time
from storage.errors import ActiveSessionExists, AlreadyAnswered, SessionNotActive
from storage.models import Response, ResponseStatus, Session, SessionStatus, Subject
from storage.subjects import prefixed_columns, subject_from_row
from storage.updates import mark_processed
from surveys.periods import span
from surveys.schema import AnswerRecord, Audience

_COLUMNS = (
    "id, respondent_id, chat_id, survey_id, survey_version, subject_id, audience, role,"
    " state_json, status, started_at, updated_at, message_id, reminded_at, week_key, prompt_pending"
)
# What ending a session does to it, whatever the audience and however it ends: its row is
# deleted, so nothing of it (identity, answers, times) remains to be tied to the response
# it produced. Connections run with secure_delete, so the bytes are zeroed too.
_END = "DELETE FROM sessions WHERE id = ? AND status = 'active'"
# Response ids are drawn at random (positive 62-bit, odd so never 0) so that their order
# says nothing about the order of submission.
_ID_BITS = 62
_ID_ATTEMPTS = 8
# The prefix of the subject's columns read beside a session's.
_SUBJECT = "subject_"


def _session(row: Row) -> Session:
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


async def _one(conn: Connection, where: str, *params: object) -> Session | None:
    # Awaited, not `async with`: one row, read on every update of a respondent.
    result = await conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE {where}", params)
    row = await result.fetchone()
    return None if row is None else _session(row)


async def _many(conn: Connection, where: str, *params: object) -> list[Session]:
    async with conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE {where}", params) as cur:
        return [_session(row) for row in await cur.fetchall()]


async def _status(conn: Connection, session_id: int) -> str | None:
    async with conn.execute("SELECT status FROM sessions WHERE id = ?", (session_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else str(row["status"])


# --- the session's life -------------------------------------------------------------------


async def start_session(
    conn: Connection,
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
    a partial unique index allows one per respondent). `week_key`: the week it started.

    May run in a `Database.one_statement()` block: on PostgreSQL it is one call of the
    `session_start` function (migration 0014), a single round trip where BEGIN, the two
    statements below and COMMIT would cost four, and the week's count row is released
    at the commit on the server instead of a round trip later; on SQLite the same two
    statements, in the block's transaction."""
    stamp = encode_time(now)
    fields = (
        respondent_id,
        chat_id,
        survey_id,
        survey_version,
        subject_id,
        Audience(audience).value,
        role,
        state_json,
    )
    if conn.dialect == "postgresql":
        statement = conn.execute(
            f"SELECT {_COLUMNS} FROM session_start(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*fields, stamp, week_key),
        )
    else:
        # ON CONFLICT ... DO NOTHING: the partial unique index says whether one is active
        # (no read before); RETURNING: the new row without a second read.
        statement = conn.execute(
            "INSERT INTO sessions (respondent_id, chat_id, survey_id, survey_version,"
            " subject_id, audience, role, state_json, status, started_at, updated_at,"
            " message_id, reminded_at, week_key, prompt_pending)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, NULL, NULL, ?, TRUE)"
            " ON CONFLICT (respondent_id) WHERE status = 'active' DO NOTHING"
            f" RETURNING {_COLUMNS}",
            (*fields, stamp, stamp, week_key),
        )
    async with statement as started:
        row = await started.fetchone()
    if row is None:
        active = await get_active_session(conn, respondent_id)
        raise ActiveSessionExists(active.id if active is not None else 0)
    if conn.dialect != "postgresql":
        # Counted apart from the session, which is deleted when it ends: the digest's
        # completion rate needs how many started in a week, not who. (session_start
        # counts it on PostgreSQL.)
        await conn.execute(
            "INSERT INTO session_counts (subject_id, week_key, started, completed)"
            " VALUES (?, ?, 1, 0)"
            " ON CONFLICT (subject_id, week_key) DO UPDATE"
            " SET started = session_counts.started + 1",
            (subject_id, week_key),
        )
    return _session(row)


async def get_active_session(conn: Connection, respondent_id: int) -> Session | None:
    """The respondent's active session, if any."""
    return await _one(conn, "respondent_id = ? AND status = 'active'", respondent_id)


_SESSION_AND_SUBJECT = (
    "SELECT "
    + ", ".join(f"s.{c} AS {c}" for c in _COLUMNS.split(", "))
    + f", {prefixed_columns('j', _SUBJECT)} FROM sessions AS s"
    " LEFT JOIN subjects AS j ON j.id = s.subject_id"
    " WHERE s.respondent_id = ? AND s.status = 'active'"
)


async def get_active_session_and_subject(
    conn: Connection, respondent_id: int
) -> tuple[Session, Subject | None] | None:
    """The respondent's active session, if any, with the subject it is about (None only
    if that is gone), in one read: every answer needs both."""
    result = await conn.execute(_SESSION_AND_SUBJECT, (respondent_id,))
    row = await result.fetchone()
    if row is None:
        return None
    subject = None if row[_SUBJECT + "id"] is None else subject_from_row(row, _SUBJECT)
    return _session(row), subject


async def get_session(conn: Connection, session_id: int) -> Session | None:
    """A session by id (None once it ended: ended sessions are deleted)."""
    return await _one(conn, "id = ?", session_id)


async def save_state(
    conn: Connection,
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


async def save_answer(
    conn: Connection,
    session_id: int,
    *,
    update_id: int | None,
    state_json: str,
    now: datetime,
    prompt_pending: bool = True,
) -> bool:
    """Record the answer's update as processed (`storage.updates.mark_processed`; none
    when `update_id` is None) and save the session's new state (`save_state`): True,
    or False for an update already processed (nothing is changed). SessionNotActive,
    with nothing recorded, when the session ended.

    Run it in a `Database.one_statement()` block: on PostgreSQL it is one call of the
    `session_answer` function (migration 0013), a single round trip instead of BEGIN,
    two statements and COMMIT; on SQLite the two steps, in the block's transaction."""
    if conn.dialect != "postgresql":
        if update_id is not None and not await mark_processed(conn, update_id, now=now):
            return False
        await save_state(
            conn, session_id, state_json=state_json, now=now, prompt_pending=prompt_pending
        )
        return True
    result = await conn.execute(
        "SELECT session_answer(?, ?, ?, ?, ?)",
        (update_id, encode_time(now), session_id, state_json, prompt_pending),
    )
    row = await result.fetchone()
    outcome = None if row is None else str(row[0])
    if outcome == "saved":
        return True
    if outcome == "duplicate":
        return False
    raise SessionNotActive(session_id, None if outcome == "gone" else outcome)


async def set_message_id(conn: Connection, session_id: int, message_id: int) -> None:
    """Remember the message carrying the session's current keyboard (active sessions)."""
    await conn.execute(
        "UPDATE sessions SET message_id = ? WHERE id = ? AND status = 'active'",
        (message_id, session_id),
    )


async def mark_prompted(conn: Connection, shown: Sequence[tuple[int, str, int]]) -> None:
    """Note questions that were sent: (message id, the state it was sent for, session id).

    Keeps the latest message carrying a keyboard (ids grow within a chat, so a late
    write never replaces a newer one), and clears `prompt_pending` unless the session
    was answered again since (another state: its next question is pending). One
    statement (PostgreSQL runs an executemany's rows in one trip and one implicit
    transaction): it may run in a `Database.one_statement()` block."""
    # CASE, not SQLite's two-argument max() (PostgreSQL calls it greatest()).
    await conn.executemany(
        "UPDATE sessions SET message_id = CASE WHEN coalesce(message_id, 0) > ?"
        " THEN message_id ELSE ? END,"
        " prompt_pending = CASE WHEN state_json = ? THEN FALSE ELSE prompt_pending END"
        " WHERE id = ? AND status = 'active'",
        [(message_id, message_id, state, session_id) for message_id, state, session_id in shown],
    )


async def pending_prompts(
    conn: Connection, *, answered_since: datetime, limit: int
) -> list[Session]:
    """Active sessions answered since `answered_since` whose current question may not
    have reached the respondent."""
    return await _many(
        conn,
        "prompt_pending AND status = 'active' AND updated_at >= ? ORDER BY id LIMIT ?",
        encode_time(answered_since),
        limit,
    )


async def cancel_session(conn: Connection, session_id: int, *, now: datetime) -> bool:
    """Cancel an active session (/cancel): it is deleted, nothing is kept as a response.
    False when it was not active. (`now` is kept for callers: nothing stores it.)"""
    del now
    cursor = await conn.execute(_END, (session_id,))
    return cursor.rowcount == 1


# --- responses ----------------------------------------------------------------------------


def _answer_rows(response_id: int, records: Sequence[AnswerRecord]) -> list[tuple[object, ...]]:
    """One row per value: the number and/or text of a record, then each chosen choice id;
    numbered by their position within the response (the choices in the order chosen)."""
    values: list[tuple[object, ...]] = []
    for record in records:
        base = (record.question_id, record.question_type.value, record.metric)
        if record.number is not None or record.text is not None:
            values.append((*base, record.number, record.text, None))
        values.extend((*base, None, None, choice) for choice in record.choices)
    return [(response_id, position, *value) for position, value in enumerate(values)]


def period_stamp(week_key: str) -> datetime:
    """The time stored for an internal response of `week_key`: the start of that week (UTC
    midnight of its Monday), the same for every response of the week."""
    return datetime.combine(span(week_key).start, time(0), tzinfo=UTC)


async def _insert_response(
    conn: Connection,
    session: Session,
    *,
    status: ResponseStatus,
    records: Sequence[AnswerRecord],
    contact_id: int | None,
    now: datetime,
    week_key: str,
) -> Response:
    internal = session.audience is Audience.INTERNAL
    role = session.role if internal else None
    # An internal response keeps no time finer than its week; an external one keeps its
    # moment (a buyer is not anonymous to the owner: alerts and contact refer to it).
    submitted = period_stamp(week_key) if internal else now
    for _attempt in range(_ID_ATTEMPTS):
        response_id = secrets.randbits(_ID_BITS) | 1
        inserted = await conn.execute(
            "INSERT INTO responses (id, subject_id, survey_id, survey_version, audience,"
            " week_key, status, role, contact_id, submitted_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                response_id,
                session.subject_id,
                session.survey_id,
                session.survey_version,
                session.audience.value,
                week_key,
                status.value,
                role,
                contact_id,
                encode_time(submitted),
            ),
        )
        if inserted.rowcount == 1:
            break
        # Two equal draws in 2**61: only ever retried, never expected.
    else:
        raise IntegrityError(f"no free response id after {_ID_ATTEMPTS} draws", unique=True)
    await conn.executemany(
        "INSERT INTO answers (response_id, position, question_id, question_type, metric,"
        " number, text, choice) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        _answer_rows(response_id, records),
    )
    return Response(
        id=response_id,
        subject_id=session.subject_id,
        survey_id=session.survey_id,
        survey_version=session.survey_version,
        audience=session.audience,
        week_key=week_key,
        status=status,
        role=role,
        submitted_at=submitted,
    )


async def complete_session(
    conn: Connection,
    session: Session,
    *,
    records: list[AnswerRecord],
    marker: str,
    next_possible: date,
    contact_id: int | None,
    now: datetime,
    week_key: str,
) -> Response:
    """Turn an active session into a completed response with its answers, and delete it.

    `marker` is the caller's keyed hash of the Telegram id, subject and uniqueness period
    (`Services.pseudonym`); `week_key` the digest week. The marker is stored on its own, in
    the same transaction and without any link to the response: its primary key raises
    AlreadyAnswered(next_possible) if this person already completed one for the subject
    in the period, even across processes. SessionNotActive if the session ended meanwhile.
    `contact_id` only for an external buyer who consented (ValueError for internal)."""
    if contact_id is not None and session.audience is not Audience.EXTERNAL:
        raise ValueError("internal responses never hold a contact")
    status = await _status(conn, session.id)
    if status != SessionStatus.ACTIVE.value:
        raise SessionNotActive(session.id, status)
    inserted = await conn.execute(
        "INSERT INTO answered_markers (marker) VALUES (?) ON CONFLICT (marker) DO NOTHING",
        (marker,),
    )
    if inserted.rowcount == 0:
        raise AlreadyAnswered(next_possible)
    async with conn.execute(_END + " RETURNING week_key", (session.id,)) as ended:
        started = await ended.fetchone()
    response = await _insert_response(
        conn,
        session,
        status=ResponseStatus.COMPLETED,
        records=records,
        contact_id=contact_id,
        now=now,
        week_key=week_key,
    )
    # The completion rate's cohort: counted on the row of the week the session STARTED
    # (its row knew it), not the week it completes in. NULL (a week counted before
    # completions were) stays NULL: unknown, never a wrong number. Last, as in
    # start_session: the subject's row for the week is locked until the commit.
    if started is not None:
        await conn.execute(
            "UPDATE session_counts SET completed = completed + 1"
            " WHERE subject_id = ? AND week_key = ?",
            (session.subject_id, started[0]),
        )
    return response


async def abandon_session(
    conn: Connection,
    session: Session,
    *,
    records: list[AnswerRecord],
    now: datetime,
    week_key: str,
) -> Response | None:
    """End an idle session (deleting it): its answers so far become a response flagged
    partial (none when `records` is empty), which sets no marker, so the respondent may
    still answer in full. Returns None, doing nothing, if the session is no longer active
    (the respondent finished it meanwhile)."""
    ended = await conn.execute(_END, (session.id,))
    if ended.rowcount == 0 or not records:
        return None
    return await _insert_response(
        conn,
        session,
        status=ResponseStatus.PARTIAL,
        records=records,
        contact_id=None,
        now=now,
        week_key=week_key,
    )


async def has_answered(conn: Connection, marker: str) -> bool:
    """Whether the person, subject and period behind `marker` has a completed response."""
    async with conn.execute("SELECT 1 FROM answered_markers WHERE marker = ?", (marker,)) as cur:
        return await cur.fetchone() is not None


# --- maintenance --------------------------------------------------------------------------


async def stale_sessions(conn: Connection, *, idle_since: datetime, limit: int) -> list[Session]:
    """Active sessions with no answer since `idle_since`, oldest first (to abandon)."""
    return await _many(
        conn,
        "status = 'active' AND updated_at < ? ORDER BY updated_at, id LIMIT ?",
        encode_time(idle_since),
        limit,
    )


async def sessions_to_remind(
    conn: Connection, *, idle_since: datetime, limit: int
) -> list[Session]:
    """Active sessions idle since `idle_since` and never reminded, oldest first."""
    return await _many(
        conn,
        "status = 'active' AND updated_at < ?"
        " AND reminded_at IS NULL ORDER BY updated_at, id LIMIT ?",
        encode_time(idle_since),
        limit,
    )


async def mark_reminded(conn: Connection, session_id: int, *, now: datetime) -> bool:
    """Note the one reminder is being sent (the idle clock, `updated_at`, is not reset):
    True for the caller that marked it, who sends it; False when the session was
    reminded already (by another instance) or is no longer active."""
    cursor = await conn.execute(
        "UPDATE sessions SET reminded_at = ?"
        " WHERE id = ? AND status = 'active' AND reminded_at IS NULL",
        (encode_time(now), session_id),
    )
    return cursor.rowcount == 1


async def count_active_sessions(conn: Connection) -> int:
    """How many sessions are in progress."""
    async with conn.execute("SELECT COUNT(*) FROM sessions WHERE status = 'active'") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else 0
