"""compose_digest on a fresh database filled through the storage API, as the bot fills it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.digest import chart
from bot.digest import compose as compose_module
from bot.digest.compose import compose_digest
from bot.digest.model import Basis, Comparison, Digest, TrendPoint
from bot.digest.render import plain_text, render_html
from storage import postgres
from storage.db import Database
from storage.invites import create_invite
from storage.members import record_invitation, register_member
from storage.models import InvitationSource, InviteKind, MemberRole, Subject, SubjectKind
from storage.subjects import add_subject
from surveys import periods
from tests.digest.digest_support import CATALOG, NOW, W47, W48, Respond, internal_answers

SECRET = b"digest-test-secret"
W49 = "2026-W49"
MONDAY_AFTER_W49 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
WARSAW = ZoneInfo("Europe/Warsaw")


async def compose(
    db: Database,
    subject: Subject,
    period: str = W48,
    *,
    anonymity_min: int = 5,
    comments_min: int = 5,
    now: datetime = NOW,
    closed_only: bool = False,
) -> Digest:
    return await compose_digest(
        db,
        subject,
        CATALOG.latest(subject.survey_id),
        period,
        anonymity_min=anonymity_min,
        comments_min=comments_min,
        now=now,
        closed_only=closed_only,
    )


async def test_buyers_nps_from_stored_responses(
    db: Database, product: Subject, respond: Respond
) -> None:
    await respond(product, {"nps": 10, "csat": 5, "effort": 7}, times=10)
    await respond(product, {"nps": 8, "csat": 4, "effort": 6}, times=5)
    await respond(
        product, {"nps": 3, "nps_detractor": "Broke <after> a week & more", "csat": 2}, times=5
    )
    await respond(product, {"nps": 9, "csat": 5}, week=W47, times=4)
    digest = await compose(db, product)
    assert digest.counts.completed == 20
    assert digest.nps_counts == (10, 5, 5)
    text = plain_text(render_html(digest, "en"))
    assert "NPS: 25 (95% CI −12 – 55) ▼ −75" in text
    assert "Broke <after> a week & more" in text
    assert "&lt;after&gt; a week &amp; more" in render_html(digest, "en")
    assert [p.estimate is not None for p in digest.trend][-2:] == [True, True]


async def test_four_internal_responses_show_no_scores_five_do(
    db: Database, department: Subject, respond: Respond
) -> None:
    """W49 is the first week of its block: with 4 responses it waits to be pooled with the
    other quiet weeks of W49-W52 once that block has ended; W50's 5 are shown at once."""
    await respond(department, internal_answers(4, text="Answer e-mails faster"), week=W49, times=4)
    hidden = await compose(db, department, W49, now=MONDAY_AFTER_W49)
    assert hidden.scores_gate.basis is Basis.HIDDEN
    assert hidden.scores_gate.pooled_after == periods.span("2026-W52").next_start
    assert hidden.scores == () and hidden.comments == ()
    assert not any(point.estimate for point in hidden.trend)
    text = plain_text(render_html(hidden, "en"))
    assert "Completed: 4" in text
    assert "this week needed 1 more response to be shown on its own (at least 5)" in text
    assert "pooled with the other quiet weeks of its 4-week block (weeks 49–52" in text
    assert "(from 28 Dec 2026)" in text
    assert "Answer e-mails faster" not in text
    assert "od 28 grudnia 2026" in plain_text(render_html(hidden, "pl"))

    w50 = "2026-W50"
    await respond(department, internal_answers(4, text="Answer e-mails faster"), week=w50, times=4)
    await respond(department, internal_answers(5, text="Answer e-mails faster"), week=w50)
    shown = await compose(db, department, w50, now=MONDAY_AFTER_W49 + timedelta(weeks=1))
    assert shown.scores_gate.basis is Basis.PERIOD
    text = plain_text(render_html(shown, "en"))
    assert "Overall: 4.2/5" in text
    assert "Answer e-mails faster" in text


async def test_comments_wait_for_their_own_threshold(
    db: Database, department: Subject, respond: Respond
) -> None:
    await respond(department, internal_answers(4, positive="Quick and kind"), times=5)
    await respond(department, internal_answers(4, positive="Quick and kind"), week=W47, times=6)
    digest = await compose(db, department, comments_min=6)
    assert digest.scores_gate.shown and not digest.comments_gate.shown
    text = plain_text(render_html(digest, "en"))
    assert "Quick and kind" not in text
    assert "Comments are shown once at least 6 people have answered in a week" in text
    # Decided once: lowering the threshold later does not show what was withheld.
    again = await compose(db, department, comments_min=5)
    assert again.comments == () and again.comments_gate.threshold == 6
    digest = await compose(db, department, W47, comments_min=6)
    assert [c.text for c in digest.comments] == ["Quick and kind"]
    assert "What works well" in plain_text(render_html(digest, "en"))


async def test_a_quiet_week_falls_back_to_its_closed_block(
    db: Database, department: Subject, respond: Respond
) -> None:
    await respond(department, internal_answers(5), week="2026-W46", times=3)
    await respond(department, internal_answers(3), times=3)
    digest = await compose(db, department)
    assert digest.scores_gate.basis is Basis.BLOCK
    assert digest.block.weeks == ("2026-W45", "2026-W46", "2026-W47", "2026-W48")
    assert digest.headline is not None and digest.headline.estimate.value == 4.0
    assert digest.comparison is Comparison.NO_DATA
    text = plain_text(render_html(digest, "en"))
    assert "Scores · 4-week block (weeks 45–48, 2–29 Nov 2026)" in text
    assert "Overall: 4.0/5" in text
    # Neither week alone has 5 responses: the pool is one point, at its last week.
    points = [(p.period.key, p.estimate.n) for p in digest.trend if p.estimate is not None]
    assert points == [(W48, 6)]


async def test_a_running_week_never_shows_its_unclosed_block(
    db: Database, department: Subject, respond: Respond
) -> None:
    """W48 closes the block W45-W48: while it runs, a response can still join that block,
    so nothing of it is pooled; and a department's running week is never shown: a digest
    asked for it is the last closed week's (here W47, waiting for its block: hidden)."""
    await respond(department, internal_answers(5), week="2026-W46", times=3)
    await respond(department, internal_answers(3), times=3)
    wednesday_w48 = datetime(2026, 11, 25, 12, tzinfo=UTC)
    so_far = await compose(db, department, now=wednesday_w48)
    assert not so_far.in_progress and so_far.period.key == W47
    assert so_far.block.weeks[-1] == "2026-W44"
    assert so_far.scores_gate.basis is Basis.HIDDEN and so_far.scores == ()
    closed = await compose(db, department)
    assert closed.scores_gate.basis is Basis.BLOCK and closed.block.weeks[-1] == W48


async def test_consecutive_weekly_digests_never_pool_overlapping_weeks(
    db: Database, department: Subject, respond: Respond
) -> None:
    """A sliding window leaked: with W44 empty, the digest over W45-W48 minus the one over
    W44-W47 is W48's single response. With blocks, two consecutive digests of a quiet
    subject show the very same block (the same figures and comments, nothing to subtract)
    or disjoint blocks, never two windows with weeks in common."""
    week, weeks = "2026-W45", []
    for i in range(14):  # W45 2026 .. W05 2027, across the 53-week year 2026
        for n in range(1 + i % 2):  # one or two responses a week: always below 5
            overall = 1 + (i + n) % 5
            await respond(department, internal_answers(overall, text=f"{week} #{n}"), week=week)
        weeks.append(week)
        week = periods.shift(week, 1)

    shown: list[tuple[tuple[str, ...], int, float, frozenset[str]]] = []
    for week in weeks:
        monday_after = datetime.combine(periods.span(week).next_start, datetime.min.time(), UTC)
        digest = await compose(db, department, week, now=monday_after, closed_only=True)
        assert digest.period.key == week and digest.counts.completed < 5
        assert digest.block.weeks[-1] <= week  # only a closed block, never a later week
        if digest.scores_gate.basis is Basis.BLOCK:
            assert digest.headline is not None
            assert digest.comments_gate.basis is Basis.BLOCK
            comments = frozenset(c.text for c in digest.comments)
            assert all(c.split(" #")[0] in digest.block.weeks for c in comments)
            shown.append(
                (
                    digest.block.weeks,
                    digest.scores_gate.responses,
                    digest.headline.estimate.value,
                    comments,
                )
            )
        else:
            assert digest.scores == () and digest.comments == ()
            shown.append(((), 0, 0.0, frozenset()))

    same = disjoint = 0
    for before, after in itertools.pairwise(shown):
        if before[0] and after[0]:
            if before[0] == after[0]:
                assert before == after  # the same responses: nothing to subtract
                same += 1
            else:
                assert not set(before[0]) & set(after[0])
                disjoint += 1
    assert same and disjoint  # both cases happened, so the test is not vacuous
    # The sliding window's attack: W47's digest pools nothing of W45-W48 (the block
    # before is empty), W48's the whole block; no digest pools W44-W47 or W46-W49.
    assert shown[2][0] == () and shown[3][0] == tuple(weeks[:4])
    assert {s[0] for s in shown if s[0]} == {
        tuple(weeks[0:4]),
        tuple(weeks[4:8]),
        tuple(weeks[8:12]),
    }


async def test_a_block_minus_a_week_shown_alone_is_not_shown(
    db: Database, department: Subject, respond: Respond
) -> None:
    """W45 has 1 response, W48 has 5: W48's digest shows its 5, so W49's quiet digest must
    not show the block W45-W48, whose 6 minus those 5 would be the one person of W45:
    its pool is W45-W47 alone, 1 response, withheld for good."""
    await respond(department, internal_answers(1, text="Only I said this"), week="2026-W45")
    await respond(department, internal_answers(4, text="Fine"), week=W48, times=5)
    await respond(department, internal_answers(3), week=W49)

    w48 = await compose(db, department, W48, now=MONDAY_AFTER_W49, closed_only=True)
    assert w48.scores_gate.basis is Basis.PERIOD and w48.scores_gate.responses == 5

    w49 = await compose(db, department, W49, now=MONDAY_AFTER_W49, closed_only=True)
    assert w49.period.key == W49 and w49.block.weeks[0] == "2026-W45"
    for gate in (w49.scores_gate, w49.comments_gate):
        assert gate.basis is Basis.HIDDEN and gate.block_withheld
        assert gate.responses == 1 and gate.needed == 4  # W49 itself waits for W49-W52
    assert w49.scores == () and w49.distribution is None and w49.comments == ()
    text = plain_text(render_html(w49, "en"))
    assert "this week needed 4 more responses to be shown on its own" in text
    assert "Only I said this" not in text and "Overall:" not in text
    w45 = await compose(db, department, "2026-W45", now=MONDAY_AFTER_W49, closed_only=True)
    assert w45.scores_gate.block_withheld and w45.scores == ()
    assert "the quiet weeks of the 4-week block (weeks 45–48, 2–29 Nov 2026) together had " in (
        plain_text(render_html(w45, "en"))
    )
    assert "pozostaną ukryte na stałe" in plain_text(render_html(w45, "pl"))


async def test_a_block_whose_quiet_weeks_together_meet_the_threshold_is_shown(
    db: Database, department: Subject, respond: Respond
) -> None:
    """W48's 5 are shown on their own; W45 and W46 have 2 + 3 = 5 between them: the pool
    of W45-W47 is shown, and never the block's 10 (whose difference with W48 is the pool)."""
    await respond(department, internal_answers(2), week="2026-W45", times=2)
    await respond(department, internal_answers(3), week="2026-W46", times=3)
    await respond(department, internal_answers(5), week=W48, times=5)
    await respond(department, internal_answers(4), week=W49)
    digest = await compose(db, department, W49, now=MONDAY_AFTER_W49, closed_only=True)
    assert digest.scores_gate.basis is Basis.BLOCK and digest.scores_gate.responses == 5
    assert digest.basis_weeks == ("2026-W45", "2026-W46", "2026-W47")
    assert digest.comments_gate.basis is Basis.BLOCK
    assert digest.headline is not None and digest.headline.estimate.n == 5
    assert digest.headline.estimate.value == (2 * 2 + 3 * 3) / 5
    assert digest.roles == ()  # no two role groups of 5
    assert "Scores · 4-week block (weeks 45–48" in plain_text(render_html(digest, "en"))


async def test_the_trend_never_plots_an_internal_week_below_the_threshold(
    db: Database, department: Subject, respond: Respond, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every week of the 12 (three whole blocks) gets 0 to 7 responses; at any threshold a
    week is plotted on its own only from at least that many responses of its own, and
    the other weeks of a block are one point at the last of them, when they reach the
    threshold together: no point ever stands for a week inside a pool."""
    weeks = periods.last_n(W48, 12)
    sizes = [(3 * i + 1) % 8 for i in range(12)]  # 1, 4, 7, 2, 5, 0, 3, 6, 1, 4, 7, 2
    drawn: list[Sequence[TrendPoint]] = []
    monkeypatch.setattr(chart, "render_trend_png", lambda points, *a, **k: drawn.append(points))
    for threshold in (1, 3, 5, 6, 8):
        async with db.transaction() as conn:  # units are decided once: a subject each
            subject = await add_subject(
                conn, slug=f"dept{threshold}", kind=SubjectKind.DEPARTMENT,
                names={"en": "Dept"}, survey_id="internal", now=NOW - timedelta(days=365),
            )  # fmt: skip
        for week, size in zip(weeks, sizes, strict=True):
            if size:
                await respond(subject, internal_answers(1 + size % 5), week=week, times=size)
        expected: dict[str, int] = {}
        for block in (weeks[0:4], weeks[4:8], weeks[8:12]):
            quiet = [w for w in block if sizes[weeks.index(w)] < threshold]
            expected.update({w: sizes[weeks.index(w)] for w in block if w not in quiet})
            pooled = sum(sizes[weeks.index(w)] for w in quiet)
            if quiet and pooled >= threshold:
                expected[quiet[-1]] = pooled
        drawn.clear()
        digest = await compose(db, subject, anonymity_min=threshold, comments_min=threshold)
        assert [p.period.key for p in digest.trend] == weeks
        got = {p.period.key: p.estimate.n for p in digest.trend if p.estimate is not None}
        assert got == expected, threshold
        for point, size in zip(digest.trend, sizes, strict=True):
            if point.estimate is not None and point.weeks == (point.period.key,):
                assert size >= threshold and point.estimate.value == 1 + size % 5
        assert digest.has_chart == bool(expected)
        # The chart draws exactly these points: a gap is never filled in.
        chart.digest_chart(digest, "en")
        assert drawn == ([digest.trend] if digest.has_chart else [])


async def test_role_breakdown_hidden_when_a_group_is_small(
    db: Database, department: Subject, respond: Respond
) -> None:
    await respond(department, internal_answers(4), role="employee", times=5)
    await respond(department, internal_answers(2), role="contractor", times=4)
    await respond(department, internal_answers(4), week=W47, role="employee", times=5)
    await respond(department, internal_answers(2), week=W47, role="contractor", times=5)
    assert (await compose(db, department)).roles == ()
    digest = await compose(db, department, W47)
    assert [(r.role, r.responses) for r in digest.roles] == [("employee", 5), ("contractor", 5)]
    text = plain_text(render_html(digest, "en"))
    assert "Employees: 5 responses, overall 4.0/5" in text
    assert "Contractors: 5 responses, overall 2.0/5" in text


async def test_response_rate_is_over_the_members_who_could_evaluate_the_department(
    db: Database, department: Subject, respond: Respond
) -> None:
    """Not the members invited in the week (a pulse every 4 weeks invites almost nobody in
    most weeks): everyone registered by the week's end who may evaluate the department."""
    end_of_w48 = datetime(2026, 11, 30, tzinfo=NOW.tzinfo) - timedelta(hours=1)  # CET
    async with db.transaction() as conn:
        other = await add_subject(
            conn,
            slug="marketing",
            kind=SubjectKind.DEPARTMENT,
            names={"en": "Marketing"},
            survey_id="internal",
            now=NOW - timedelta(weeks=10),
        )
        people = itertools.count(1)
        for _ in range(15):  # contractors, long registered
            await register_member(
                conn,
                next(people),
                role=MemberRole.CONTRACTOR,
                department_id=None,
                now=NOW - timedelta(weeks=10),
            )
        for _ in range(5):  # employees of another department, registered during W48
            await register_member(
                conn,
                next(people),
                role=MemberRole.EMPLOYEE,
                department_id=other.id,
                now=end_of_w48 - timedelta(days=2),
            )
        for _ in range(3):  # the department's own employees: they do not evaluate it
            await register_member(
                conn,
                next(people),
                role=MemberRole.EMPLOYEE,
                department_id=department.id,
                now=NOW - timedelta(weeks=10),
            )
        # Registered at the week's last midnight in the bot's zone: after its end.
        await register_member(
            conn, next(people), role=MemberRole.SUPPLIER, department_id=None, now=end_of_w48
        )
        # Invitations no longer matter: one recorded, but the rate does not follow them.
        await record_invitation(conn, 1, week_key=W48, source=InvitationSource.PULSE)
    await respond(department, internal_answers(4), times=5)
    digest = await compose(db, department, now=NOW.astimezone(WARSAW))
    assert digest.evaluators == 20 and digest.response_rate == 0.25
    text = plain_text(render_html(digest, "en"))
    assert "Response rate: 25% (5 of the 20 members who could evaluate Sales)" in text
    assert "Response rate: completed responses out of everyone who could evaluate" in text
    pl = plain_text(render_html(digest, "pl"))
    assert "Odsetek odpowiedzi: 25% (5 z 20 osób, które mogły ocenić ten dział)" in pl


async def test_a_week_without_responses_still_gets_the_chart_of_the_weeks_before(
    db: Database, product: Subject, respond: Respond
) -> None:
    """The chart is drawn whenever a week of the trend has answers, even when the
    digest's own week has none (the Monday digest after a quiet week, or a preview)."""
    await respond(product, {"nps": 9, "csat": 5}, week=W47, times=4)
    digest = await compose(db, product, W48)
    assert digest.nothing_to_report and digest.has_chart
    assert [p.estimate is not None for p in digest.trend][-2:] == [True, False]
    assert chart.digest_chart(digest, "en") is not None


async def test_nothing_to_report_counts_open_invites(db: Database, product: Subject) -> None:
    async with db.transaction() as conn:
        for _ in range(2):
            await create_invite(
                conn, SECRET, kind=InviteKind.BUYER, subject_id=product.id, role=None,
                max_uses=None, expires_at=None, created_by=None, now=NOW,
            )  # fmt: skip
        await create_invite(
            conn, SECRET, kind=InviteKind.BUYER, subject_id=product.id, role=None,
            max_uses=None, expires_at=NOW - timedelta(days=1), created_by=None,
            now=NOW - timedelta(days=30),
        )  # fmt: skip
    digest = await compose(db, product)
    assert digest.nothing_to_report and digest.open_invites == 2
    text = plain_text(render_html(digest, "en"))
    assert "There are 2 open invite links for Kettle." in text


async def test_closed_only_reports_the_last_finished_week(
    db: Database, department: Subject, respond: Respond
) -> None:
    await respond(department, internal_answers(4), week=W47, times=5)
    await respond(department, internal_answers(2), times=5)
    wednesday_w48 = datetime(2026, 11, 25, 12, tzinfo=UTC)
    closed = await compose(db, department, now=wednesday_w48, closed_only=True)
    assert closed.period.key == W47 and not closed.in_progress
    assert closed.headline is not None and closed.headline.estimate.value == 4.0
    # A department never shows a running week, whatever the caller asks.
    so_far = await compose(db, department, now=wednesday_w48, closed_only=False)
    assert so_far == closed
    finished = await compose(db, department, now=NOW, closed_only=True)
    assert finished.period.key == W48 and not finished.in_progress


async def test_a_digest_takes_a_fixed_number_of_queries(
    db: Database, department: Subject, respond: Respond, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One query per aggregate and window, none per question: the count does not grow
    with the survey or the data."""
    await respond(department, internal_answers(4, text="ok"), role="employee", times=5)
    await respond(department, internal_answers(3, text="meh"), role="supplier", times=5)
    await respond(department, internal_answers(4), week=W47, times=6)
    await compose(db, department)  # decides and records the units (a write, once)
    statements: list[str] = []
    if db.dialect == "sqlite":
        # In memory the reads run inline, on the writer's own sqlite3 connection.
        db._writer.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    else:
        # Every PostgreSQL statement is numbered and classified on its way out.
        prepared = postgres._statement

        def noted(sql: str) -> tuple[str, bool]:
            statements.append(sql)
            return prepared(sql)

        monkeypatch.setattr(postgres, "_statement", noted)
    try:
        digest = await compose(db, department)
    finally:
        if db.dialect == "sqlite":
            db._writer.set_trace_callback(None)  # type: ignore[attr-defined]
        monkeypatch.undo()
    assert digest.roles and digest.comments and digest.comparison is Comparison.SHOWN
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # recorded units and their weeks' counts, counts x2, open invites, distributions x2,
    # comments, evaluators, roles x2, trend
    assert len(selects) == 12, selects


async def _fill_for_every_basis(db: Database) -> tuple[Subject, Subject, Subject]:
    """A department with a full week (roles, comments, a comparison), one pooled from its
    block, and a product: the same rows whichever database they are written to."""
    subjects = []
    async with db.transaction() as conn:
        for slug, kind, survey in (
            ("sales", SubjectKind.DEPARTMENT, "internal"),
            ("quiet", SubjectKind.DEPARTMENT, "internal"),
            ("kettle", SubjectKind.PRODUCT, "external"),
        ):
            subject = await add_subject(
                conn, slug=slug, kind=kind, names={"en": slug}, survey_id=survey, now=NOW
            )
            invite = InviteKind.BUYER if survey == "external" else InviteKind.EMPLOYEE
            await create_invite(
                conn,
                SECRET,
                kind=invite,
                subject_id=subject.id,
                role=None,
                max_uses=None,
                expires_at=None,
                created_by=None,
                now=NOW,
            )
            subjects.append(subject)
        for telegram_id in range(1, 9):  # registered before W48: who could evaluate it
            await register_member(
                conn,
                telegram_id,
                role=MemberRole.CONTRACTOR,
                department_id=None,
                now=NOW - timedelta(weeks=4),
            )
            await record_invitation(conn, telegram_id, week_key=W48, source=InvitationSource.PULSE)
    sales, quiet, kettle = subjects
    respond = Respond(db)
    await respond(sales, internal_answers(4, text="Answers fast"), role="employee", times=5)
    await respond(sales, internal_answers(2, text="Slow"), role="supplier", times=5)
    await respond(sales, internal_answers(5), week=W47, times=6)
    await respond(quiet, internal_answers(5, text="Fine"), week="2026-W46", times=3)
    await respond(quiet, internal_answers(3, text="Meh"), times=3)
    await respond(kettle, {"nps": 10, "csat": 5, "effort": 7}, times=4)
    await respond(kettle, {"nps": 3, "nps_detractor": "Broke", "csat": 2}, times=2)
    await respond(kettle, {"nps": 9, "csat": 4}, week=W47, times=3)
    return sales, quiet, kettle


@pytest.mark.parametrize("inline_responses", [0, 1000])
async def test_a_file_database_composes_the_same_digests_inline_or_on_the_readers_thread(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inline_responses: int
) -> None:
    """On a file database a digest's queries run at once on the loop's thread (few
    responses) or in one trip to the reader's thread (many: here all, or none); on an
    in-memory one inline. The digests are the same."""
    monkeypatch.setattr(compose_module, "INLINE_RESPONSES", inline_responses)
    file_db = await Database.open(tmp_path / "feedbot.sqlite3")
    try:
        in_memory = await _fill_for_every_basis(db)
        on_file = await _fill_for_every_basis(file_db)
        on_thread: list[tuple[str, int]] = []
        reported = 0
        # The reader's thread connection: every statement run there, and where it ran.
        reader = file_db.conn
        await reader.submit(  # type: ignore[attr-defined]
            lambda: reader._conn.set_trace_callback(  # type: ignore[attr-defined]
                lambda sql: on_thread.append((sql, threading.get_ident()))
            )
        )
        for memory_subject, file_subject in zip(in_memory, on_file, strict=True):
            for period in (W48, W47):
                expected = await compose(db, memory_subject, period)
                got = await compose(file_db, file_subject, period)
                assert got == expected
                reported += not expected.nothing_to_report
                for lang in ("en", "pl"):
                    assert render_html(got, lang) == render_html(expected, lang)
        await reader.submit(  # type: ignore[attr-defined]
            lambda: reader._conn.set_trace_callback(None)  # type: ignore[attr-defined]
        )
        if inline_responses:
            assert on_thread == []
        else:  # every trend query, for one, and none of them on the loop's thread
            trends = [sql for sql, _ in on_thread if "GROUP BY r.week_key, a.number" in sql]
            assert len(trends) == reported == 5
            assert threading.get_ident() not in {thread for _, thread in on_thread}
        sales = await compose(file_db, on_file[0])
        assert sales.roles and sales.comments and sales.comparison is Comparison.SHOWN
        assert sales.evaluators == 8 and sales.open_invites == 1
        assert (await compose(file_db, on_file[1])).scores_gate.basis is Basis.BLOCK
    finally:
        await file_db.close()
