"""Disclosure units recorded in the database: once, the same for two processes, and guarded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bot.digest.compose import compose_digest
from bot.digest.model import Basis, Digest
from storage import disclosures
from storage.db import Database
from storage.disclosures import settle_weeks
from storage.models import Subject, SubjectKind
from storage.subjects import add_subject
from tests.digest.digest_support import CATALOG, NOW, W47, W48, Respond, internal_answers

MONDAY_AFTER_W48 = datetime(2026, 11, 30, 9, tzinfo=UTC)


async def _department(db: Database) -> Subject:
    async with db.transaction() as conn:
        return await add_subject(
            conn,
            slug="sales",
            kind=SubjectKind.DEPARTMENT,
            names={"en": "Sales"},
            survey_id="internal",
            now=NOW,
        )


async def _rows(db: Database) -> list[tuple[object, ...]]:
    async with db.conn.execute(
        "SELECT unit_key, weeks, completed, roles, anonymity_min, comments_min, scores_shown,"
        " comments_shown, roles_shown FROM disclosure_units ORDER BY unit_key"
    ) as cursor:
        return [tuple(row) async for row in cursor]


async def test_a_unit_is_recorded_once_with_the_counts_and_thresholds_it_was_decided_with(
    db: Database, department: Subject, respond: Respond
) -> None:
    await respond(department, internal_answers(4), week=W47, role="employee", times=5)
    await respond(department, internal_answers(4), week=W48, times=2)
    for _ in range(2):  # the second time finds everything decided: nothing is written
        settled, _ = await settle_weeks(
            db,
            department.id,
            [W47, W48],
            last_closed=W48,
            anonymity_min=5,
            comments_min=6,
            now=MONDAY_AFTER_W48,
        )
    assert settled.new == ()
    assert await _rows(db) == [
        ("2026-W47", '["2026-W47"]', 5, '{"employee": 5}', 5, 6, 1, 0, 0),
        (
            "pool:2026-W45",
            '["2026-W45", "2026-W46", "2026-W48"]',
            2,
            '{"": 2}',
            5,
            6,
            0,
            0,
            0,
        ),
    ]


async def test_two_processes_deciding_at_once_agree(tmp_path: Path) -> None:
    """The bot and `feedbot digest send` (two connections to one file), configured with
    different thresholds, decide W48 at the same moment: one decision wins, the other
    process reads it, and each week has one unit."""
    path = tmp_path / "feedbot.sqlite3"
    first = await Database.open(path)
    second = await Database.open(path)
    try:
        subject = await _department(first)
        await Respond(first)(subject, internal_answers(4), week=W48, times=5)
        results = await asyncio.gather(
            *(
                settle_weeks(
                    db,
                    subject.id,
                    [W48],
                    last_closed=W48,
                    anonymity_min=k,
                    comments_min=5,
                    now=MONDAY_AFTER_W48,
                )
                for db, k in ((first, 5), (second, 6))
            )
        )
        units = [settled.units[W48] for settled, _ in results]
        assert units[0] == units[1]
        assert len(await disclosures.units_for(first.conn, subject.id, [W48])) == 1
        async with first.conn.execute("SELECT COUNT(*) FROM disclosure_weeks") as cursor:
            row = await cursor.fetchone()
        assert row is not None and row[0] == len(units[0].weeks)  # each week in one unit
    finally:
        await second.close()
        await first.close()


async def test_a_response_stored_late_into_a_decided_week_withholds_its_unit(
    db: Database, department: Subject, respond: Respond
) -> None:
    """Responses are filed under the week in which they are stored, so a closed week does
    not grow, but a clock or time-zone change at midnight could add one: the unit's two
    versions would then differ by that one answer, so it is not shown any more."""
    await respond(department, internal_answers(4, text="Fine"), week=W48, times=5)

    async def digest() -> Digest:
        return await compose_digest(
            db,
            department,
            CATALOG.latest("internal"),
            W48,
            anonymity_min=5,
            comments_min=5,
            now=NOW,
            closed_only=True,
        )

    shown = await digest()
    assert shown.scores_gate.basis is Basis.PERIOD
    await respond(department, internal_answers(1, text="Late"), week=W48)
    late = await digest()
    assert late.scores_gate.basis is Basis.HIDDEN
    assert late.scores == () and late.comments == () and late.roles == ()
    assert not any(p.estimate for p in late.trend)
