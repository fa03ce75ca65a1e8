"""bench/digest: every subject's weekly digest over a long history, beside the bare SQL.

    python -m bench.digest [--sizes 100000,1000000] [--subjects 100] [--weeks 52]
                           [--repeat 5] [--chart]

For each size a database with that many answers (about ten per response, so 100,000
responses for 1,000,000 answers) over `--weeks` weeks, `--subjects` subjects (half
departments answering the internal survey, half products answering the external one)
is generated once and cached in bench/.cache/ (keyed by size, shape, generator version
and the migrations, so a schema change regenerates it). Subjects and invites go
through the storage functions; the bulk of sessions, responses and answers is inserted
with executemany on the same schema, the rows built as storage builds them (answers
normalized by surveys.engine.answer_records from answer sets the engine accepted).

Timed, page cache warm, median of `--repeat` runs, the three taking turns:
- feedbot: compose_digest (the aggregate queries through Database.conn, then scoring)
  and render_digest (Jinja2, Telegram HTML) for every subject for the last closed week,
  in its owner's language (alternately English and Polish), as the outbox sender's
  drain makes them: up to CONCURRENT_CHATS digests at once, so that one digest's
  queries (on the database's reader thread, where SQLite runs without the GIL) overlap
  the scoring and rendering of another (on the event loop's thread);
- one at a time: the same, each digest finished before the next begins, split into
  its queries, scoring and rendering;
- floor: the same SQL statements with the same parameters, recorded while feedbot ran,
  executed one after another with the plain sqlite3 module and fetched, nothing else.
With --chart the trend charts (matplotlib, drawn in a thread by the sender) are timed
too, on their own line: they are pictures, not aggregates, so they are not in the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import CACHE, Stopwatch, Table, fmt, machine, percentile, ratio, verdict

GENERATOR_VERSION = 3
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday; the digest is of the week before
ZONE = ZoneInfo("Europe/Warsaw")
ANONYMITY_MIN = 5
COMMENTS_MIN = 5
TEMPLATES_PER_SURVEY = 400
COMMENTS = [
    "Quick delivery and friendly people.",
    "The invoice was wrong twice this month; please double-check before sending.",
    "Great coffee, but the packaging could be recyclable.",
    "Support answered within an hour and solved it.",
    "Too many steps to order a spare part.",
    "Nothing to add.",
    "The new portal is much clearer than the old one, thank you!",
    "Please answer emails faster; we waited a week for a quote.",
    "Fine.",
    "I would like a monthly summary of open tickets.",
]
ROLES = ("employee", "employee", "employee", "contractor", "supplier")


# ------------------------------------------------------------------ generating


@dataclass(frozen=True)
class Shape:
    """What a generated database holds."""

    answers: int
    subjects: int
    weeks: int

    @property
    def path(self) -> Path:
        migrations = resources.files("storage") / "migrations"
        digest = hashlib.sha256()
        for item in sorted(migrations.iterdir(), key=lambda f: f.name):
            if item.name.endswith(".sql"):
                digest.update(item.read_bytes())
        schema = digest.hexdigest()[:10]
        name = (
            f"digest-{self.answers}a-{self.subjects}s-{self.weeks}w-v{GENERATOR_VERSION}-{schema}"
        )
        return CACHE / f"{name}.sqlite3"


def period_key() -> str:
    """The week every digest is computed for: the last one closed at NOW."""
    from surveys import periods

    return periods.previous(periods.week_key(NOW.astimezone(ZONE).date()))


def answer_sets(definition: Any, rng: random.Random, count: int) -> list[list[Any]]:
    """`count` complete answer sets the survey engine accepts, as AnswerRecords."""
    from surveys import engine
    from surveys.schema import QuestionType

    sets = []
    for _ in range(count):
        state = engine.new_state()
        while isinstance(step := engine.next_step(definition, state), engine.QuestionStep):
            question = step.question
            value: Any
            if not question.required and rng.random() < 0.15:
                value = None
            elif question.scale is not None:
                low, high = question.scale
                # Skewed to the top, as real satisfaction answers are.
                value = max(low, high - int(rng.expovariate(0.6)))
            elif question.type is QuestionType.YES_NO:
                value = rng.random() < 0.5
            elif question.type is QuestionType.SINGLE:
                value = rng.choice(question.choices).id
            elif question.type is QuestionType.MULTI:
                picked = rng.sample(question.choices, rng.randint(1, 3))
                value = [c.id for c in picked]
            else:
                value = rng.choice(COMMENTS)
            changed = engine.apply_answer(definition, state, question.id, value)
            assert isinstance(changed, engine.SessionState), changed
            state = changed
        sets.append(engine.answer_records(definition, state.answers))
    return sets


def answer_rows(response_id: int, records: Sequence[Any]) -> list[tuple[object, ...]]:
    """One row per value, numbered by position, as storage.sessions stores a response's
    answers."""
    values: list[tuple[object, ...]] = []
    for record in records:
        base = (record.question_id, record.question_type.value, record.metric)
        if record.number is not None or record.text is not None:
            values.append((*base, record.number, record.text, None))
        values.extend((*base, None, None, choice) for choice in record.choices)
    return [(response_id, position, *value) for position, value in enumerate(values)]


async def generate(shape: Shape, seed: int = 1) -> Path:
    """Build the database for `shape` (or reuse the cached one); returns its path."""
    path = shape.path
    if path.exists():
        return path
    from storage import invites as invite_repo
    from storage import subjects as subject_repo
    from storage.db import Database
    from storage.models import InviteKind, SubjectKind
    from surveys import periods
    from surveys.loader import SurveyCatalog

    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    rng = random.Random(seed)
    catalog = SurveyCatalog.load()
    created = NOW - timedelta(weeks=shape.weeks + 1)
    db = await Database.open(partial)
    try:
        async with db.transaction() as conn:
            for n in range(shape.subjects):
                internal = n % 2 == 0
                subject = await subject_repo.add_subject(
                    conn,
                    slug=f"{'dept' if internal else 'product'}-{n:03d}",
                    kind=SubjectKind.DEPARTMENT if internal else SubjectKind.PRODUCT,
                    names={"pl": f"Temat {n}", "en": f"Subject {n}"},
                    survey_id="internal" if internal else "external",
                    now=created,
                )
                await invite_repo.create_invite(
                    conn,
                    b"bench-secret-0123456789",
                    kind=InviteKind.EMPLOYEE if internal else InviteKind.BUYER,
                    subject_id=subject.id,
                    role=None,
                    max_uses=None,
                    expires_at=None,
                    created_by=None,
                    now=created,
                )
        subjects = await subject_repo.list_subjects(db.conn)
    finally:
        await db.close()

    definitions = {s: catalog.latest(s) for s in ("internal", "external")}
    templates = {s: answer_sets(d, rng, TEMPLATES_PER_SURVEY) for s, d in definitions.items()}
    per_response = sum(
        sum(len(answer_rows(0, t)) for t in sets) / len(sets) for sets in templates.values()
    ) / len(templates)
    responses = max(shape.subjects, round(shape.answers / per_response))
    # Subjects differ in size (a few big ones, many small), weeks a little.
    weights = [rng.lognormvariate(0, 0.8) for _ in subjects]
    last_week = period_key()
    weeks = list(periods.last_n(last_week, shape.weeks))

    raw = sqlite3.connect(partial, isolation_level=None)
    try:
        raw.execute("PRAGMA synchronous=OFF")
        raw.execute("BEGIN")
        session_id = 0
        answers_written = 0
        sessions: list[tuple[object, ...]] = []
        rows: list[tuple[object, ...]] = []
        answer_batch: list[tuple[object, ...]] = []
        chosen = rng.choices(range(len(subjects)), weights=weights, k=responses)
        week_of = sorted(rng.randrange(len(weeks)) for _ in range(responses))
        pairs = zip(chosen, week_of, strict=True)
        for number, (index, week_index) in enumerate(pairs, start=1):
            # Random ids, as storage.sessions draws them (collisions: never at this size).
            response_id = rng.getrandbits(62) | 1
            subject = subjects[index]
            definition = definitions[subject.survey_id]
            internal = subject.survey_id == "internal"
            week = weeks[week_index]
            start = periods.span(week).start
            at = datetime.combine(start, time(8), UTC) + timedelta(seconds=rng.randrange(5 * 86400))
            stamp = at.isoformat(timespec="microseconds")
            partial_response = rng.random() < 0.05
            session_id += 1
            status = "abandoned" if partial_response else "completed"
            sessions.append(
                (
                    session_id,
                    definition.id,
                    definition.version,
                    subject.id,
                    definition.audience.value,
                    None,
                    status,
                    stamp,
                    stamp,
                    week,
                )
            )
            records = rng.choice(templates[subject.survey_id])
            if partial_response:
                records = records[: rng.randint(1, max(1, len(records) - 1))]
            contact = 5_000_000 + number if not internal and rng.random() < 0.2 else None
            if internal:  # stamped with the start of the week, as storage.sessions does
                stamp = datetime.combine(start, time(0), UTC).isoformat(timespec="microseconds")
            rows.append(
                (
                    response_id,
                    subject.id,
                    definition.id,
                    definition.version,
                    definition.audience.value,
                    week,
                    "partial" if partial_response else "completed",
                    rng.choice(ROLES) if internal else None,
                    contact,
                    stamp,
                )
            )
            answer_batch.extend(answer_rows(response_id, records))
            if rng.random() < 0.15:  # started, never finished, nothing kept
                session_id += 1
                sessions.append(
                    (
                        session_id,
                        definition.id,
                        definition.version,
                        subject.id,
                        definition.audience.value,
                        None,
                        "cancelled",
                        stamp,
                        stamp,
                        week,
                    )
                )
            if len(answer_batch) > 50_000:
                answers_written += _flush(raw, sessions, rows, answer_batch)
        answers_written += _flush(raw, sessions, rows, answer_batch)
        _members(raw, subjects, weeks, rng)
        raw.execute("COMMIT")
    finally:
        raw.close()
    partial.rename(path)
    return path


def _flush(
    raw: sqlite3.Connection,
    sessions: list[tuple[object, ...]],
    responses: list[tuple[object, ...]],
    answers: list[tuple[object, ...]],
) -> int:
    # Ended sessions leave only their count (storage.sessions deletes them).
    raw.executemany(
        "INSERT INTO session_counts (subject_id, week_key, started) VALUES (?, ?, 1)"
        " ON CONFLICT (subject_id, week_key) DO UPDATE SET started = started + 1",
        [(session[3], session[9]) for session in sessions],
    )
    raw.executemany(
        "INSERT INTO responses (id, subject_id, survey_id, survey_version, audience, week_key,"
        " status, role, contact_id, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        responses,
    )
    raw.executemany(
        "INSERT INTO answers (response_id, position, question_id, question_type, metric,"
        " number, text, choice) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        answers,
    )
    written = len(answers)
    sessions.clear()
    responses.clear()
    answers.clear()
    return written


def _members(
    raw: sqlite3.Connection, subjects: Sequence[Any], weeks: Sequence[str], rng: random.Random
) -> None:
    """Employees of the departments, and the weekly invitations (response-rate denominators)."""
    departments = [s.id for s in subjects if s.survey_id == "internal"]
    members = [(9_000_000 + n, rng.choice(departments)) for n in range(20 * len(departments))]
    raw.executemany(
        "INSERT INTO members (telegram_id, role, department_id, registered_at)"
        " VALUES (?, 'employee', ?, ?)",
        [(m, d, NOW.isoformat()) for m, d in members],
    )
    raw.executemany(
        "INSERT INTO member_invitations (week_key, telegram_id, source) VALUES (?, ?, 'pulse')",
        [(w, m) for w in weeks for m, _ in members if rng.random() < 0.5],
    )


# ------------------------------------------------------------------ measuring


@dataclass
class Measured:
    """One database's timings (seconds, medians) and what the digests read."""

    shape: Shape
    path: Path
    generated_in: float | None
    answers: int
    responses: int
    period_answers: int
    trend_answers: int
    feedbot: float  # CONCURRENT_CHATS at a time, as the sender composes them
    sequential: float  # one digest after another
    at_once: int  # digests in flight for `feedbot` (the sender's CONCURRENT_CHATS)
    floor: float
    queries: int
    per_subject_ms_p95: float
    queries_s: float = 0.0  # compose_digest minus build_digest: the queries, via Database.conn
    scores_s: float = 0.0  # build_digest: scoring (surveys.scoring) and assembling
    render_s: float = 0.0  # render_digest: Jinja2 templates to Telegram HTML
    chart: float | None = None
    digests_with_scores: int = 0


async def measure(shape: Shape, repeat: int, chart: bool) -> Measured:
    """Generate (or reuse) the database, then time feedbot and the floor on it."""
    from bot.delivery.sender import CONCURRENT_CHATS
    from bot.digest.compose import compose_digest
    from bot.digest.model import TREND_PERIODS
    from bot.digest.render import render_digest
    from storage import subjects as subject_repo
    from storage.db import Database
    from surveys import periods
    from surveys.loader import SurveyCatalog

    existed = shape.path.exists()
    with Stopwatch() as generating:
        path = await generate(shape)
    period = period_key()
    now = NOW.astimezone(ZONE)
    catalog = SurveyCatalog.load()
    db = await Database.open(path)
    try:
        subjects = await subject_repo.list_subjects(db.conn)
        definitions = {s.id: catalog.latest(s.survey_id) for s in subjects}

        split = Split()

        async def one_digest(n: int, subject: Any) -> tuple[Any, list[str], float]:
            with Stopwatch() as one:
                digest = await compose_digest(
                    db,
                    subject,
                    definitions[subject.id],
                    period,
                    anonymity_min=ANONYMITY_MIN,
                    comments_min=COMMENTS_MIN,
                    now=now,
                    closed_only=False,
                )
                with Stopwatch() as rendering:
                    text = render_digest(digest, "en" if n % 2 else "pl")
            split.render += rendering.seconds
            return digest, text, one.seconds

        async def all_digests(
            times: list[float] | None = None, texts: list[list[str]] | None = None
        ) -> list[Any]:
            """One after another: where each part of the time goes."""
            made = []
            for n, subject in enumerate(subjects):
                digest, text, seconds = await one_digest(n, subject)
                if times is not None:
                    times.append(seconds)
                if texts is not None:
                    texts.append(text)
                made.append(digest)
            return made

        async def as_the_sender() -> list[list[str]]:
            """CONCURRENT_CHATS at a time, as the outbox sender's drain composes them."""
            gate = asyncio.Semaphore(CONCURRENT_CHATS)

            async def bounded(n: int, subject: Any) -> list[str]:
                async with gate:
                    return (await one_digest(n, subject))[1]

            return await asyncio.gather(*(bounded(n, s) for n, s in enumerate(subjects)))

        # Warm-up run, recording every statement compose_digest sends (the floor's work):
        # through Database.conn, and on the reader's thread through read_in_thread.
        statements: list[tuple[str, tuple[Any, ...]]] = []
        texts: list[list[str]] = []
        with recording(db.conn, statements):
            digests = await all_digests(texts=texts)
        if await as_the_sender() != texts:
            raise AssertionError("digests made at once differ from those made one at a time")
        feedbot_runs: list[float] = []
        sequential_runs: list[float] = []
        floor_runs: list[float] = []
        per_subject: list[float] = []
        splits = []
        _floor(path, statements)  # its warm-up
        with split.timing_scores():
            for _ in range(repeat):  # in turn, so that all three see the same machine
                floor_runs.append(_floor(path, statements))
                split.scores = split.render = 0.0
                with Stopwatch() as run:
                    await all_digests(per_subject)
                sequential_runs.append(run.seconds)
                splits.append((run.seconds, split.scores, split.render))
                with Stopwatch() as run:
                    await as_the_sender()
                feedbot_runs.append(run.seconds)
        # The split of the median run: scoring (build_digest), rendering, the rest (queries).
        total, scores, rendered = sorted(splits)[(len(splits) - 1) // 2]
        chart_seconds = None
        if chart:
            from bot.digest.chart import digest_chart

            with Stopwatch() as drawing:
                for n, digest in enumerate(digests):
                    digest_chart(digest, "en" if n % 2 else "pl")
            chart_seconds = drawing.seconds
        counts = await _counts(db, period, list(periods.last_n(period, TREND_PERIODS)))
    finally:
        await db.close()
    return Measured(
        shape=shape,
        path=path,
        generated_in=None if existed else generating.seconds,
        answers=counts[0],
        responses=counts[1],
        period_answers=counts[2],
        trend_answers=counts[3],
        feedbot=percentile(feedbot_runs, 50),
        sequential=percentile(sequential_runs, 50),
        at_once=CONCURRENT_CHATS,
        floor=percentile(floor_runs, 50),
        queries=len(statements),
        per_subject_ms_p95=1000 * percentile(per_subject, 95),
        queries_s=total - scores - rendered,
        scores_s=scores,
        render_s=rendered,
        chart=chart_seconds,
        digests_with_scores=sum(1 for d in digests if d.scores),
    )


class _Recorder:
    """A sqlite3 connection that notes each statement executed through it."""

    def __init__(self, conn: sqlite3.Connection, into: list[tuple[str, tuple[Any, ...]]]):
        self._conn = conn
        self._into = into

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        self._into.append((sql, tuple(parameters)))
        return self._conn.execute(sql, parameters)


@contextmanager
def recording(conn: Any, into: list[tuple[str, tuple[Any, ...]]]) -> Iterator[None]:
    """Record the statements compose_digest runs: through `conn` (Database.conn) and in
    the functions it hands to storage.db.read_in_thread and read_at_once."""
    from bot.digest import compose

    original_execute = conn.execute
    in_thread, at_once = compose.read_in_thread, compose.read_at_once

    def execute(sql: str, parameters: Any = None) -> Any:
        into.append((sql, tuple(parameters or ())))
        return original_execute(sql, parameters)

    def recorded(read: Any) -> Any:
        def run(target: Any, fn: Any) -> Any:
            def attempt(raw: sqlite3.Connection) -> Any:
                # Kept once the function has run to its end: read_at_once abandons one
                # over budget (interrupted) and runs it again.
                statements: list[tuple[str, tuple[Any, ...]]] = []
                result = fn(_Recorder(raw, statements))
                into.extend(statements)
                return result

            return read(target, attempt)

        return run

    conn.execute = execute
    compose.read_in_thread, compose.read_at_once = recorded(in_thread), recorded(at_once)
    try:
        yield
    finally:
        del conn.execute
        compose.read_in_thread, compose.read_at_once = in_thread, at_once


class Split:
    """Where feedbot's time goes: build_digest is timed by wrapping it where compose calls it."""

    def __init__(self) -> None:
        self.scores = 0.0
        self.render = 0.0

    @contextmanager
    def timing_scores(self) -> Iterator[None]:
        from bot.digest import compose

        original = compose.build_digest

        def timed(*args: Any, **kwargs: Any) -> Any:
            with Stopwatch() as building:
                built = original(*args, **kwargs)
            self.scores += building.seconds
            return built

        compose.build_digest = timed
        try:
            yield
        finally:
            compose.build_digest = original


def _floor(path: Path, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> float:
    """The bare SQL: every recorded statement executed and fetched with plain sqlite3."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        with Stopwatch() as run:
            for sql, parameters in statements:
                conn.execute(sql, parameters).fetchall()
    finally:
        conn.close()
    return run.seconds


async def _counts(db: Any, period: str, trend_weeks: list[str]) -> tuple[int, int, int, int]:
    """Answers and responses in the database; answers in the period and the trend weeks."""

    async def one(sql: str, *params: object) -> int:
        async with db.conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return int(row[0])

    weeks = ", ".join("?" * len(trend_weeks))
    join = "SELECT COUNT(*) FROM answers AS a JOIN responses AS r ON r.id = a.response_id"
    return (
        await one("SELECT COUNT(*) FROM answers"),
        await one("SELECT COUNT(*) FROM responses"),
        await one(f"{join} WHERE r.week_key = ?", period),
        await one(f"{join} WHERE r.week_key IN ({weeks})", *trend_weeks),
    )


# ------------------------------------------------------------------ reporting


def report(results: Sequence[Measured], repeat: int) -> str:
    table = Table(
        f"digest: every subject's digest for {period_key()} (compose + render), "
        f"median of {repeat} runs, page cache warm\n{machine()}",
        [
            "answers",
            "responses",
            "subjects",
            "weeks",
            "answers in week",
            "in 12 weeks",
            "queries",
            "floor s",
            "feedbot s",
            "vs floor",
            "one at a time s",
            "vs floor",
            "= queries",
            "+ scoring",
            "+ render",
            "queries vs floor",
            "ms/subject p95",
            "charts s",
        ],
    )
    for m in results:
        table.add(
            m.answers,
            m.responses,
            m.shape.subjects,
            m.shape.weeks,
            m.period_answers,
            m.trend_answers,
            m.queries,
            fmt(m.floor, 3),
            fmt(m.feedbot, 3),
            ratio(m.feedbot, m.floor),
            fmt(m.sequential, 3),
            ratio(m.sequential, m.floor),
            fmt(m.queries_s, 3),
            fmt(m.scores_s, 3),
            fmt(m.render_s, 3),
            ratio(m.queries_s, m.floor),
            fmt(m.per_subject_ms_p95, 1),
            fmt(m.chart, 2) if m.chart is not None else "-",
        )
    table.notes.append(
        "feedbot: compose_digest + render_digest for every subject through Database.conn,"
        f" {results[-1].at_once} at a time as the outbox sender's drain runs them (the aggregate"
        " queries on the reader's thread overlap the scoring and rendering of other digests"
        " on the event loop's); one at a time: the same, one digest after another, split into"
        " queries (compose_digest minus build_digest), scoring (build_digest) and render"
        " (render_digest); floor: the same SQL statements with the same parameters (recorded"
        " from feedbot's run), plain sqlite3, one after another, fetched, nothing else."
    )
    if len(results) >= 2:
        small, big = results[0], results[-1]
        table.notes.append(
            f"growth {fmt(small.answers)} -> {fmt(big.answers)} answers"
            f" (x{big.answers / max(small.answers, 1):.1f}; rows in the digest's week"
            f" x{big.period_answers / max(small.period_answers, 1):.1f}, in its 12 trend weeks"
            f" x{big.trend_answers / max(small.trend_answers, 1):.1f}):"
            f" feedbot x{big.feedbot / max(small.feedbot, 1e-9):.1f},"
            f" floor x{big.floor / max(small.floor, 1e-9):.1f}"
        )
    for m in results:
        made = f"generated in {m.generated_in:.1f} s" if m.generated_in else "cached"
        table.notes.append(
            f"{fmt(m.answers)} answers: {m.path.name} ({made});"
            f" {m.digests_with_scores} of {m.shape.subjects} digests show scores"
        )
    biggest = results[-1]
    table.notes.append(
        f"target feedbot <= 1.5x floor at {fmt(biggest.answers)} answers:"
        f" {ratio(biggest.feedbot, biggest.floor)}"
        f" -> {verdict(biggest.feedbot <= 1.5 * biggest.floor)}"
    )
    table.notes.append(
        f"one at a time (no overlap): {ratio(biggest.sequential, biggest.floor)} the floor"
    )
    table.notes.append(
        f"target whole run for {biggest.shape.subjects} subjects under a few (3) seconds:"
        f" {biggest.feedbot:.2f} s -> {verdict(biggest.feedbot < 3)}"
    )
    return table.render()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.digest", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="answers per database, comma-separated (100000,1000000)",
    )
    parser.add_argument("--subjects", type=int, default=100, help="subjects (100)")
    parser.add_argument("--weeks", type=int, default=52, help="weeks of history (52)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs, median shown (5)")
    parser.add_argument("--chart", action="store_true", help="also time the trend charts")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results = [
        asyncio.run(measure(Shape(n, args.subjects, args.weeks), args.repeat, args.chart))
        for n in sorted(sizes)
    ]
    print(report(results, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
