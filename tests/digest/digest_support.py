"""Fixtures for digest tests: the bundled surveys, plain aggregate data and a fresh database."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.digest.build import build_digest
from bot.digest.data import DigestData, Window
from bot.digest.model import Block, Digest, SubjectRef, closed_block
from storage.db import Database
from storage.models import Comment, PeriodCounts, Subject, SubjectKind
from storage.sessions import complete_session, start_session
from storage.subjects import add_subject
from surveys import anonymity, periods
from surveys.loader import SurveyCatalog
from surveys.schema import AnswerRecord, Audience, QuestionType, SurveyDefinition
from tests.backends import backend_params, database_target

W48 = "2026-W48"
W47 = "2026-W47"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # Wednesday of W49: W48 has ended
CATALOG = SurveyCatalog.load()
INTERNAL = CATALOG.latest("internal")
EXTERNAL = CATALOG.latest("external")
PRODUCT = SubjectRef(1, "kettle", {"pl": "Czajnik", "en": "Kettle"}, Audience.EXTERNAL)
DEPARTMENT = SubjectRef(2, "sales", {"pl": "Sprzedaż", "en": "Sales"}, Audience.INTERNAL)

Answers = Mapping[str, int | str | list[str]]
# How many chose each answer value (a scale point or a choice id), as aggregates return it.
Counts = dict[float | str, int]
_respondents = itertools.count(1000)


def nps_answers(promoters: int, passives: int, detractors: int) -> Counts:
    """An NPS distribution: promoters answer 10, passives 8, detractors 3."""
    counts: Counts = {10: promoters, 8: passives, 3: detractors}
    return {k: v for k, v in counts.items() if v}


def window(
    key: str,
    completed: int,
    distributions: Mapping[str, Mapping[float | str, int]] | None = None,
    *,
    started: int | None = None,
    started_completed: int | None = -1,
    partial: int = 0,
    weeks: int = 1,
) -> Window:
    """A Window of `weeks` weeks ending with `key`; unless told, every session started in
    it completed in it (`started_completed` None: counted before completions were)."""
    started = started if started is not None else completed
    cohort = min(completed, started) if started_completed == -1 else started_completed
    counts = PeriodCounts(started, completed, partial, cohort)
    return Window(tuple(periods.last_n(key, weeks)), counts, dict(distributions or {}))


def block_window(
    block: Block,
    completed: int,
    distributions: Mapping[str, Mapping[float | str, int]] | None = None,
) -> Window:
    """A Window of exactly the weeks of `block` (the anonymity fallback's pool)."""
    counts = PeriodCounts(completed, completed, 0, completed)
    return Window(block.weeks, counts, dict(distributions or {}))


# W48 is the last week of its block: its digest falls back on W45-W48, compared with W41-W44.
BLOCK_W48 = Block.containing(W48)
BLOCK_BEFORE_W48 = BLOCK_W48.previous()


def disclose(
    data: DigestData, *, period: str = W48, anonymity_min: int = 5, comments_min: int = 5
) -> DigestData:
    """`data` of an internal subject with the disclosure compose would find for it, with
    nothing recorded before and `period` just closed: weekly counts are read off the
    period and previous windows, the trend, and the block window (what it holds beyond
    the weeks known goes to its first week not otherwise counted)."""
    counts: dict[str, dict[str, int]] = {
        week: {anonymity.NO_ROLE: sum(values.values())} for week, values in data.trend.items()
    }
    named = dict(data.role_counts)
    counts[period] = {
        **named,
        anonymity.NO_ROLE: data.period.counts.completed - sum(named.values()),
    }
    counts[data.previous.weeks[-1]] = {anonymity.NO_ROLE: data.previous.counts.completed}
    for pool in (data.block, data.block_previous):
        if pool is not None:
            rest = pool.counts.completed - anonymity.completed_in(counts, pool.weeks)
            free = [w for w in pool.weeks if w not in counts]
            if rest > 0 and free:
                counts[free[0]] = {anonymity.NO_ROLE: rest}
    trend = periods.last_n(period, 12)
    fallback = closed_block(period)
    settled = anonymity.settle(
        [*trend, *fallback.weeks],
        last_closed=period,
        recorded=(),
        counts=counts,
        anonymity_min=anonymity_min,
        comments_min=comments_min,
    )
    disclosure = anonymity.digest_disclosure(
        period, fallback.weeks[0], settled.units, settled.pending, counts, trend
    )
    return replace(data, disclosure=disclosure)


def comment(text: str, day: int = 25, question_id: str = "comment") -> Comment:
    return Comment(question_id, text, datetime(2026, 11, day, 12, tzinfo=UTC))


def build(
    subject: SubjectRef = PRODUCT,
    definition: SurveyDefinition = EXTERNAL,
    data: DigestData | None = None,
    *,
    anonymity_min: int = 5,
    comments_min: int = 5,
    in_progress: bool = False,
) -> Digest:
    """build_digest for week 2026-W48 with defaults for everything not given."""
    return build_digest(
        subject,
        definition,
        W48,
        data or DigestData(window(W48, 0), window(W47, 0)),
        anonymity_min=anonymity_min,
        comments_min=comments_min,
        in_progress=in_progress,
    )


def records(definition: SurveyDefinition, answers: Answers) -> list[AnswerRecord]:
    """The AnswerRecords the bot would store for these answers."""
    result = []
    for question_id, value in answers.items():
        question = definition.question(question_id)
        if question.type is QuestionType.TEXT:
            assert isinstance(value, str)
            result.append(
                AnswerRecord(
                    question_id=question_id,
                    question_type=question.type,
                    metric=question.metric,
                    text=value,
                )
            )
        elif question.type in (QuestionType.SINGLE, QuestionType.MULTI):
            choices = value if isinstance(value, list) else [str(value)]
            result.append(
                AnswerRecord(
                    question_id=question_id,
                    question_type=question.type,
                    metric=question.metric,
                    choices=tuple(choices),
                )
            )
        else:
            assert isinstance(value, int)
            result.append(
                AnswerRecord(
                    question_id=question_id,
                    question_type=question.type,
                    metric=question.metric,
                    number=value,
                )
            )
    return result


@dataclass
class Respond:
    """Adds completed responses through the storage API, as the bot would."""

    db: Database

    async def __call__(
        self,
        subject: Subject,
        answers: Answers,
        *,
        week: str = W48,
        role: str | None = None,
        times: int = 1,
    ) -> None:
        definition = CATALOG.latest(subject.survey_id)
        audience = subject.kind.audience
        at = datetime.combine(periods.span(week).start, datetime.min.time(), UTC)
        at += timedelta(days=2, hours=10)
        for _ in range(times):
            respondent = next(_respondents)
            async with self.db.transaction() as conn:
                session = await start_session(
                    conn,
                    respondent_id=respondent,
                    chat_id=respondent,
                    survey_id=definition.id,
                    survey_version=definition.version,
                    subject_id=subject.id,
                    audience=audience,
                    role=role if audience is Audience.INTERNAL else None,
                    state_json="{}",
                    now=at,
                    week_key=week,
                )
                await complete_session(
                    conn,
                    session,
                    records=records(definition, answers),
                    marker=f"p{respondent}:{subject.id}:{week}",
                    next_possible=at.date(),
                    contact_id=None,
                    now=at,
                    week_key=week,
                )
            at += timedelta(minutes=1)


@pytest.fixture(params=backend_params())
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A fresh database on each backend (SQLite in memory, PostgreSQL in its own schema)."""
    async with database_target(request.param, ":memory:") as target:
        database = await Database.open(target)
        try:
            yield database
        finally:
            await database.close()


@pytest.fixture
def respond(db: Database) -> Respond:
    return Respond(db)


@pytest.fixture
async def department(db: Database) -> Subject:
    async with db.transaction() as conn:
        return await add_subject(
            conn,
            slug="sales",
            kind=SubjectKind.DEPARTMENT,
            names={"pl": "Sprzedaż", "en": "Sales"},
            survey_id="internal",
            now=NOW - timedelta(days=365),
        )


@pytest.fixture
async def product(db: Database) -> Subject:
    async with db.transaction() as conn:
        return await add_subject(
            conn,
            slug="kettle",
            kind=SubjectKind.PRODUCT,
            names={"pl": "Czajnik", "en": "Kettle"},
            survey_id="external",
            now=NOW - timedelta(days=365),
        )


def internal_answers(
    overall: int, *, others: int | None = None, text: str | None = None, positive: str | None = None
) -> dict[str, int | str | list[str]]:
    """A full internal response: every dimension rated `others` (default: `overall`)."""
    rest = overall if others is None else others
    answers: dict[str, int | str | list[str]] = {
        "overall": overall,
        "reliability": rest,
        "responsiveness": rest,
        "communication": rest,
        "quality": rest,
        "recommend": 9 if overall >= 4 else 5,
    }
    if text is not None:
        answers["should_change"] = text
    if positive is not None:
        answers["works_well"] = positive
    return answers


def all_lines(parts: Sequence[str]) -> list[str]:
    """Every non-blank line of some message parts, in order."""
    return [line for part in parts for line in part.split("\n") if line.strip()]


TELEGRAM_TAGS = frozenset({"b", "i", "u", "s", "code", "pre", "a", "blockquote"})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*>")
_BARE_AMPERSAND = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+);)")


def assert_telegram_html(text: str) -> None:
    """Only the tags Telegram accepts, properly nested and closed; no bare < > or &."""
    stack: list[str] = []
    for match in _TAG.finditer(text):
        name = match.group(2)
        assert name in TELEGRAM_TAGS, f"tag <{name}> is not allowed by Telegram"
        if match.group(1):
            assert stack and stack.pop() == name, f"</{name}> closes nothing at {match.start()}"
        else:
            stack.append(name)
    assert not stack, f"unclosed tags: {stack}"
    outside = _TAG.sub("", text)
    assert "<" not in outside and ">" not in outside
    assert not _BARE_AMPERSAND.search(outside)
