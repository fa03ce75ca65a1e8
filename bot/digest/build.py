"""Building a digest from aggregate data (build_digest): pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from bot.digest.data import DigestData, Window
from bot.digest.model import (
    TREND_PERIODS,
    Basis,
    Block,
    Comparison,
    Digest,
    DigestComment,
    Gate,
    RoleScore,
    ScoreKind,
    SubjectRef,
    TrendPoint,
    closed_block,
)
from bot.digest.scores import (
    choice_counts,
    extremes,
    favourable_from,
    headline_distribution,
    headline_question,
    metric_of,
    nps_alarm,
    numeric_answers,
    question_estimate,
    question_scores,
    scaled_answers,
    score_kind,
)
from storage.models import Comment, PeriodCounts
from surveys import periods, scoring
from surveys.anonymity import Disclosure
from surveys.periods import PeriodSpan
from surveys.schema import Audience, Question, QuestionType, SurveyDefinition

COMMENT_LIMIT = 3
COMMENT_MAX_CHARS = 280
ELLIPSIS = "…"
ROLE_ORDER = ("employee", "contractor", "supplier")

_TRAILING = ",;:–—-("


def build_digest(
    subject: SubjectRef,
    definition: SurveyDefinition,
    period_key: str,
    data: DigestData,
    *,
    anonymity_min: int,
    comments_min: int,
    in_progress: bool = False,
) -> Digest:
    """Turn aggregate data into a Digest, scoring with surveys.scoring (no I/O)."""
    audience = subject.audience
    span, trend_spans = _spans(period_key)
    counts = data.period.counts
    disclosure = data.disclosure
    if audience is Audience.INTERNAL and disclosure is None:
        disclosure = Disclosure(None)  # nothing decided: nothing shown
    scores_gate, comments_gate = _gates(disclosure, counts.completed, anonymity_min, comments_min)
    block = closed_block(period_key, in_progress=in_progress)
    if disclosure is not None:  # the block of the pool shown, or of the one withheld
        pool = disclosure.scores if scores_gate.block else disclosure.withheld
        if pool is not None:
            block = Block.containing(pool.weeks[0])

    current, previous = _score_windows(scores_gate, data)
    comparison = _comparison(disclosure, previous)
    previous_distributions = (
        previous.distributions if previous is not None and comparison is Comparison.SHOWN else {}
    )
    current_distributions = current.distributions if current is not None else {}

    headline = headline_question(definition, audience)
    current_answers = scaled_answers(definition, current_distributions)
    scores = question_scores(
        definition, current_answers, scaled_answers(definition, previous_distributions)
    )
    strongest, weakest = extremes(scores, headline)
    if headline is not None:  # the headline first, the rest in survey order
        scores.sort(key=lambda s: s.question_id != headline.id)
    shown = scores_gate.shown and not nothing_to_report(counts)

    return Digest(
        subject=subject,
        survey_id=definition.id,
        survey_version=definition.version,
        period=span,
        block=block,
        previous_block=block.previous(),
        period_block=Block.containing(period_key),
        basis_weeks=current.weeks if current is not None and shown else (),
        previous_weeks=previous.weeks
        if previous is not None and shown and comparison is Comparison.SHOWN
        else (),
        in_progress=in_progress,
        counts=counts,
        previous_counts=data.previous.counts,
        evaluators=data.evaluators if audience is Audience.INTERNAL else None,
        response_rate=_response_rate(audience, counts.completed, data.evaluators),
        completion_rate=_completion_rate(counts),
        scores_gate=scores_gate,
        comparison=comparison,
        headline_metric=metric_of(headline) if headline is not None else None,
        headline_kind=score_kind(headline) if headline is not None else None,
        headline_scale=headline.scale if headline is not None else None,
        scores=tuple(scores) if shown else (),
        strongest=strongest if shown else None,
        weakest=weakest if shown else None,
        distribution=headline_distribution(headline, current_answers) if shown else None,
        choices=choice_counts(definition, current_distributions) if shown else (),
        comments_gate=comments_gate,
        comments=_comments(definition, data.comments, by_time=disclosure is None)
        if comments_gate.shown
        else (),
        roles=_roles(audience, disclosure, current, data, headline, anonymity_min) if shown else (),
        trend=_trend(trend_spans, headline, data.trend, disclosure),
        open_invites=data.open_invites,
        nothing_to_report=nothing_to_report(counts),
        nps_alarm=nps_alarm(scores) if shown else None,
    )


@lru_cache(maxsize=64)
def _spans(period_key: str) -> tuple[PeriodSpan, tuple[PeriodSpan, ...]]:
    """The spans of the period and of the TREND_PERIODS ending with it (the same for
    every subject's digest of a period: computed once)."""
    return (
        periods.span(period_key),
        tuple(periods.span(key) for key in periods.last_n(period_key, TREND_PERIODS)),
    )


def nothing_to_report(counts: PeriodCounts) -> bool:
    """No response in the period, completed or partial."""
    return counts.completed == 0 and counts.partial == 0


def _gates(
    disclosure: Disclosure | None, completed: int, anonymity_min: int, comments_min: int
) -> tuple[Gate, Gate]:
    """The scores and comments gates: external subjects always show their period; an
    internal one shows the unit its disclosure names, with that unit's thresholds."""
    if disclosure is None:
        return Gate(Basis.PERIOD, 0, completed), Gate(Basis.PERIOD, 0, completed)
    unit = disclosure.scores
    pending = disclosure.pending
    if unit is None:
        withheld = disclosure.withheld is not None
        after = pending.pooled_after if pending is not None else None

        def hidden(threshold: int) -> Gate:
            # Only a week still waiting for its block can be helped by more answers.
            needed = max(0, threshold - completed) if pending is not None else 0
            return Gate(Basis.HIDDEN, threshold, completed, needed, withheld, after)

        return hidden(anonymity_min), hidden(comments_min)
    basis = Basis.BLOCK if unit.pooled else Basis.PERIOD
    scores = Gate(basis, unit.anonymity_min, unit.completed)
    if unit.comments_shown:
        return scores, Gate(basis, unit.comments_min, unit.completed)
    # Judged by the threshold the unit was decided with, as everything about it.
    needed = 0 if unit.pooled else max(0, unit.comments_min - unit.completed)
    return scores, Gate(Basis.HIDDEN, unit.comments_min, unit.completed, needed=needed)


def _comparison(disclosure: Disclosure | None, previous: Window | None) -> Comparison:
    """Against the unit before (internal: only one its disclosure names, see
    `anonymity.digest_disclosure`), never against a small sample."""
    if previous is None or previous.counts.completed == 0:
        return Comparison.NO_DATA
    if disclosure is not None and disclosure.previous is None:
        return Comparison.WITHHELD
    return Comparison.SHOWN


def _score_windows(gate: Gate, data: DigestData) -> tuple[Window | None, Window | None]:
    """(current, previous) windows for the scores: the period and the one before, or the
    block and the one before it (adjacent blocks never overlap)."""
    if gate.basis is Basis.PERIOD:
        return data.period, data.previous
    if gate.basis is Basis.BLOCK:
        return data.block, data.block_previous
    return None, None


def _response_rate(audience: Audience, completed: int, evaluators: int | None) -> float | None:
    """The period's completed responses over the members who could evaluate the subject
    then. None for a product (buyers are no known population), with nobody to evaluate,
    or when there are more responses than members (members removed since answered: the
    population is not known any more, and a rate over 100% or capped would mislead)."""
    if audience is not Audience.INTERNAL or not evaluators or completed > evaluators:
        return None
    return completed / evaluators


def _completion_rate(counts: PeriodCounts) -> float | None:
    """Of the sessions started in the period, the share that completed (one cohort:
    a response completed this week of a session started last week counts for last
    week). None when nothing started, or the weeks were counted before completions were."""
    if counts.started <= 0 or counts.started_completed is None:
        return None
    return counts.started_completed / counts.started


def clip(text: str, limit: int = COMMENT_MAX_CHARS) -> tuple[str, bool]:
    """Whitespace collapsed to single spaces, and cut at a word boundary with "…" when longer
    than `limit` characters (the ellipsis included). Returns (text, whether it was cut)."""
    flat = " ".join(text.split())  # runs of whitespace as one space, ends trimmed
    if len(flat) <= limit:
        return flat, False
    room = flat[: limit - len(ELLIPSIS) + 1]
    cut = room.rfind(" ")
    # A word longer than a third of the room (a URL, say) is cut mid-word instead.
    head = room[:cut] if cut >= limit // 3 else room[:-1]
    head = head.rstrip().rstrip(_TRAILING).rstrip()
    return head + ELLIPSIS, True


def _comments(
    definition: SurveyDefinition, comments: Sequence[Comment], *, by_time: bool = True
) -> tuple[DigestComment, ...]:
    """Up to COMMENT_LIMIT comments, the longest first picked, then shown grouped by
    question in survey order (so each question heads its comments once), within a
    question newest first (`by_time`) or longest first: an internal unit's comments are
    never ordered by time, which within a pooled unit would tell which of its weeks each
    came from; a text given several times is shown once."""
    metrics = {q.id: q.metric for q in definition.questions}
    texts = {q.id: dict(q.text) for q in definition.questions}
    order = {q.id: i for i, q in enumerate(definition.questions)}
    flat: list[tuple[Comment, str]] = []
    seen: set[str] = set()
    for candidate in comments:
        text = " ".join(candidate.text.split())  # whitespace runs as one space
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            flat.append((candidate, text))
    longest = sorted(flat, key=lambda item: (-len(item[1]), -item[0].submitted_at.timestamp()))
    picked = longest[:COMMENT_LIMIT]
    if by_time:
        picked.sort(key=lambda item: item[0].submitted_at, reverse=True)
    else:
        picked.sort(key=lambda item: (-len(item[1]), item[1]))
    # Stable: the order above holds within each question.
    picked.sort(key=lambda item: order.get(item[0].question_id, len(order)))
    result = []
    for comment, text in picked:
        clipped, was_clipped = clip(text)
        result.append(
            DigestComment(
                comment.question_id,
                metrics.get(comment.question_id),
                clipped,
                comment.submitted_at,
                was_clipped,
                texts.get(comment.question_id),
            )
        )
    return tuple(result)


def _roles(
    audience: Audience,
    disclosure: Disclosure | None,
    current: Window | None,
    data: DigestData,
    headline: Question | None,
    anonymity_min: int,
) -> tuple[RoleScore, ...]:
    """Per respondent role, only when the unit allows it: at least two groups exist and
    every one of them met the threshold when it was decided. Responses without a role
    count as a group of their own, since the total minus the groups shown would reveal
    them (checked again here against the groups read)."""
    if audience is not Audience.INTERNAL or current is None or disclosure is None:
        return ()
    unit = disclosure.scores
    if unit is None or not unit.roles_shown:
        return ()
    anonymity_min = unit.anonymity_min
    groups = {role: n for role, n in data.role_counts.items() if n > 0}
    unassigned = current.counts.completed - sum(groups.values())
    sizes = [*groups.values(), *([unassigned] if unassigned > 0 else [])]
    if len(groups) < 2 or any(size < anonymity_min for size in sizes):
        return ()
    order = {role: i for i, role in enumerate(ROLE_ORDER)}
    rows = []
    for role in sorted(groups, key=lambda r: (order.get(r, len(order)), r)):
        estimate = favourable = None
        if headline is not None and headline.scale is not None:
            answers = numeric_answers(
                data.role_distributions.get(role, {}).get(headline.id), headline.scale
            )
            estimate = question_estimate(headline, answers)
            if headline.type is QuestionType.RATING and score_kind(headline) is ScoreKind.MEAN:
                threshold = favourable_from(headline.scale)
                favourable = scoring.favourable(answers, threshold=threshold)
        rows.append(RoleScore(role, groups[role], estimate, favourable))
    return tuple(rows)


def _trend(
    spans: Sequence[PeriodSpan],
    headline: Question | None,
    trend: Mapping[str, Mapping[float, int]],
    disclosure: Disclosure | None,
) -> tuple[TrendPoint, ...]:
    """The headline score per period (`spans`: the TREND_PERIODS ending with the
    digest's). Internal subjects: one point per shown unit of the disclosure, at its
    last week, from all its weeks' answers; every other week is a gap, so no week
    inside a pooled unit gets a number of its own."""
    scale = headline.scale if headline is not None else None
    if headline is None or scale is None:
        return ()
    at_end = {unit.last_week: unit for unit in disclosure.trend} if disclosure else {}
    points = []
    for span in spans:
        estimate = None
        weeks: tuple[str, ...] = (span.key,)
        if disclosure is None:
            answers = numeric_answers(trend.get(span.key), scale)
            estimate = question_estimate(headline, answers)
        elif span.key in at_end:
            pooled: dict[float, int] = {}
            for week in at_end[span.key].weeks:
                for value, n in trend.get(week, {}).items():
                    pooled[value] = pooled.get(value, 0) + n
            estimate = question_estimate(headline, numeric_answers(pooled, scale))
            weeks = at_end[span.key].weeks
        points.append(TrendPoint(span, estimate, weeks if estimate is not None else ()))
    return tuple(points)


def trend_points(
    spans: Sequence[PeriodSpan],
    headline: Question | None,
    trend: Mapping[str, Mapping[float, int]],
    disclosure: Disclosure | None,
) -> tuple[TrendPoint, ...]:
    """The trend over any run of periods, by the digest's own rules (the dashboard's
    52-week trend; a digest's is TREND_PERIODS long)."""
    return _trend(spans, headline, trend, disclosure)
