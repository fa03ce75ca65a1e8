"""Digest queries: counts, distributions, comments and trends per subject and weeks, in SQL.

Every query filters on `subject_id` and `week_key IN (...)` through the index
responses (subject_id, week_key, status), so its cost grows with the rows of the weeks
asked for, not with the whole history. Week keys are computed by the caller
(surveys.periods). Numbers come back as int when whole (a 1-5 rating is 4, not 4.0).

The queries are methods of `Reads`, which runs them at once on the blocking connection
a `read_in_thread`/`read_at_once` function gets (either backend): a report sends all its
queries in one synchronous function, e.g.
`await db.read_in_thread(lambda conn: Reads(conn).distributions(subject_id, weeks))`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.connection import SyncConnection
from storage.db import decode_time, encode_time, placeholders
from storage.models import Comment, PeriodCounts

Value = float | str
Distribution = dict[Value, int]
Query = tuple[str, Sequence[object]]

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
    """The value of an answer row: its number (int when whole), else its choice id."""
    if number is None:
        assert choice is not None
        return choice
    # `_number`, written out for the float a REAL column gives back (rows are many).
    if number.__class__ is float:
        return int(number) if number.is_integer() else number
    return _number(number)


# --- the queries: their SQL (None when there is nothing to ask) and what their rows mean


def _period_counts_query(subject_id: int, week_keys: Sequence[str]) -> Query | None:
    if not week_keys:
        return None
    weeks = placeholders(week_keys)
    return (
        "SELECT"
        # Sessions are deleted when they end: their starts are counted apart.
        " (SELECT COALESCE(SUM(started), 0) FROM session_counts"
        f"  WHERE subject_id = ? AND week_key IN ({weeks})),"
        " (SELECT COUNT(*) FROM responses WHERE subject_id = ?"
        f"  AND week_key IN ({weeks}) AND status = 'completed'),"
        " (SELECT COUNT(*) FROM responses WHERE subject_id = ?"
        f"  AND week_key IN ({weeks}) AND status = 'partial'),"
        # Of the sessions started in the weeks, those completed: NULL when any week's row
        # was counted before completions were (its number is unknown, not 0).
        " (SELECT CASE WHEN COUNT(*) = COUNT(completed) THEN COALESCE(SUM(completed), 0) END"
        f"  FROM session_counts WHERE subject_id = ? AND week_key IN ({weeks}))",
        (subject_id, *week_keys) * 4,
    )


def _period_counts_result(rows: Sequence[Sequence[Any]]) -> PeriodCounts:
    row = rows[0]
    return PeriodCounts(started=row[0], completed=row[1], partial=row[2], started_completed=row[3])


def _distributions_query(
    subject_id: int, week_keys: Sequence[str], statuses: Sequence[str], role: str | None
) -> Query | None:
    if not week_keys or not statuses:
        return None
    scope, params = _scope(subject_id, week_keys, statuses)
    if role is not None:
        scope += " AND r.role = ?"
        params.append(role)
    return (
        "SELECT a.question_id, a.number, a.choice, COUNT(*)"
        " FROM responses AS r JOIN answers AS a ON a.response_id = r.id"
        f" WHERE {scope} AND (a.number IS NOT NULL OR a.choice IS NOT NULL)"
        " GROUP BY a.question_id, a.number, a.choice",
        params,
    )


def _distributions_result(rows: Sequence[Sequence[Any]]) -> dict[str, Distribution]:
    result: dict[str, Distribution] = {}
    for question_id, number, choice, count in rows:
        values = result.get(question_id)
        if values is None:
            values = result[question_id] = {}
        values[_value(number, choice)] = count
    return result


def _role_counts_query(
    subject_id: int, week_keys: Sequence[str], statuses: Sequence[str]
) -> Query | None:
    if not week_keys or not statuses:
        return None
    scope, params = _scope(subject_id, week_keys, statuses)
    return (
        f"SELECT r.role, COUNT(*) FROM responses AS r WHERE {scope} AND r.role IS NOT NULL"
        " GROUP BY r.role",
        params,
    )


def _counts_by_key(rows: Sequence[Sequence[Any]]) -> dict[str, int]:
    return {key: count for key, count in rows}


def _distributions_by_role_query(
    subject_id: int, week_keys: Sequence[str], statuses: Sequence[str]
) -> Query | None:
    if not week_keys or not statuses:
        return None
    scope, params = _scope(subject_id, week_keys, statuses)
    return (
        "SELECT r.role, a.question_id, a.number, a.choice, COUNT(*)"
        " FROM responses AS r JOIN answers AS a ON a.response_id = r.id"
        f" WHERE {scope} AND r.role IS NOT NULL"
        " AND (a.number IS NOT NULL OR a.choice IS NOT NULL)"
        " GROUP BY r.role, a.question_id, a.number, a.choice",
        params,
    )


def _distributions_by_role_result(
    rows: Sequence[Sequence[Any]],
) -> dict[str, dict[str, Distribution]]:
    result: dict[str, dict[str, Distribution]] = {}
    for role, question_id, number, choice, count in rows:
        questions = result.get(role)
        if questions is None:
            questions = result[role] = {}
        values = questions.get(question_id)
        if values is None:
            values = questions[question_id] = {}
        values[_value(number, choice)] = count
    return result


def _comments_query(
    subject_id: int,
    week_keys: Sequence[str],
    metrics: tuple[str, ...] | None,
    question_ids: Sequence[str] | None,
    limit: int,
    statuses: Sequence[str],
) -> Query | None:
    if not week_keys or not statuses or metrics == () or question_ids == []:
        return None
    scope, params = _scope(subject_id, week_keys, statuses)
    if metrics is not None:
        scope += f" AND a.metric IN ({placeholders(metrics)})"
        params.extend(metrics)
    if question_ids is not None:
        scope += f" AND a.question_id IN ({placeholders(question_ids)})"
        params.extend(question_ids)
    return (
        "SELECT a.question_id, a.text, r.submitted_at"
        " FROM responses AS r JOIN answers AS a ON a.response_id = r.id"
        f" WHERE {scope} AND a.text IS NOT NULL AND TRIM(a.text) <> ''"
        # Ties broken by the (random) response id: never by order of submission.
        " ORDER BY LENGTH(a.text) DESC, r.submitted_at DESC, r.id, a.position LIMIT ?",
        (*params, limit),
    )


def _comments_result(rows: Sequence[Sequence[Any]]) -> list[Comment]:
    return [Comment(question_id, text, decode_time(at)) for question_id, text, at in rows]


def _trend_query(
    subject_id: int, week_keys: Sequence[str], question_id: str, statuses: Sequence[str]
) -> Query | None:
    if not week_keys or not statuses:
        return None
    scope, params = _scope(subject_id, week_keys, statuses)
    return (
        "SELECT r.week_key, a.number, COUNT(*)"
        " FROM responses AS r JOIN answers AS a ON a.response_id = r.id"
        f" WHERE {scope} AND a.question_id = ? AND a.number IS NOT NULL"
        " GROUP BY r.week_key, a.number",
        (*params, question_id),
    )


def _trend_result(
    week_keys: Sequence[str], rows: Sequence[Sequence[Any]]
) -> dict[str, dict[float, int]]:
    result: dict[str, dict[float, int]] = {week: {} for week in week_keys}
    for week, number, count in rows:
        if number.__class__ is not float:
            number = _number(number)
        elif number.is_integer():
            number = int(number)
        result[week][number] = count
    return result


def _evaluators_query(subject_id: int, registered_before: datetime) -> Query:
    # Contractors and suppliers have no department; an employee whose department was
    # deleted has none either: all of them may evaluate any department.
    return (
        "SELECT COUNT(*) FROM members WHERE registered_at < ?"
        " AND (department_id IS NULL OR department_id <> ?)",
        (encode_time(registered_before), subject_id),
    )


def _count_result(rows: Sequence[Sequence[Any]]) -> int:
    return int(rows[0][0]) if rows else 0


# --- run on a blocking connection ------------------------------------------------------


class Reads:
    """The digest queries, run at once on the blocking connection that
    `storage.db.read_in_thread` (or `read_at_once`) hands its function, of either backend;
    rows read as tuples or Row alike. Blocking: never on the event loop's thread."""

    __slots__ = ("_conn",)

    def __init__(self, conn: SyncConnection) -> None:
        self._conn = conn

    def _fetch(self, query: Query) -> list[Any]:
        return self._conn.execute(*query).fetchall()

    def period_counts(self, subject_id: int, week_keys: Sequence[str]) -> PeriodCounts:
        """Sessions started, and responses completed and partial, in these weeks."""
        query = _period_counts_query(subject_id, week_keys)
        if query is None:
            return PeriodCounts(0, 0, 0, 0)
        return _period_counts_result(self._fetch(query))

    def distributions(
        self,
        subject_id: int,
        week_keys: Sequence[str],
        *,
        statuses: Sequence[str] = COMPLETED,
        role: str | None = None,
    ) -> dict[str, Distribution]:
        """question id -> value -> count: numbers for scale and yes/no questions (yes = 1),
        choice ids for single and multi (each chosen id counted). Free text is left out."""
        query = _distributions_query(subject_id, week_keys, statuses, role)
        return {} if query is None else _distributions_result(self._fetch(query))

    def role_counts(
        self, subject_id: int, week_keys: Sequence[str], *, statuses: Sequence[str] = COMPLETED
    ) -> dict[str, int]:
        """Respondent role (employee, contractor, supplier) -> responses; internal only."""
        query = _role_counts_query(subject_id, week_keys, statuses)
        return {} if query is None else _counts_by_key(self._fetch(query))

    def distributions_by_role(
        self, subject_id: int, week_keys: Sequence[str], *, statuses: Sequence[str] = COMPLETED
    ) -> dict[str, dict[str, Distribution]]:
        """role -> question id -> value -> count, in one query (see `distributions`)."""
        query = _distributions_by_role_query(subject_id, week_keys, statuses)
        return {} if query is None else _distributions_by_role_result(self._fetch(query))

    def comments(
        self,
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
        query = _comments_query(subject_id, week_keys, metrics, question_ids, limit, statuses)
        return [] if query is None else _comments_result(self._fetch(query))

    def trend(
        self,
        subject_id: int,
        week_keys: Sequence[str],
        question_id: str,
        *,
        statuses: Sequence[str] = COMPLETED,
    ) -> dict[str, dict[float, int]]:
        """week key -> the question's numeric distribution, for every week asked (an empty
        dict for a week without answers), in one query."""
        query = _trend_query(subject_id, week_keys, question_id, statuses)
        return _trend_result(week_keys, [] if query is None else self._fetch(query))

    def evaluators(self, subject_id: int, *, registered_before: datetime) -> int:
        """The members who could evaluate a department in a period: every member registered
        before `registered_before` (the end of the period) who is not an employee of that
        department, i.e. employees of other departments, contractors and suppliers. The
        denominator of an internal response rate."""
        return _count_result(self._fetch(_evaluators_query(subject_id, registered_before)))
