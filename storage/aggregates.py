"""Digest queries: counts, distributions, comments and trends per subject and weeks, in SQL.

Every query filters on `subject_id` and `week_key IN (...)` through the index
responses (subject_id, week_key, status), so its cost grows with the rows of the weeks
asked for, not with the whole history. Week keys are computed by the caller
(surveys.periods). Numbers come back as int when whole (a 1-5 rating is 4, not 4.0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import aiosqlite

from storage.db import decode_time, placeholders
from storage.models import Comment, PeriodCounts

Value = float | str
Distribution = dict[Value, int]

COMPLETED: tuple[str, ...] = ("completed",)


def _number(value: float) -> float:
    return int(value) if float(value).is_integer() else value


def _scope(
    subject_id: int, week_keys: Sequence[str], statuses: Sequence[str]
) -> tuple[str, list[object]]:
    """The WHERE clause selecting a subject's responses of some weeks and statuses."""
    sql = (
        f"r.subject_id = ? AND r.week_key IN ({placeholders(week_keys)})"
        f" AND r.status IN ({placeholders(statuses)})"
    )
    return sql, [subject_id, *week_keys, *statuses]


def _value(number: float | None, choice: str | None) -> Value:
    if number is not None:
        return _number(number)
    assert choice is not None
    return choice


async def period_counts(
    conn: aiosqlite.Connection, subject_id: int, week_keys: Sequence[str]
) -> PeriodCounts:
    """Sessions started, and responses completed and partial, in these weeks."""
    if not week_keys:
        return PeriodCounts(0, 0, 0)
    weeks = placeholders(week_keys)
    async with conn.execute(
        "SELECT"
        f" (SELECT COUNT(*) FROM sessions WHERE subject_id = ? AND week_key IN ({weeks})),"
        " (SELECT COUNT(*) FROM responses WHERE subject_id = ?"
        f"  AND week_key IN ({weeks}) AND status = 'completed'),"
        " (SELECT COUNT(*) FROM responses WHERE subject_id = ?"
        f"  AND week_key IN ({weeks}) AND status = 'partial')",
        (subject_id, *week_keys) * 3,
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return PeriodCounts(started=row[0], completed=row[1], partial=row[2])


async def distributions(
    conn: aiosqlite.Connection,
    subject_id: int,
    week_keys: Sequence[str],
    *,
    statuses: Sequence[str] = COMPLETED,
    role: str | None = None,
) -> dict[str, Distribution]:
    """question id -> value -> count: numbers for scale and yes/no questions (yes = 1),
    choice ids for single and multi (each chosen id counted). Free text is left out."""
    if not week_keys or not statuses:
        return {}
    scope, params = _scope(subject_id, week_keys, statuses)
    if role is not None:
        scope += " AND r.role = ?"
        params.append(role)
    async with conn.execute(
        "SELECT a.question_id, a.number, a.choice, COUNT(*)"
        " FROM responses AS r JOIN answers AS a ON a.response_id = r.id"
        f" WHERE {scope} AND (a.number IS NOT NULL OR a.choice IS NOT NULL)"
        " GROUP BY a.question_id, a.number, a.choice",
        params,
    ) as cur:
        rows = await cur.fetchall()
    result: dict[str, Distribution] = defaultdict(dict)
    for question_id, number, choice, count in rows:
        result[question_id][_value(number, choice)] = count
    return dict(result)


async def answered_counts(
    conn: aiosqlite.Connection,
    subject_id: int,
    week_keys: Sequence[str],
    *,
    statuses: Sequence[str] = COMPLETED,
) -> dict[str, int]:
    """question id -> how many responses answered it (the base for multi-choice shares)."""
    if not week_keys or not statuses:
        return {}
    scope, params = _scope(subject_id, week_keys, statuses)
    async with conn.execute(
        "SELECT a.question_id, COUNT(DISTINCT a.response_id)"
        " FROM responses AS r JOIN answers AS a ON a.response_id = r.id"
        f" WHERE {scope} GROUP BY a.question_id",
        params,
    ) as cur:
        rows = await cur.fetchall()
    return {question_id: count for question_id, count in rows}


async def role_counts(
    conn: aiosqlite.Connection,
    subject_id: int,
    week_keys: Sequence[str],
    *,
    statuses: Sequence[str] = COMPLETED,
) -> dict[str, int]:
    """Respondent role (employee, contractor, supplier) -> responses; internal only."""
    if not week_keys or not statuses:
        return {}
    scope, params = _scope(subject_id, week_keys, statuses)
    async with conn.execute(
        f"SELECT r.role, COUNT(*) FROM responses AS r WHERE {scope} AND r.role IS NOT NULL"
        " GROUP BY r.role",
        params,
    ) as cur:
        rows = await cur.fetchall()
    return {role: count for role, count in rows}


async def distributions_by_role(
    conn: aiosqlite.Connection,
    subject_id: int,
    week_keys: Sequence[str],
    *,
    statuses: Sequence[str] = COMPLETED,
) -> dict[str, dict[str, Distribution]]:
    """role -> question id -> value -> count, in one query (see `distributions`)."""
    if not week_keys or not statuses:
        return {}
    scope, params = _scope(subject_id, week_keys, statuses)
    async with conn.execute(
        "SELECT r.role, a.question_id, a.number, a.choice, COUNT(*)"
        " FROM responses AS r JOIN answers AS a ON a.response_id = r.id"
        f" WHERE {scope} AND r.role IS NOT NULL"
        " AND (a.number IS NOT NULL OR a.choice IS NOT NULL)"
        " GROUP BY r.role, a.question_id, a.number, a.choice",
        params,
    ) as cur:
        rows = await cur.fetchall()
    result: dict[str, dict[str, Distribution]] = defaultdict(lambda: defaultdict(dict))
    for role, question_id, number, choice, count in rows:
        result[role][question_id][_value(number, choice)] = count
    return {role: dict(questions) for role, questions in result.items()}


async def comments(
    conn: aiosqlite.Connection,
    subject_id: int,
    week_keys: Sequence[str],
    *,
    metrics: tuple[str, ...] | None = None,
    question_ids: Sequence[str] | None = None,
    limit: int,
    statuses: Sequence[str] = COMPLETED,
) -> list[Comment]:
    """Free-text answers (blank ones left out), longest first, then most recent; only of
    questions with one of `metrics` and/or one of `question_ids` when given."""
    if not week_keys or not statuses or metrics == () or question_ids == []:
        return []
    scope, params = _scope(subject_id, week_keys, statuses)
    if metrics is not None:
        scope += f" AND a.metric IN ({placeholders(metrics)})"
        params.extend(metrics)
    if question_ids is not None:
        scope += f" AND a.question_id IN ({placeholders(question_ids)})"
        params.extend(question_ids)
    async with conn.execute(
        "SELECT a.question_id, a.text, r.submitted_at"
        " FROM responses AS r JOIN answers AS a ON a.response_id = r.id"
        f" WHERE {scope} AND a.text IS NOT NULL AND TRIM(a.text) <> ''"
        " ORDER BY LENGTH(a.text) DESC, r.submitted_at DESC, a.id DESC LIMIT ?",
        (*params, limit),
    ) as cur:
        rows = await cur.fetchall()
    return [Comment(question_id, text, decode_time(at)) for question_id, text, at in rows]


async def trend(
    conn: aiosqlite.Connection,
    subject_id: int,
    week_keys: Sequence[str],
    question_id: str,
    *,
    statuses: Sequence[str] = COMPLETED,
) -> dict[str, dict[float, int]]:
    """week key -> the question's numeric distribution, for every week asked (an empty
    dict for a week without answers), in one query."""
    result: dict[str, dict[float, int]] = {week: {} for week in week_keys}
    if not week_keys or not statuses:
        return result
    scope, params = _scope(subject_id, week_keys, statuses)
    async with conn.execute(
        "SELECT r.week_key, a.number, COUNT(*)"
        " FROM responses AS r JOIN answers AS a ON a.response_id = r.id"
        f" WHERE {scope} AND a.question_id = ? AND a.number IS NOT NULL"
        " GROUP BY r.week_key, a.number",
        (*params, question_id),
    ) as cur:
        rows = await cur.fetchall()
    for week, number, count in rows:
        result[week][_number(number)] = count
    return result


async def invited_members(
    conn: aiosqlite.Connection, subject_id: int, week_keys: Sequence[str]
) -> int:
    """Distinct members invited in these weeks (by a pulse or by registering through a
    link) who could evaluate the subject, i.e. not members of that department: the
    denominator of an internal response rate."""
    if not week_keys:
        return 0
    async with conn.execute(
        "SELECT COUNT(DISTINCT mi.telegram_id) FROM member_invitations AS mi"
        " LEFT JOIN members AS m ON m.telegram_id = mi.telegram_id"
        f" WHERE mi.week_key IN ({placeholders(week_keys)})"
        " AND (m.department_id IS NULL OR m.department_id <> ?)",
        (*week_keys, subject_id),
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else 0
