"""Nothing an owner of a department receives, combined in any way, isolates fewer than K people.

Random histories (0-12 responses a week, roles, comments), random threshold changes
between weeks and random owner requests (the weekly digest, /digest at any moment, a
digest of an earlier week as the CLI previews it, /export) run the real code
(`compose_digest`, `plan_export` and `export_units_csv_bytes`, what the sender, the
handlers and the CLI call) on a real database. Every item received is turned back into
the set of responses it aggregates, read off the output (the weeks a digest's scores,
trend points and comparison name, a row's period label in the export) and checked
against its numbers (responses counted, headline n, rows, role groups, comment texts).
Then the atoms of the set algebra those sets generate (responses grouped by which
received sets hold them) must each be empty or hold at least the lowest threshold in
force during the history: no union, intersection or difference of what was received
singles out fewer people. Comments likewise with FEEDBOT_COMMENTS_MIN.

FEEDBOT_HYPOTHESIS_EXAMPLES raises the number of histories (default 100).
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.digest.compose import compose_digest
from bot.digest.model import Digest
from storage.db import Database
from storage.disclosures import plan_export
from storage.export import export_units_csv_bytes
from storage.models import Subject, SubjectKind
from storage.subjects import add_subject
from surveys import anonymity, periods
from tests.digest.digest_support import CATALOG, Respond, internal_answers

EXAMPLES = int(os.environ.get("FEEDBOT_HYPOTHESIS_EXAMPLES", "100"))
ROLES = ("employee", "contractor", "supplier", None)
FIRST_WEEK = "2026-W37"  # a Monday of a block minus up to three weeks: see `history`
INTERNAL = CATALOG.latest("internal")
QUESTIONS = [q.id for q in INTERNAL.questions]


@dataclass(frozen=True)
class Answer:
    """One response of the generated history: its id here, role, score, comment."""

    id: int
    role: str | None
    overall: int
    comment: bool

    @property
    def text(self) -> str:
        return f"comment number {self.id}"


@dataclass(frozen=True)
class Week:
    early: tuple[Answer, ...]  # stored before the mid-week requests
    late: tuple[Answer, ...]
    anonymity_min: int
    comments_min: int
    midweek: tuple[str, ...]  # requests while it runs: "digest" (/digest), "export"
    after: tuple[str, ...]  # requests once it has ended: + "weekly", "preview"
    midweek_hour: int = 60  # hours into the week of the requests while it runs
    after_hour: int = 9  # hours into the next week of the requests after it

    @property
    def answers(self) -> tuple[Answer, ...]:
        return self.early + self.late


@dataclass
class Received:
    """What the owner got, as sets of response ids (of the history)."""

    sets: list[frozenset[int]] = field(default_factory=list)
    comment_sets: list[frozenset[int]] = field(default_factory=list)
    thresholds: set[int] = field(default_factory=set)
    comment_thresholds: set[int] = field(default_factory=set)


_ids = itertools.count(1)


@st.composite
def answers(draw: st.DrawFn, n: int) -> tuple[Answer, ...]:
    return tuple(
        Answer(
            next(_ids),
            draw(st.sampled_from(ROLES)),
            draw(st.integers(1, 5)),
            draw(st.booleans()),
        )
        for _ in range(n)
    )


@st.composite
def weeks(draw: st.DrawFn) -> Week:
    total = draw(st.integers(0, 12))
    early = draw(st.integers(0, total))
    requests = st.lists(st.sampled_from(["digest", "export"]), max_size=2)
    later = st.lists(st.sampled_from(["weekly", "digest", "export", "preview"]), max_size=3)
    return Week(
        draw(answers(early)),
        draw(answers(total - early)),
        draw(st.integers(2, 7)),
        draw(st.integers(2, 8)),
        tuple(draw(requests)),
        tuple(draw(later)),
        draw(st.integers(0, 7 * 24 - 1)),
        draw(st.integers(0, 23)),
    )


def regression() -> list[Week]:
    """Issue 10: K 5 -> 6 after three weeks of 5-6 were shown, then a quiet week: the
    4-week block minus the three weekly digests would be that week's two answers."""

    def week(n: int, k: int) -> Week:
        made = tuple(Answer(next(_ids), "employee", 1 + i % 5, True) for i in range(n))
        return Week(made, (), k, k, (), ("weekly", "export"))

    return [week(5, 5), week(6, 5), week(5, 5), week(2, 6), week(0, 6)]


async def _store(respond: Respond, subject: Subject, week: str, batch: Iterable[Answer]) -> None:
    for answer in batch:
        await respond(
            subject,
            internal_answers(answer.overall, text=answer.text if answer.comment else None),
            week=week,
            role=answer.role,
        )


def _moment(week: str, hours: int) -> datetime:
    return datetime.combine(periods.span(week).start, datetime.min.time(), UTC) + timedelta(
        hours=hours
    )


class Owner:
    """Plays the owner's requests against the real code and checks what comes back."""

    def __init__(self, db: Database, subject: Subject, history: dict[str, list[Answer]]) -> None:
        self.db, self.subject, self.history = db, subject, history
        self.received = Received()

    def of(self, weeks: Iterable[str]) -> list[Answer]:
        return [a for w in weeks for a in self.history.get(w, [])]

    def add(self, answers: Sequence[Answer]) -> None:
        self.received.sets.append(frozenset(a.id for a in answers))

    async def digest(self, period: str, now: datetime, week: Week, closed_only: bool) -> None:
        digest = await compose_digest(
            self.db,
            self.subject,
            INTERNAL,
            period,
            anonymity_min=week.anonymity_min,
            comments_min=week.comments_min,
            now=now,
            closed_only=closed_only,
        )
        assert not digest.in_progress
        assert anonymity.is_closed(digest.period.key, anonymity.last_closed_week(now.date()))
        self.check_digest(digest)

    def check_digest(self, digest: Digest) -> None:
        if digest.scores:
            shown = self.of(digest.basis_weeks)
            assert digest.scores_gate.responses == len(shown)
            assert digest.headline is not None and digest.headline.estimate.n == len(shown)
            self.add(shown)
            self.received.thresholds.add(digest.scores_gate.threshold)
            for group in digest.roles:
                members = [a for a in shown if (a.role or "") == group.role]
                assert group.responses == len(members)
                self.add(members)
            if digest.comments:
                by_text = {a.text: a for a in shown}
                assert all(c.text in by_text for c in digest.comments)
                self.received.comment_sets.append(frozenset(a.id for a in shown))
                self.received.comment_thresholds.add(digest.comments_gate.threshold)
            if digest.previous_weeks:
                self.add(self.of(digest.previous_weeks))
        else:
            assert not digest.roles and not digest.comments and not digest.basis_weeks
        for point in digest.trend:
            if point.estimate is not None:
                pooled = self.of(point.weeks)
                assert point.estimate.n == len(pooled) and point.period.key == point.weeks[-1]
                self.add(pooled)

    async def export(self, now: datetime, week: Week) -> None:
        plan = await plan_export(
            self.db,
            self.subject.id,
            today=now.date(),
            now=now,
            anonymity_min=week.anonymity_min,
            comments_min=week.comments_min,
        )
        if not plan.units:
            return
        data = await export_units_csv_bytes(self.db.conn, self.subject, QUESTIONS, plan.units)
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert "submitted_at" not in (rows[0] if rows else {})
        by_label: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in rows:
            by_label[row["period"]].append(row)
        last_closed = anonymity.last_closed_week(now.date())
        for label, unit_rows in by_label.items():
            unit_weeks = label.split("+")
            assert all(anonymity.is_closed(w, last_closed) for w in unit_weeks)
            shown = self.of(unit_weeks)
            assert len(unit_rows) == len(shown)
            self.add(shown)
            roles = {row["role"] for row in unit_rows}
            if roles != {""}:
                for role in roles:
                    members = [a for a in shown if (a.role or "") == role]
                    assert sum(r["role"] == role for r in unit_rows) == len(members)
                    self.add(members)
            texts = {row["should_change"] for row in unit_rows} - {""}
            if texts:
                assert texts <= {a.text for a in shown}
                self.received.comment_sets.append(frozenset(a.id for a in shown))


def atoms(sets: Sequence[frozenset[int]]) -> list[int]:
    """The sizes of the non-empty atoms: responses grouped by which sets hold them."""
    signature: dict[int, list[int]] = defaultdict(list)
    for index, members in enumerate(sets):
        for member in members:
            signature[member].append(index)
    sizes: dict[tuple[int, ...], int] = defaultdict(int)
    for indexes in signature.values():
        sizes[tuple(indexes)] += 1
    return list(sizes.values())


async def play(history: Sequence[Week]) -> Received:
    db = await Database.open(":memory:")
    try:
        async with db.transaction() as conn:
            subject = await add_subject(
                conn,
                slug="sales",
                kind=SubjectKind.DEPARTMENT,
                names={"en": "Sales"},
                survey_id="internal",
                now=_moment(FIRST_WEEK, 0) - timedelta(days=30),
            )
        respond = Respond(db)
        keys = [periods.shift(FIRST_WEEK, i) for i in range(len(history) + 1)]
        stored: dict[str, list[Answer]] = {}
        owner = Owner(db, subject, stored)
        for key, week, next_key in zip(keys, history, keys[1:], strict=False):
            stored[key] = list(week.early)
            await _store(respond, subject, key, week.early)
            for request in week.midweek:
                await _request(owner, request, key, _moment(key, week.midweek_hour), week)
            stored[key].extend(week.late)
            await _store(respond, subject, key, week.late)
            for request in week.after:
                now = _moment(next_key, week.after_hour)
                await _request(owner, request, next_key, now, week)
        return owner.received
    finally:
        await db.close()


async def _request(owner: Owner, request: str, current: str, now: datetime, week: Week) -> None:
    if request == "export":
        await owner.export(now, week)
    elif request == "digest":  # /digest: a department's always the last closed week
        await owner.digest(current, now, week, closed_only=True)
    elif request == "weekly":  # the weekly digest of the week that just ended
        await owner.digest(periods.previous(current), now, week, closed_only=False)
    else:  # `feedbot digest preview` of an earlier week
        await owner.digest(periods.shift(current, -3), now, week, closed_only=False)


def check(history: Sequence[Week]) -> Received:
    received = asyncio.run(play(history))
    lowest = min(w.anonymity_min for w in history)
    small = [n for n in atoms(received.sets) if n < lowest]
    assert not small, (small, lowest)
    if received.comment_sets:
        lowest_comments = min(min(w.comments_min for w in history), lowest)
        assert all(n >= lowest_comments for n in atoms(received.comment_sets))
    return received


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(weeks(), min_size=1, max_size=10))
def test_no_combination_of_what_an_owner_received_isolates_fewer_than_k(
    history: list[Week],
) -> None:
    check(history)


def test_raising_the_threshold_after_three_shown_weeks_opens_no_differencing_path() -> None:
    received = check(regression())
    # The three weeks were shown on their own, the quiet fourth never (not even pooled).
    assert {len(s) for s in received.sets} >= {5, 6}
    assert not any(len(s) in (2, 7, 18) for s in received.sets)


def test_the_atoms_catch_a_difference() -> None:
    """The check itself: a block and the three weeks shown inside it leave an atom of 2."""
    weeks = [frozenset(range(0, 5)), frozenset(range(5, 11)), frozenset(range(11, 16))]
    block = frozenset(range(0, 18))
    assert sorted(atoms([*weeks, block])) == [2, 5, 5, 6]
