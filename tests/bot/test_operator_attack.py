"""The operator's attack: holding the database files, FEEDBOT_SECRET, the logs and the
Telegram ids of a week's internal respondents, attribute their responses to them.

A week of traffic runs through the real flow (bot.flow.begin/act with the bot's Services
on a file database): 24 employees answer about Sales, interleaved with employees answering
about another department, buyers, and surveys cancelled half-way. The test knows who wrote
which response (each employee's comments carry a tag) and in which order they finished,
and plays the operator, route by route. Each route that orders responses is scored as the
operator would use it at best: knowing the order in which people finished (the worst case:
the office saw them), pair the k-th finisher with the k-th response in that order (or in
the reverse order) and count the hits. Chance gives 1 hit on average; the bound of 7 is
reached by a random order with probability about 1e-5 (Poisson(1) tail, both directions),
while the old storage (increasing ids, exact times, kept sessions) gave 24 of 24.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import flow, jobs
from bot.context import FeedbotContext
from bot.services import Services
from storage.models import Subject
from surveys import engine
from surveys.schema import Question, QuestionType
from tests.bot.conftest import SECRET, BotWorld, Clock, start_world, stop_world

EMPLOYEES = 24
MAX_HITS = 7
WEEK = "2026-W48"
WEEK_START = "2026-11-23T00:00:00.000000+00:00"


@dataclass
class Respondent:
    """Someone answering this week; `tag` marks their free-text answers."""

    telegram_id: int
    subject: Subject
    tag: str
    role: str | None
    ask: flow.Ask | None = None
    finished_as: int | None = None


class Traffic:
    """Drives respondents through the real flow, one action at a time, as updates would."""

    def __init__(self, world: BotWorld, rng: random.Random) -> None:
        self.world = world
        self.services: Services = world.services
        self.rng = rng
        self.update_id = 700_000_000
        self.finished: list[Respondent] = []
        self.session_ids: dict[int, set[int]] = {}

    async def begin(self, person: Respondent) -> None:
        self.world.clock.advance(minutes=self.rng.randint(1, 4))
        asked = await flow.begin(
            self.services,
            telegram_id=person.telegram_id,
            chat_id=person.telegram_id,
            subject=person.subject,
            role=person.role,
        )
        assert isinstance(asked, flow.Ask), asked
        person.ask = asked
        self.session_ids.setdefault(person.telegram_id, set()).add(asked.session.id)

    def last_question_next(self, person: Respondent) -> bool:
        assert person.ask is not None
        return person.ask.step.number == person.ask.step.total

    async def answer(self, person: Respondent) -> None:
        """Answer the current question (finishing the survey if it is the last)."""
        assert person.ask is not None
        self.world.clock.advance(minutes=self.rng.randint(1, 4))
        self.update_id += self.rng.randint(1, 3)
        question = person.ask.step.question
        outcome = await flow.act(
            self.services,
            person.ask.session,
            op=flow.Op.ANSWER,
            question_id=question.id,
            value=_value(question, person, self.rng),
            update_id=self.update_id,
        )
        if isinstance(outcome, flow.Finished):
            person.ask = None
            person.finished_as = len(self.finished)
            self.finished.append(person)
            return
        assert isinstance(outcome, flow.Ask), outcome
        person.ask = outcome

    async def cancel(self, person: Respondent) -> None:
        assert person.ask is not None
        await flow.cancel(self.services, person.ask.session)
        person.ask = None


def _value(question: Question, person: Respondent, rng: random.Random) -> engine.AnswerValue:
    if question.type is QuestionType.TEXT:
        return f"{person.tag} {question.id}"
    if question.type is QuestionType.MULTI:
        return [rng.choice(question.choices).id]
    if question.type is QuestionType.SINGLE:
        return rng.choice(question.choices).id
    if question.type is QuestionType.YES_NO:
        return rng.random() < 0.5
    assert question.scale is not None
    return rng.randint(*question.scale)


def _ids(rng: random.Random, count: int) -> list[int]:
    """Distinct Telegram-like ids stored as 6-byte integers (so a byte scan can find them)."""
    ids: set[int] = set()
    while len(ids) < count:
        ids.add(rng.randrange(2**33, 2**46))
    return sorted(ids, key=lambda _: rng.random())


async def _run_week(world: BotWorld, rng: random.Random) -> tuple[list[Respondent], Traffic]:
    subjects = world.subjects
    traffic = Traffic(world, rng)
    ids = _ids(rng, EMPLOYEES + 14)
    targets = [
        Respondent(i, subjects["sales"], f"tag{n:02d}x{rng.randrange(16**6):06x}", "employee")
        for n, i in enumerate(ids[:EMPLOYEES])
    ]
    others = [
        Respondent(i, subjects["support"], f"other{n:02d}", "contractor")
        for n, i in enumerate(ids[EMPLOYEES : EMPLOYEES + 6])
    ]
    buyers = [
        Respondent(i, subjects["coffee"], f"buyer{n:02d}", None)
        for n, i in enumerate(ids[EMPLOYEES + 6 : EMPLOYEES + 11])
    ]
    quitters = [
        Respondent(i, subjects["sales"], f"quit{n:02d}", "employee")
        for n, i in enumerate(ids[EMPLOYEES + 11 :])
    ]
    everyone = [*targets, *others, *buyers, *quitters]
    for person in rng.sample(everyone, len(everyone)):
        await traffic.begin(person)
    # Everyone answers all but their last question, in a random interleaving; the quitters
    # give up half-way (/cancel) and one of them starts over and finishes.
    while True:
        busy = [p for p in everyone if p.ask is not None and not traffic.last_question_next(p)]
        if not busy:
            break
        person = rng.choice(busy)
        if person in quitters and person.ask is not None and person.ask.step.number == 4:
            await traffic.cancel(person)
            continue
        await traffic.answer(person)
    await traffic.begin(quitters[0])
    # The Sales respondents finish in a known order, others finishing in between.
    finish_order = rng.sample(targets, len(targets))
    side = [p for p in everyone if p not in targets and p.ask is not None]
    for person in finish_order:
        await traffic.answer(person)
        if side and rng.random() < 0.5:
            other = side.pop()
            while other.ask is not None:
                await traffic.answer(other)
    for other in side:
        while other.ask is not None:
            await traffic.answer(other)
    assert [p.finished_as for p in finish_order] == sorted(
        p.finished_as for p in finish_order if p.finished_as is not None
    )
    return targets, traffic


def _rows(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def _marker(telegram_id: int, subject_id: int) -> str:
    """What the operator recomputes with FEEDBOT_SECRET (bot.services.Services.pseudonym)."""
    message = f"respondent:{telegram_id}:{subject_id}:{WEEK}".encode()
    return hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


def _hits(finishers: Sequence[Respondent], ranked_tags: Sequence[str]) -> int:
    """Correct attributions when the k-th finisher is taken for the k-th response of an
    order (forward or backward, whichever does better): what an order can give away."""
    truth = [p.tag for p in sorted(finishers, key=lambda p: p.finished_as or 0)]
    assert sorted(truth) == sorted(ranked_tags)
    forward = sum(a == b for a, b in zip(truth, ranked_tags, strict=True))
    backward = sum(a == b for a, b in zip(truth, reversed(ranked_tags), strict=True))
    return max(forward, backward)


def _response_tags(path: Path, sales: int, order_by: str) -> list[str]:
    """The tag of each Sales response, responses ordered by `order_by` (ties: id)."""
    rows = _rows(
        path,
        "SELECT r.id, a.text FROM responses r JOIN answers a ON a.response_id = r.id"
        f" WHERE r.subject_id = ? AND a.text LIKE 'tag%' AND a.question_id = 'works_well'"
        f" ORDER BY {order_by}",
        sales,
    )
    return [str(text).split()[0] for _, text in rows]


def _by_layout(raw: bytes, needles: dict[str, bytes]) -> list[str]:
    """Keys of `needles` in the order their rows were laid out in the file: by page, and
    within a page from its end (SQLite fills a page's cell area from the end down, so
    there offsets fall in the order rows were written)."""
    page_size = int.from_bytes(raw[16:18], "big")
    found = {key: raw.find(value) for key, value in needles.items()}
    assert all(offset >= 0 for offset in found.values()), found
    return sorted(found, key=lambda key: (found[key] // page_size, -found[key]))


def _wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def _files(path: Path) -> bytes:
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_the_operator_cannot_attribute_a_weeks_internal_responses(
    world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    if world.services.db.dialect != "sqlite":
        pytest.skip("reads the SQLite database's files byte by byte")
    caplog.set_level(logging.DEBUG)
    world.clock.now = world.clock.now.replace(day=23, hour=7)  # Monday of 2026-W48
    rng = random.Random(20261123)
    targets, traffic = await _run_week(world, rng)
    path = Path(world.services.db.path)
    sales = world.subjects["sales"].id
    assert len(traffic.finished) == EMPLOYEES + 6 + 5 + 1

    # Route 1: recompute every employee's marker. It proves they answered (the bot needs
    # that), and points nowhere: the marker table has no other column, and no other table
    # holds a marker.
    markers = {p.tag: _marker(p.telegram_id, sales) for p in targets}
    stored = {row[0] for row in _rows(path, "SELECT marker FROM answered_markers")}
    assert set(markers.values()) <= stored
    assert [row[1] for row in _rows(path, "PRAGMA table_info(answered_markers)")] == ["marker"]
    tables = [
        str(row[0]) for row in _rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")
    ]
    for table in tables:
        if table == "answered_markers":
            continue
        for row in _rows(path, f"SELECT * FROM {table}"):
            assert not set(map(str, row)) & stored, table

    # Route 2: leftover sessions and identities. Nothing of an ended session remains; no
    # table but the markers' changes with who answered.
    assert _rows(path, "SELECT COUNT(*) FROM sessions") == [(0,)]
    assert [row[1] for row in _rows(path, "PRAGMA table_info(processed_updates)")] == [
        "update_id",
        "processed_at",
    ]
    # (how many of a week's sessions started and how many of those completed: counts only)
    assert [row[1] for row in _rows(path, "PRAGMA table_info(session_counts)")] == [
        "subject_id",
        "week_key",
        "started",
        "completed",
    ]

    # Route 3: timestamps. Every Sales response carries the start of the week: no time to
    # match against processed_updates, logs or anyone's memory.
    assert _rows(
        path, "SELECT DISTINCT submitted_at, week_key FROM responses WHERE subject_id = ?", sales
    ) == [(WEEK_START, WEEK)]

    # Route 4: id order, rowid order and the default order of a plain SELECT, of responses
    # and of answers (no rowid of their own: WITHOUT ROWID).
    with pytest.raises(sqlite3.OperationalError):
        _rows(path, "SELECT rowid FROM answers")
    for order_by in ("r.id", "r.rowid", "r.id DESC"):
        assert _hits(targets, _response_tags(path, sales, order_by)) <= MAX_HITS, order_by
    plain = [
        str(row[0]).split()[0]
        for row in _rows(path, "SELECT text FROM answers WHERE text LIKE 'tag%works_well'")
    ]
    assert _hits(targets, plain) <= MAX_HITS

    # What the hourly maintenance does (abandoned sessions, old update ids, then the scrub:
    # VACUUM and a truncated WAL), after which the operator copies the files.
    await jobs.close_stale_sessions(FeedbotContext(world.app))
    raw = _files(path)

    # Route 5: the bytes of the files. No employee's Telegram id, as the 6-byte integer a
    # session row held, and no session state is left anywhere, deleted pages included.
    for person in targets:
        assert person.telegram_id.to_bytes(6, "big") not in raw, person.tag
        assert str(person.telegram_id).encode() not in raw
    assert b'{"answers":' not in raw and b'"history":' not in raw

    # Route 6: where rows sit in the file (a page stores new rows below older ones). Both
    # the responses' and the markers' layout are in key order, which is random.
    physical = _by_layout(raw, {p.tag: f"{p.tag} works_well".encode() for p in targets})
    assert _hits(targets, physical) <= MAX_HITS
    marker_layout = _by_layout(raw, {tag: marker.encode() for tag, marker in markers.items()})
    assert _hits(targets, marker_layout) <= MAX_HITS
    # Pairing the i-th marker in the file with the i-th response in the file.
    paired = dict(zip(marker_layout, physical, strict=True))
    assert sum(tag == guess for tag, guess in paired.items()) <= MAX_HITS

    # Route 7: the logs, at DEBUG. No line names an employee together with a session of
    # theirs, a response id or anything they wrote.
    response_ids = {str(row[0]) for row in _rows(path, "SELECT id FROM responses")}
    for record in caplog.records:
        line = record.getMessage()
        for person in targets:
            if str(person.telegram_id) not in line:
                continue
            assert person.tag not in line
            assert not any(str(s) in line for s in traffic.session_ids[person.telegram_id])
            assert not any(r in line for r in response_ids)

    # And the digest still counts everyone: 24 + the one who started over.
    completed = _rows(
        path, "SELECT COUNT(*) FROM responses WHERE subject_id = ? AND status = 'completed'", sales
    )
    assert completed == [(EMPLOYEES + 1,)]
    assert _rows(path, "SELECT started FROM session_counts WHERE subject_id = ?", sales) == [
        (EMPLOYEES + 3 + 1,)
    ]


async def test_a_clean_stop_leaves_the_files_scrubbed(tmp_path: Path) -> None:
    """Stopping the bot does what the hourly job does: rows laid out in key order, no
    WAL, no deleted session left in the bytes."""
    world = await start_world(tmp_path, Clock())
    rng = random.Random(7)
    traffic = Traffic(world, rng)
    people = [
        Respondent(i, world.subjects["sales"], f"tag{n:02d}x{n:06x}", "employee")
        for n, i in enumerate(_ids(rng, 8))
    ]
    try:
        for person in people:
            await traffic.begin(person)
            while person.ask is not None:
                await traffic.answer(person)
        path = Path(world.services.db.path)
    finally:
        await stop_world(world)
    raw = _files(path)
    assert _wal_size(path) == 0
    for person in people:
        assert person.telegram_id.to_bytes(6, "big") not in raw
    in_file = _by_layout(raw, {p.tag: f"{p.tag} works_well".encode() for p in people})
    assert in_file == _response_tags(path, world.subjects["sales"].id, "r.id")


async def test_files_are_scrubbed_within_minutes_of_an_internal_survey_ending(
    tmp_path: Path,
) -> None:
    """The short job rewrites the files once an internal survey has ended (not only the
    hourly one), and does nothing while only buyers answered."""
    world = await start_world(tmp_path, Clock())
    rng = random.Random(11)
    traffic = Traffic(world, rng)
    context = FeedbotContext(world.app)
    try:
        path = Path(world.services.db.path)
        await jobs.scrub_files(world.services)  # start from clean files
        buyer = Respondent(_ids(rng, 1)[0], world.subjects["coffee"], "buyer01x", None)
        await traffic.begin(buyer)
        while buyer.ask is not None:
            await traffic.answer(buyer)
        assert not world.services.internal_ended_since_scrub
        await jobs.scrub_after_internal(context)
        assert _wal_size(path) > 0, "a buyer's response alone does not trigger the rewrite"

        people = [
            Respondent(i, world.subjects["sales"], f"tag{n:02d}y{n:06x}", "employee")
            for n, i in enumerate(_ids(rng, 8))
        ]
        for person in people:
            await traffic.begin(person)
            while person.ask is not None:
                await traffic.answer(person)
        assert world.services.internal_ended_since_scrub
        await jobs.scrub_after_internal(context)
        assert not world.services.internal_ended_since_scrub
        assert _wal_size(path) == 0
        raw = _files(path)
        for person in people:
            assert person.telegram_id.to_bytes(6, "big") not in raw
        in_file = _by_layout(raw, {p.tag: f"{p.tag} works_well".encode() for p in people})
        assert in_file == _response_tags(path, world.subjects["sales"].id, "r.id")
    finally:
        await stop_world(world)
