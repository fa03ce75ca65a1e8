"""Digest queries on a small hand-built dataset with exact expected counts."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from storage.aggregates import Reads
from storage.connection import SyncConnection
from storage.db import Database
from storage.members import register_member
from storage.models import Comment, MemberRole, PeriodCounts, Session, Subject, SubjectKind
from storage.sessions import abandon_session, cancel_session, complete_session
from storage.subjects import add_subject
from surveys.periods import week_key
from surveys.schema import AnswerRecord, QuestionType
from tests.reads import read

StartSession = Callable[..., Awaitable[Session]]
W46, W47, W48 = "2026-W46", "2026-W47", "2026-W48"
END = datetime(2026, 11, 30, tzinfo=UTC)  # the end of 2026-W48


def rating(value: int) -> AnswerRecord:
    return AnswerRecord(
        question_id="reliability",
        question_type=QuestionType.RATING,
        metric="reliability",
        number=value,
    )


def channels(*ids: str) -> AnswerRecord:
    return AnswerRecord(question_id="channels", question_type=QuestionType.MULTI, choices=ids)


def comment(text: str) -> AnswerRecord:
    return AnswerRecord(
        question_id="comment", question_type=QuestionType.TEXT, metric="comment", text=text
    )


def recommend(yes: bool) -> AnswerRecord:
    return AnswerRecord(
        question_id="recommend", question_type=QuestionType.YES_NO, number=float(yes)
    )


@pytest.fixture
async def dataset(
    db: Database, department: Subject, product: Subject, start: StartSession, now: datetime
) -> Subject:
    """sales, week 2026-W48: three completed (employee, contractor, employee), one partial
    (supplier), one cancelled; 2026-W47: one completed; a product's response elsewhere."""

    async def complete(
        respondent: int,
        role: str,
        at: datetime,
        *records: AnswerRecord,
        subject: Subject = department,
    ) -> None:
        session = await start(respondent, subject, now=at, role=role)
        key = week_key(at.date())
        async with db.transaction() as conn:
            await complete_session(
                conn,
                session,
                records=list(records),
                marker=f"p{respondent}:{subject.id}:{key}",
                next_possible=at.date(),
                contact_id=None,
                now=at,
                week_key=key,
            )

    await complete(
        1, "employee", now, rating(4), channels("email", "chat"), comment("Great support, thanks")
    )
    await complete(
        2, "contractor", now + timedelta(hours=1), rating(2), channels("email"), comment("Slow")
    )
    await complete(
        3, "employee", now + timedelta(hours=2), rating(4), recommend(True), comment("   ")
    )
    partial = await start(4, department, role="supplier")
    async with db.transaction() as conn:
        await abandon_session(
            conn,
            partial,
            records=[rating(1), comment("Meh!")],
            now=now,
            week_key=W48,
        )
    cancelled = await start(5, department)
    async with db.transaction() as conn:
        await cancel_session(conn, cancelled.id, now=now)
    await complete(6, "employee", now - timedelta(days=7), rating(5), comment("Last week"))
    await complete(
        7, "employee", now, rating(1), comment("Another subject entirely"), subject=product
    )
    return department


async def test_period_counts(db: Database, dataset: Subject) -> None:
    assert await read(db.conn, Reads.period_counts, dataset.id, [W48]) == PeriodCounts(5, 3, 1, 3)
    assert await read(db.conn, Reads.period_counts, dataset.id, [W47, W48]) == PeriodCounts(
        6, 4, 1, 4
    )
    assert await read(db.conn, Reads.period_counts, dataset.id, [W46]) == PeriodCounts(0, 0, 0, 0)
    assert await read(db.conn, Reads.period_counts, dataset.id, []) == PeriodCounts(0, 0, 0, 0)


async def test_a_session_completes_for_the_week_it_started_in(
    db: Database, department: Subject, start: StartSession, now: datetime
) -> None:
    """The completion rate's cohort: a session started in W47 and completed in W48 is a
    W48 response, and one of W47's started sessions that completed."""
    sunday = now - timedelta(days=now.weekday() + 1)  # the Sunday before: week 47
    assert week_key(sunday.date()) == W47
    late = await start(1, department, now=sunday)
    await start(2, department, now=sunday)  # started in W47, never finished
    async with db.transaction() as conn:
        await complete_session(
            conn,
            late,
            records=[rating(3)],
            marker="late",
            next_possible=now.date(),
            contact_id=None,
            now=now,
            week_key=W48,
        )
    assert await read(db.conn, Reads.period_counts, department.id, [W47]) == PeriodCounts(
        2, 0, 0, 1
    )
    assert await read(db.conn, Reads.period_counts, department.id, [W48]) == PeriodCounts(
        0, 1, 0, 0
    )
    # What is stored is two numbers per subject and week: nothing about who.
    rows = await (await db.conn.execute("SELECT * FROM session_counts")).fetchall()
    assert [tuple(row) for row in rows] == [(department.id, W47, 2, 1)]


async def test_weeks_counted_before_completions_were_have_no_cohort(
    db: Database, dataset: Subject
) -> None:
    """A week whose counter row predates migration 0006 has `completed` NULL: its cohort
    is unknown, and so is that of any window holding it (never counted as 0)."""
    async with db.transaction() as conn:
        await conn.execute("UPDATE session_counts SET completed = NULL WHERE week_key = ?", (W47,))
    assert (await read(db.conn, Reads.period_counts, dataset.id, [W47])).started_completed is None
    assert (
        await read(db.conn, Reads.period_counts, dataset.id, [W47, W48])
    ).started_completed is None
    assert (await read(db.conn, Reads.period_counts, dataset.id, [W48])).started_completed == 3


async def test_distributions(db: Database, dataset: Subject) -> None:
    assert await read(db.conn, Reads.distributions, dataset.id, [W48]) == {
        "reliability": {4: 2, 2: 1},
        "channels": {"email": 2, "chat": 1},
        "recommend": {1: 1},
    }
    with_partial = await read(
        db.conn, Reads.distributions, dataset.id, [W48], statuses=("completed", "partial")
    )
    assert with_partial["reliability"] == {4: 2, 2: 1, 1: 1}
    assert await read(db.conn, Reads.distributions, dataset.id, [W48], role="employee") == {
        "reliability": {4: 2},
        "channels": {"email": 1, "chat": 1},
        "recommend": {1: 1},
    }
    assert await read(db.conn, Reads.distributions, dataset.id, [W47, W48]) == {
        "reliability": {5: 1, 4: 2, 2: 1},
        "channels": {"email": 2, "chat": 1},
        "recommend": {1: 1},
    }
    assert await read(db.conn, Reads.distributions, dataset.id, [W46]) == {}


async def test_whole_numbers_come_back_as_int(db: Database, dataset: Subject) -> None:
    reliability = (await read(db.conn, Reads.distributions, dataset.id, [W48]))["reliability"]
    assert all(type(value) is int for value in reliability)


async def test_roles(db: Database, dataset: Subject) -> None:
    assert await read(db.conn, Reads.role_counts, dataset.id, [W48]) == {
        "employee": 2,
        "contractor": 1,
    }
    assert await read(
        db.conn, Reads.role_counts, dataset.id, [W48], statuses=("completed", "partial")
    ) == {
        "employee": 2,
        "contractor": 1,
        "supplier": 1,
    }
    assert await read(db.conn, Reads.distributions_by_role, dataset.id, [W48]) == {
        "employee": {
            "reliability": {4: 2},
            "channels": {"email": 1, "chat": 1},
            "recommend": {1: 1},
        },
        "contractor": {"reliability": {2: 1}, "channels": {"email": 1}},
    }


async def test_comments_longest_first_without_blanks(
    db: Database, dataset: Subject, now: datetime
) -> None:
    # An internal comment carries the start of its week, not the time it was written.
    week_start = datetime(2026, 11, 23, tzinfo=UTC)
    assert await read(db.conn, Reads.comments, dataset.id, [W48], limit=10) == [
        Comment("comment", "Great support, thanks", week_start),
        Comment("comment", "Slow", week_start),
    ]
    assert [
        c.text for c in await read(db.conn, Reads.comments, dataset.id, [W47, W48], limit=2)
    ] == [
        "Great support, thanks",
        "Last week",
    ]
    with_partial = [
        c.text
        for c in await read(
            db.conn, Reads.comments, dataset.id, [W48], limit=10, statuses=("completed", "partial")
        )
    ]
    # "Slow" and "Meh!" are as long and of the same week: their order is the random ids'.
    assert with_partial[0] == "Great support, thanks"
    assert sorted(with_partial[1:]) == ["Meh!", "Slow"]
    assert await read(
        db.conn, Reads.comments, dataset.id, [W48], metrics=("comment",), limit=1
    ) == [Comment("comment", "Great support, thanks", week_start)]
    assert (
        await read(db.conn, Reads.comments, dataset.id, [W48], metrics=("nps_why",), limit=5) == []
    )
    assert (
        await read(db.conn, Reads.comments, dataset.id, [W48], question_ids=["other"], limit=5)
        == []
    )
    assert (
        len(
            await read(
                db.conn, Reads.comments, dataset.id, [W48], question_ids=["comment"], limit=5
            )
        )
        == 2
    )


async def test_comments_of_equal_length_most_recent_first(
    db: Database, product: Subject, start: StartSession, now: datetime
) -> None:
    # External responses keep their time; internal ones all carry their week's start.
    for respondent, hours in ((1, 0), (2, 3), (3, 1)):
        at = now + timedelta(hours=hours)
        session = await start(respondent, product, now=at)
        async with db.transaction() as conn:
            await complete_session(
                conn,
                session,
                records=[comment(f"text {respondent}")],
                marker=f"p{respondent}",
                next_possible=at.date(),
                contact_id=None,
                now=at,
                week_key=W48,
            )
    assert [c.text for c in await read(db.conn, Reads.comments, product.id, [W48], limit=3)] == [
        "text 2",
        "text 3",
        "text 1",
    ]


async def test_internal_comments_of_equal_length_follow_the_random_ids(
    db: Database, department: Subject, start: StartSession, now: datetime
) -> None:
    for respondent in range(1, 7):
        session = await start(respondent, department, now=now + timedelta(hours=respondent))
        async with db.transaction() as conn:
            await complete_session(
                conn,
                session,
                records=[comment(f"text {respondent}")],
                marker=f"p{respondent}",
                next_possible=now.date(),
                contact_id=None,
                now=now + timedelta(hours=respondent),
                week_key=W48,
            )
    async with db.conn.execute(
        "SELECT a.text FROM responses AS r JOIN answers AS a ON a.response_id = r.id ORDER BY r.id"
    ) as cursor:
        by_id = [row[0] for row in await cursor.fetchall()]
    found = await read(db.conn, Reads.comments, department.id, [W48], limit=6)
    assert [c.text for c in found] == by_id
    assert {c.submitted_at for c in found} == {datetime(2026, 11, 23, tzinfo=UTC)}


async def test_trend_has_every_week_asked(db: Database, dataset: Subject) -> None:
    assert await read(db.conn, Reads.trend, dataset.id, [W46, W47, W48], "reliability") == {
        W46: {},
        W47: {5: 1},
        W48: {4: 2, 2: 1},
    }
    assert await read(db.conn, Reads.trend, dataset.id, [W48], "comment") == {W48: {}}


async def test_evaluators_are_members_registered_by_the_end_outside_the_department(
    db: Database, department: Subject, now: datetime
) -> None:
    async with db.transaction() as conn:
        marketing = await add_subject(
            conn,
            slug="marketing",
            kind=SubjectKind.DEPARTMENT,
            names={"en": "Marketing"},
            survey_id="internal",
            now=now,
        )
        await register_member(
            conn, 1, role=MemberRole.EMPLOYEE, department_id=department.id, now=now
        )
        await register_member(conn, 2, role=MemberRole.CONTRACTOR, department_id=None, now=now)
        await register_member(
            conn, 3, role=MemberRole.EMPLOYEE, department_id=marketing.id, now=now
        )
        await register_member(conn, 4, role=MemberRole.SUPPLIER, department_id=None, now=now)
        later = now + timedelta(days=7)
        await register_member(conn, 5, role=MemberRole.SUPPLIER, department_id=None, now=later)
    end = now + timedelta(days=1)
    assert (
        await read(db.conn, Reads.evaluators, department.id, registered_before=end) == 3
    )  # 2, 3, 4
    assert (
        await read(db.conn, Reads.evaluators, marketing.id, registered_before=end) == 3
    )  # 1, 2, 4
    after = later + timedelta(seconds=1)
    assert (
        await read(db.conn, Reads.evaluators, department.id, registered_before=after) == 4
    )  # and 5
    # Registered exactly at the end is after it: the end is the first moment not in the week.
    assert await read(db.conn, Reads.evaluators, department.id, registered_before=now) == 0


async def test_digest_queries_search_indexes_instead_of_scanning_tables(
    db: Database, dataset: Subject
) -> None:
    """Their cost follows the rows of the weeks asked for, not the whole history."""
    if db.dialect != "sqlite":
        pytest.skip("reads SQLite's query plans (EXPLAIN QUERY PLAN)")
    statements: list[str] = []
    weeks = [W47, W48]

    def ask_all(conn: SyncConnection) -> None:
        assert isinstance(conn, sqlite3.Connection)
        conn.set_trace_callback(statements.append)
        try:
            reads = Reads(conn)
            reads.period_counts(dataset.id, weeks)
            reads.distributions(dataset.id, weeks, role="employee")
            reads.role_counts(dataset.id, weeks)
            reads.distributions_by_role(dataset.id, weeks)
            reads.comments(dataset.id, weeks, metrics=("comment",), limit=3)
            reads.trend(dataset.id, weeks, "reliability")
        finally:
            conn.set_trace_callback(None)

    await db.read_in_thread(ask_all)
    # (`evaluators` counts members, not responses: it reads the members table, a few
    # thousand rows at most, whatever the weeks.)
    assert len(statements) == 6
    for statement in statements:
        async with db.conn.execute(f"EXPLAIN QUERY PLAN {statement}") as cur:
            plan = [row[3] for row in await cur.fetchall()]
        scans = [
            step
            for step in plan
            if step.startswith("SCAN") and "INDEX" not in step and step != "SCAN CONSTANT ROW"
        ]
        assert scans == [], (statement, plan)
        # The first table searched is narrowed by the weeks asked for.
        first = next(step for step in plan if step.startswith("SEARCH"))
        assert "week_key=?" in first, (statement, plan)


async def test_reads_in_one_function_as_the_digest_sends_them(
    db: Database, dataset: Subject
) -> None:
    """Every query in one function run by storage.db.read_in_thread (rows as tuples), as a
    digest asks them; the asks with nothing to ask for answer without a query."""
    weeks, statuses = [W47, W48], ("completed", "partial")
    sid = dataset.id

    def everything(conn: SyncConnection) -> list[object]:
        reads = Reads(conn)
        return [
            reads.period_counts(sid, weeks),
            reads.period_counts(sid, []),
            reads.distributions(sid, weeks),
            reads.distributions(sid, [W48], statuses=statuses, role="employee"),
            reads.distributions(sid, []),
            reads.role_counts(sid, [W48], statuses=statuses),
            reads.distributions_by_role(sid, weeks),
            reads.comments(sid, weeks, limit=10),
            reads.comments(sid, [W48], metrics=("comment",), question_ids=["comment"], limit=1),
            reads.comments(sid, [W48], metrics=(), limit=1),
            reads.trend(sid, [W46, W47, W48], "reliability"),
            reads.trend(sid, [W48], "reliability", statuses=()),
            reads.evaluators(sid, registered_before=END),
        ]

    got = await db.read_in_thread(everything)
    assert got[0] == PeriodCounts(6, 4, 1, 4) and got[10] == {
        W46: {},
        W47: {5: 1},
        W48: {4: 2, 2: 1},
    }
    assert got[1] == PeriodCounts(0, 0, 0, 0)
    assert got[4] == {} and got[9] == [] and got[11] == {W48: {}}
    reliability = got[2]
    assert isinstance(reliability, dict)
    assert all(type(value) is int for value in reliability["reliability"])
