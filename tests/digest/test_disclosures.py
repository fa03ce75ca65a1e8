"""Disclosure units recorded in the database: once, the same for two processes, and guarded."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.digest.compose import compose_digest
from bot.digest.model import Basis, Digest
from storage import disclosures
from storage.db import Database
from storage.disclosures import settle_weeks
from storage.models import Subject, SubjectKind
from storage.subjects import add_subject
from tests.backends import POSTGRES_ON, postgres_url
from tests.digest.digest_support import CATALOG, NOW, W47, W48, Respond, internal_answers

MONDAY_AFTER_W48 = datetime(2026, 11, 30, 9, tzinfo=UTC)
ROUNDS = 30  # races of two PostgreSQL instances over one subject's units


async def _department(db: Database, *, slug: str = "sales") -> Subject:
    async with db.transaction() as conn:
        return await add_subject(
            conn,
            slug=slug,
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


async def test_two_instances_on_postgresql_deciding_at_once_never_overlap() -> None:
    """Two instances (two pools) on one PostgreSQL database, configured with different
    thresholds, decide the same subject's weeks at the same moment, many times: one
    decision wins each time (the subject's disclosure lock), both callers get the same
    units, and every week belongs to the one unit that lists it."""
    if not POSTGRES_ON:
        pytest.skip("FEEDBOT_TEST_POSTGRES=off")
    async with postgres_url() as url:
        first = await Database.open(url)
        second = await Database.open(url)
        try:
            for round_ in range(ROUNDS):
                subject = await _department(first, slug=f"sales-{round_}")
                respond = Respond(first)
                # Thresholds 3 and 5: W47's 4 answers are a unit of their own for one
                # instance and pooled with the small weeks for the other.
                await respond(subject, internal_answers(4), week=W47, times=4)
                await respond(subject, internal_answers(4), week=W48, times=2)
                results = await asyncio.gather(
                    *(
                        settle_weeks(
                            db,
                            subject.id,
                            [W47, W48],
                            last_closed=W48,
                            anonymity_min=k,
                            comments_min=5,
                            now=MONDAY_AFTER_W48,
                        )
                        for db, k in ((first, 3), (second, 5))
                    )
                )
                (a, _), (b, _) = results
                assert a.units == b.units, round_
                assert a.pending == b.pending, round_
                assert not (a.new and b.new), round_  # one of them decided
                async with first.conn.execute(
                    "SELECT u.unit_key, u.weeks, w.week_key, w.unit_key"
                    " FROM disclosure_units AS u"
                    " LEFT JOIN disclosure_weeks AS w ON w.subject_id = u.subject_id"
                    "  AND w.week_key IN"
                    "   (SELECT value FROM json_array_elements_text(u.weeks::json))"
                    " WHERE u.subject_id = ?",
                    (subject.id,),
                ) as cursor:
                    rows = [tuple(row) async for row in cursor]
                assert rows, round_
                # Every week a unit lists is recorded as that unit's, and no other's.
                assert all(week is not None and owner == key for key, _, week, owner in rows), (
                    round_,
                    rows,
                )
                listed = [week for _, weeks, _, _ in rows for week in json.loads(weeks)]
                async with first.conn.execute(
                    "SELECT COUNT(*) FROM disclosure_weeks WHERE subject_id = ?", (subject.id,)
                ) as cursor:
                    row = await cursor.fetchone()
                assert row is not None and row[0] == len(set(listed)), (round_, rows)
        finally:
            await second.close()
            await first.close()
