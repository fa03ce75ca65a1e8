"""What the dashboard shows, computed by the digest's own code and gates (no second rule set).

A subject's page is its digest for the last closed week (`compose_digest` with
`closed_only`, as `/digest` of a department), so its numbers are the digest's. The longer
trend settles its weeks through the same disclosure units (`storage.disclosures.settle_weeks`,
`anonymity.digest_disclosure`): an internal week is a point only inside a shown unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from bot.digest.build import trend_points
from bot.digest.compose import compose_digest
from bot.digest.model import Digest, TrendPoint
from bot.digest.scores import headline_question, numeric_answers
from bot.services import Services
from storage import aggregates
from storage import owners as owner_repo
from storage import subjects as subject_repo
from storage.connection import SyncConnection
from storage.disclosures import settle_weeks
from storage.models import Subject
from surveys import anonymity, periods
from surveys.anonymity import Disclosure
from surveys.schema import Audience, Question, QuestionType, SurveyDefinition

TREND_LENGTHS = (12, 52)
COMMENT_LIMIT = 100  # a page's worth; the digest shows its three longest


@dataclass(frozen=True, slots=True)
class PageComment:
    """A free-text answer shown on the page, with the question it answers."""

    question: Question | None
    text: str


@dataclass(frozen=True, slots=True)
class QuestionBars:
    """One scaled question's answers in the digest's shown unit, highest value first."""

    question: Question
    bars: tuple[tuple[int, int], ...]  # (value, answers)
    n: int


@dataclass(frozen=True, slots=True)
class SubjectView:
    """A subject's page: its digest, a trend of `len(trend)` periods, every distribution."""

    subject: Subject
    definition: SurveyDefinition
    digest: Digest
    trend: tuple[TrendPoint, ...]
    distributions: tuple[QuestionBars, ...]
    comments: tuple[PageComment, ...] = ()


async def visible_subjects(services: Services, telegram_id: int) -> list[Subject]:
    """The subjects this user may look at: an admin every active one, an owner their own."""
    conn = services.db.conn
    if services.is_admin(telegram_id):
        return await subject_repo.list_subjects(conn)
    return await owner_repo.list_owned_subjects(conn, telegram_id)


async def may_see(services: Services, telegram_id: int, subject: Subject) -> bool:
    """Whether this user may look at this subject (admin, or one of its owners)."""
    if services.is_admin(telegram_id):
        return True
    return await owner_repo.is_owner(services.db.conn, telegram_id, subject.id)


async def subject_digest(services: Services, subject: Subject) -> Digest:
    """The digest of the last closed week, exactly as /digest of a department composes it."""
    now = services.now().astimezone(services.settings.tz)
    return await compose_digest(
        services.db,
        subject,
        services.surveys.latest(subject.survey_id),
        periods.week_key(now.date()),
        anonymity_min=services.settings.anonymity_min,
        comments_min=services.settings.comments_threshold,
        now=now,
        closed_only=True,
    )


async def subject_view(services: Services, subject: Subject, weeks: int) -> SubjectView:
    """The page of one subject with a trend of `weeks` periods (one of TREND_LENGTHS)."""
    definition = services.surveys.latest(subject.survey_id)
    digest = await subject_digest(services, subject)
    trend = digest.trend
    if weeks != len(trend):
        trend = await long_trend(services, subject, definition, digest.period.key, weeks)
    bars = await _distributions(services, subject, definition, digest)
    comments = await _comments(services, subject, definition, digest)
    return SubjectView(subject, definition, digest, trend, bars, comments)


async def _comments(
    services: Services, subject: Subject, definition: SurveyDefinition, digest: Digest
) -> tuple[PageComment, ...]:
    """Every comment of the digest's shown unit (not only the digest's longest three), when
    its comments gate lets them through. A department's come longest first, never in
    order of time (which within a pooled unit would tell which week each came from)."""
    text_questions = [q.id for q in definition.questions if q.type is QuestionType.TEXT]
    if not digest.comments_gate.shown or not digest.basis_weeks or not text_questions:
        return ()
    weeks = list(digest.basis_weeks)
    found = await services.db.read_at_once(
        lambda conn: aggregates.Reads(conn).comments(
            subject.id, weeks, question_ids=text_questions, limit=COMMENT_LIMIT
        )
    )
    if not digest.internal:
        found = sorted(found, key=lambda c: c.submitted_at, reverse=True)
    questions = {q.id: q for q in definition.questions}
    seen: set[str] = set()
    result = []
    for comment in found:
        text = " ".join(comment.text.split())
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            result.append(PageComment(questions.get(comment.question_id), text))
    return tuple(result)


async def long_trend(
    services: Services,
    subject: Subject,
    definition: SurveyDefinition,
    period_key: str,
    weeks: int,
) -> tuple[TrendPoint, ...]:
    """The headline per period over `weeks` periods ending with `period_key` (closed)."""
    audience = subject.kind.audience
    headline = headline_question(definition, audience)
    if headline is None:
        return ()
    keys = periods.last_n(period_key, weeks)
    disclosure: Disclosure | None = None
    wanted = list(keys)
    if audience is Audience.INTERNAL:
        settings = services.settings
        settled, counts = await settle_weeks(
            services.db,
            subject.id,
            keys,
            last_closed=anonymity.last_closed_week(services.today()),
            anonymity_min=settings.anonymity_min,
            comments_min=settings.comments_threshold,
            now=services.now(),
        )
        disclosure = anonymity.digest_disclosure(
            period_key, None, settled.units, settled.pending, counts, keys
        )
        wanted = sorted({w for unit in disclosure.trend for w in unit.weeks})
    answers = (
        await services.db.read_at_once(
            partial(_trend, sid=subject.id, weeks=wanted, qid=headline.id)
        )
        if wanted
        else {}
    )
    spans = [periods.span(key) for key in keys]
    return trend_points(spans, headline, answers, disclosure)


def _trend(
    conn: SyncConnection, *, sid: int, weeks: list[str], qid: str
) -> dict[str, dict[float, int]]:
    return aggregates.Reads(conn).trend(sid, weeks, qid)


async def _distributions(
    services: Services, subject: Subject, definition: SurveyDefinition, digest: Digest
) -> tuple[QuestionBars, ...]:
    """Every scaled question's answers over the weeks the digest's scores come from
    (`basis_weeks`: empty when its gate withholds them, and then nothing is read)."""
    if not digest.scores or not digest.basis_weeks:
        return ()
    weeks = list(digest.basis_weeks)
    found = await services.db.read_at_once(
        lambda conn: aggregates.Reads(conn).distributions(subject.id, weeks)
    )
    result = []
    for question in definition.questions:
        if question.scale is None:
            continue
        answers = numeric_answers(found.get(question.id), question.scale)
        if not answers:
            continue
        low, high = question.scale
        bars = tuple((v, answers.get(v, 0)) for v in range(high, low - 1, -1))
        result.append(QuestionBars(question, bars, sum(answers.values())))
    return tuple(result)
