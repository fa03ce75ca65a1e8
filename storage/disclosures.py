"""Recorded disclosure units (surveys.anonymity) and the per-week counts that decide them;
settling a path's weeks (decide what is undecided, record it) and planning an export."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from storage.connection import Connection
from storage.db import Database, encode_time, placeholders
from surveys import anonymity
from surveys.anonymity import NO_ROLE, ExportPlan, Settlement, Unit, WeekCounts


async def week_counts(
    conn: Connection, subject_id: int, weeks: Sequence[str]
) -> dict[str, dict[str, int]]:
    """week -> role (NO_ROLE for none) -> completed responses, for these weeks."""
    if not weeks:
        return {}
    result: dict[str, dict[str, int]] = {week: {} for week in weeks}
    async with conn.execute(
        "SELECT week_key, COALESCE(role, ?), COUNT(*) FROM responses"
        f" WHERE subject_id = ? AND week_key IN ({placeholders(weeks)})"
        # By position: PostgreSQL takes two placeholders for two different expressions.
        " AND status = 'completed' GROUP BY 1, 2",
        (NO_ROLE, subject_id, *weeks),
    ) as cursor:
        async for week, role, count in cursor:
            result[week][role] = count
    return result


async def answered_weeks(conn: Connection, subject_id: int) -> list[str]:
    """Every week with a completed response about the subject."""
    async with conn.execute(
        "SELECT DISTINCT week_key FROM responses WHERE subject_id = ? AND status = 'completed'",
        (subject_id,),
    ) as cursor:
        return [row[0] async for row in cursor]


def _unit(row: Any) -> Unit:
    roles = json.loads(row[4])
    return Unit(
        key=row[0],
        weeks=tuple(json.loads(row[2])),
        pooled=bool(row[1]),
        completed=row[3],
        roles=tuple(sorted((str(k), int(v)) for k, v in roles.items())),
        anonymity_min=row[5],
        comments_min=row[6],
        scores_shown=bool(row[7]),
        comments_shown=bool(row[8]),
        roles_shown=bool(row[9]),
    )


_COLUMNS = (
    "u.unit_key, u.pooled, u.weeks, u.completed, u.roles, u.anonymity_min, u.comments_min,"
    " u.scores_shown, u.comments_shown, u.roles_shown"
)


async def units_for(conn: Connection, subject_id: int, weeks: Sequence[str]) -> list[Unit]:
    """The recorded units holding any of these weeks."""
    if not weeks:
        return []
    async with conn.execute(
        f"SELECT DISTINCT {_COLUMNS} FROM disclosure_weeks AS w"
        " JOIN disclosure_units AS u ON u.subject_id = w.subject_id AND u.unit_key = w.unit_key"
        f" WHERE w.subject_id = ? AND w.week_key IN ({placeholders(weeks)})",
        (subject_id, *weeks),
    ) as cursor:
        return [_unit(row) async for row in cursor]


async def record(
    conn: Connection, subject_id: int, units: Iterable[Unit], *, now: datetime
) -> None:
    """Record units decided now; a unit or week recorded already (by another process)
    is left as it was (INSERT ... ON CONFLICT DO NOTHING): the caller re-reads."""
    for unit in units:
        await conn.execute(
            "INSERT INTO disclosure_units (subject_id, unit_key, pooled, weeks, completed,"
            " roles, anonymity_min, comments_min, scores_shown, comments_shown, roles_shown,"
            " decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                subject_id,
                unit.key,
                int(unit.pooled),
                json.dumps(list(unit.weeks)),
                unit.completed,
                json.dumps(dict(unit.roles), sort_keys=True),
                unit.anonymity_min,
                unit.comments_min,
                int(unit.scores_shown),
                int(unit.comments_shown),
                int(unit.roles_shown),
                encode_time(now),
            ),
        )
        await conn.executemany(
            "INSERT INTO disclosure_weeks (subject_id, week_key, unit_key) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(subject_id, week, unit.key) for week in unit.weeks],
        )


async def settle_weeks(
    db: Database,
    subject_id: int,
    weeks: Sequence[str],
    *,
    last_closed: str,
    anonymity_min: int,
    comments_min: int,
    now: datetime,
) -> tuple[Settlement, WeekCounts]:
    """The units of the closed `weeks` of an internal subject (surveys.anonymity.settle),
    deciding and recording those not decided yet; and the per-week counts read with them
    (for `intact`).

    Reads first; only when something is to be decided does it take the write lock,
    read again under it and record (the decision is made under the lock, so two
    processes deciding at once agree: the second finds the first one's units)."""
    scope = anonymity.scope_weeks(weeks)
    conn = db.conn
    counts = await week_counts(conn, subject_id, scope)
    recorded = await units_for(conn, subject_id, scope)
    rules = {"anonymity_min": anonymity_min, "comments_min": comments_min}
    found = anonymity.settle(
        weeks, last_closed=last_closed, recorded=recorded, counts=counts, **rules
    )
    if not found.new:
        return found, counts
    async with db.transaction() as conn:
        counts = await week_counts(conn, subject_id, scope)
        recorded = await units_for(conn, subject_id, scope)
        found = anonymity.settle(
            weeks, last_closed=last_closed, recorded=recorded, counts=counts, **rules
        )
        await record(conn, subject_id, found.new, now=now)
        recorded = await units_for(conn, subject_id, scope)
    settled = anonymity.settle(
        weeks, last_closed=last_closed, recorded=recorded, counts=counts, **rules
    )
    return Settlement(settled.units, found.new, settled.pending), counts


async def plan_export(
    db: Database,
    subject_id: int,
    *,
    today: date,
    now: datetime,
    anonymity_min: int,
    comments_min: int,
) -> ExportPlan:
    """Settle every closed week with answers about the subject, and keep the shown units
    (surveys.anonymity.export_plan)."""
    weeks = await answered_weeks(db.conn, subject_id)
    settled, counts = await settle_weeks(
        db,
        subject_id,
        weeks,
        last_closed=anonymity.last_closed_week(today),
        anonymity_min=anonymity_min,
        comments_min=comments_min,
        now=now,
    )
    return anonymity.export_plan(settled, counts, today=today)
