"""CSV export of a subject's responses: one row per response, one column per question.

`export_csv` writes everything (the admin's `feedbot export`, and products for their
owners); `export_units_csv` only what the anonymity rules let an owner of a department
read (surveys.anonymity)."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Sequence
from datetime import date, timedelta
from typing import TextIO

from storage.connection import Connection
from storage.db import decode_time, placeholders
from storage.models import Subject, SubjectKind
from surveys.anonymity import Unit

# Excel runs a cell starting with one of these as a formula; free text from respondents
# is prefixed with an apostrophe so it stays text (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _number_cell(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def header(subject: Subject, question_ids: Sequence[str]) -> list[str]:
    """The CSV columns for a subject: role only for departments, contact only for products."""
    columns = ["response_no", "submitted_at", "survey_version", "status"]
    if subject.kind is SubjectKind.DEPARTMENT:
        columns.append("role")
    columns.extend(question_ids)
    if subject.kind is SubjectKind.PRODUCT:
        columns.append("contact_telegram_id")
    return columns


async def export_csv(
    conn: Connection,
    subject: Subject,
    question_ids: list[str],
    out: TextIO,
    *,
    start: date | None,
    end: date | None,
    multi_question_ids: Collection[str] = frozenset(),
) -> int:
    """Write the subject's responses submitted from `start` to `end` (inclusive, UTC
    dates; None: unbounded; for a department, whole weeks: those with a day in that
    range) as CSV to `out`; returns how many rows were written.

    Rows are numbered 1, 2, ... by time, then by the random response id (internal responses
    all carry the start of their week, so within a week their order is random, not that of
    submission); no Telegram id is written, except `contact_telegram_id` of buyers who
    consented to be contacted.
    Multi-choice answers are their choice ids joined with ";" in the order chosen; any
    question holding several values is joined the same way, so `multi_question_ids` is
    optional and informative only. Open `out` with
    encoding="utf-8-sig" and newline="" so Excel shows Polish letters."""
    internal = subject.kind is SubjectKind.DEPARTMENT
    where = ["r.subject_id = ?"]
    params: list[object] = [subject.id]
    if start is not None:
        # An internal response is stamped with its week's Monday: a week is in when any
        # of its days is.
        first = start - timedelta(days=6) if internal else start
        where.append("r.submitted_at >= ?")
        params.append(first.isoformat())
    if end is not None:
        # Times are stored as "YYYY-MM-DDT...": everything before the next day's date.
        where.append("r.submitted_at < ?")
        params.append((end + timedelta(days=1)).isoformat())
    writer = csv.writer(out)
    writer.writerow(header(subject, question_ids))
    wanted = set(question_ids)
    written = 0
    current: int | None = None
    fixed: list[str] = []
    values: dict[str, list[str]] = {}
    contact = ""

    def flush() -> None:
        row = [str(written), *fixed]
        row.extend(";".join(values.get(q, [])) for q in question_ids)
        if not internal:
            row.append(contact)
        writer.writerow(row)

    async with conn.execute(
        "SELECT r.id, r.submitted_at, r.survey_version, r.status, r.role, r.contact_id,"
        " a.question_id, a.number, a.text, a.choice"
        " FROM responses AS r LEFT JOIN answers AS a ON a.response_id = r.id"
        f" WHERE {' AND '.join(where)} ORDER BY r.submitted_at, r.id, a.position",
        params,
    ) as cursor:
        async for row in cursor:
            if row["id"] != current:
                if current is not None:
                    flush()
                current = row["id"]
                written += 1
                submitted = decode_time(row["submitted_at"]).isoformat(timespec="seconds")
                fixed = [submitted, str(row["survey_version"]), row["status"]]
                if internal:
                    fixed.append(row["role"] or "")
                values = {}
                contact = "" if row["contact_id"] is None else str(row["contact_id"])
            question_id = row["question_id"]
            if question_id is None or question_id not in wanted:
                continue
            cell = values.setdefault(question_id, [])
            if row["number"] is not None:
                cell.append(_number_cell(row["number"]))
            if row["text"] is not None:
                cell.append(_text_cell(row["text"]))
            if row["choice"] is not None:
                cell.append(row["choice"])
    if current is not None:
        flush()
    return written


async def export_csv_bytes(
    conn: Connection,
    subject: Subject,
    question_ids: list[str],
    *,
    start: date | None,
    end: date | None,
    multi_question_ids: Collection[str] = frozenset(),
) -> bytes:
    """`export_csv` as UTF-8 bytes with a BOM, ready to send as a document."""
    buffer = io.StringIO(newline="")
    await export_csv(
        conn,
        subject,
        question_ids,
        buffer,
        start=start,
        end=end,
        multi_question_ids=multi_question_ids,
    )
    return buffer.getvalue().encode("utf-8-sig")


def unit_label(unit: Unit) -> str:
    """The period column of an owner's internal export: the unit's week, or the weeks
    pooled together joined with "+" (never a week inside a pool on its own)."""
    return "+".join(unit.weeks)


async def export_units_csv(
    conn: Connection,
    subject: Subject,
    question_ids: list[str],
    units: Sequence[Unit],
    out: TextIO,
) -> int:
    """An owner's export of an internal subject (surveys.anonymity): the completed
    responses of the shown `units` only, the set each unit's digest aggregates. A row
    names its unit (`unit_label`), not a time; its role only where the unit lets roles
    through, its free text (any answer typed) only where it lets comments through;
    within a unit rows are sorted by their cells, so their order says nothing about
    when they were given."""
    writer = csv.writer(out)
    writer.writerow(["response_no", "period", "role", *question_ids])
    wanted = set(question_ids)
    written = 0
    for unit in units:
        label = unit_label(unit)
        responses: dict[object, tuple[str, dict[str, list[str]]]] = {}
        async with conn.execute(
            "SELECT r.id, r.role, a.question_id, a.number, a.text, a.choice"
            " FROM responses AS r LEFT JOIN answers AS a ON a.response_id = r.id"
            f" WHERE r.subject_id = ? AND r.week_key IN ({placeholders(unit.weeks)})"
            " AND r.status = 'completed' ORDER BY r.id, a.position",
            (subject.id, *unit.weeks),
        ) as cursor:
            async for row in cursor:
                role = (row["role"] or "") if unit.roles_shown else ""
                _, values = responses.setdefault(row["id"], (role, {}))
                question_id = row["question_id"]
                if question_id is None or question_id not in wanted:
                    continue
                cell = values.setdefault(question_id, [])
                if row["number"] is not None:
                    cell.append(_number_cell(row["number"]))
                if row["text"] is not None and unit.comments_shown:
                    cell.append(_text_cell(row["text"]))
                if row["choice"] is not None:
                    cell.append(row["choice"])
        rows = sorted(
            [role, *(";".join(values.get(q, [])) for q in question_ids)]
            for role, values in responses.values()
        )
        for cells in rows:
            written += 1
            writer.writerow([str(written), label, *cells])
    return written


async def export_units_csv_bytes(
    conn: Connection,
    subject: Subject,
    question_ids: list[str],
    units: Sequence[Unit],
) -> bytes:
    """`export_units_csv` as UTF-8 bytes with a BOM, ready to send as a document."""
    buffer = io.StringIO(newline="")
    await export_units_csv(conn, subject, question_ids, units, buffer)
    return buffer.getvalue().encode("utf-8-sig")
