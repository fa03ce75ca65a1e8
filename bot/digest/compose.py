"""Computing a digest: the aggregate queries (compose_digest) and pure scoring (build_digest)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import aiosqlite

from bot.digest.model import (
    BLOCK_PERIODS,
    TREND_PERIODS,
    Basis,
    Block,
    ChoiceCount,
    Comparison,
    Digest,
    DigestComment,
    Distribution,
    Gate,
    RankedQuestion,
    RoleScore,
    Score,
    ScoreKind,
    SubjectRef,
    TrendPoint,
    week_index,
)
from storage import aggregates, invites
from storage.models import Comment, PeriodCounts, Subject
from surveys import periods, scoring
from surveys.schema import Audience, Question, QuestionType, SurveyDefinition

COMMENT_LIMIT = 3
COMMENT_MAX_CHARS = 280
# Comments fetched before picking the longest few (the query sorts longest first).
COMMENT_CANDIDATES = 12
ELLIPSIS = "…"

# Which metric leads the digest (its distribution and trend chart), per audience.
HEADLINE_METRICS: dict[Audience, tuple[str, ...]] = {
    Audience.EXTERNAL: ("nps", "csat"),
    Audience.INTERNAL: ("overall", "nps"),
}
ROLE_ORDER = ("employee", "contractor", "supplier")
FAVOURABLE_FROM = 4  # a 1-5 rating of 4 or 5 is favourable (top-two-box)

_SPACES = re.compile(r"\s+")
_TRAILING = ",;:–—-("

Value = float | str
QuestionDistributions = Mapping[str, Mapping[Value, int]]


@dataclass(frozen=True, slots=True)
class Window:
    """Aggregates over some weeks: counts, and the answer distributions when they were needed."""

    weeks: tuple[str, ...]
    counts: PeriodCounts
    distributions: QuestionDistributions = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DigestData:
    """Everything build_digest needs, as the aggregate queries return it.

    `block` is the last closed 4-week block (`closed_block`) and `block_previous` the
    block before it; both are only needed for internal subjects below a threshold.
    `comments` and the role data come from the basis that `decide_gate` picks for
    comments and scores respectively. `trend` (the headline question per week of the
    last TREND_PERIODS) also gives the completed responses of each week of both blocks
    (`completed_by_week`), which decide whether a block may be shown at all."""

    period: Window
    previous: Window
    block: Window | None = None
    block_previous: Window | None = None
    comments: Sequence[Comment] = ()
    role_counts: Mapping[str, int] = field(default_factory=dict)
    role_distributions: Mapping[str, QuestionDistributions] = field(default_factory=dict)
    trend: Mapping[str, Mapping[float, int]] = field(default_factory=dict)
    invited: int | None = None
    open_invites: int = 0


# ------------------------------------------------------------------ anonymity


def pools_safely(week_counts: Sequence[int] | None, total: int, threshold: int) -> bool:
    """Whether a pooled block of `total` completed responses may be shown, given the
    completed responses of each of its weeks.

    A week with at least `threshold` responses may have been shown on its own (its digest,
    the trend chart), and the block's figures minus those weeks' figures are the figures
    of the rest. So the weeks below `threshold` must total either 0 or at least
    `threshold`. False when the per-week counts are unknown or do not add up to `total`
    (they cannot then be trusted)."""
    if week_counts is None or sum(week_counts) != total:
        return False
    quiet = sum(n for n in week_counts if n < threshold)
    return quiet == 0 or quiet >= threshold


def decide_gate(
    audience: Audience,
    period_completed: int,
    block_completed: int | None,
    threshold: int,
    *,
    block_weeks: Sequence[int] | None = None,
) -> Gate:
    """Show from the period, else from the last closed block, else hide (internal only).

    `block_completed` is None when the block was not counted; `block_weeks` are the
    completed responses of each of its weeks, and the block is shown only when it
    `pools_safely` (never when they are unknown). When hidden, `needed` counts what the
    period lacks: the block is closed and cannot grow."""
    if audience is Audience.EXTERNAL:
        return Gate(Basis.PERIOD, 0, period_completed)
    if period_completed >= threshold:
        return Gate(Basis.PERIOD, threshold, period_completed)
    withheld = False
    if block_completed is not None and block_completed >= threshold:
        if pools_safely(block_weeks, block_completed, threshold):
            return Gate(Basis.BLOCK, threshold, block_completed)
        withheld = True
    return Gate(
        Basis.HIDDEN,
        threshold,
        period_completed,
        needed=threshold - period_completed,
        block_withheld=withheld,
    )


def completed_by_week(
    definition: SurveyDefinition,
    audience: Audience,
    trend: Mapping[str, Mapping[float, int]],
) -> dict[str, int] | None:
    """Completed responses per week of the trend, read off the headline question's answers
    (no query of its own): every completed response answers the headline when it is
    required and never conditional. None otherwise, since a count that falls short would
    let a block through; no block is then shown. Counts that do not add up to a block's
    own total are refused by `pools_safely` too (say, responses to an older survey)."""
    headline = _headline_question(definition, audience)
    if headline is None or not headline.required or headline.show_if is not None:
        return None
    return {week: sum(answers.values()) for week, answers in trend.items()}


def week_counts(window: Window | None, by_week: Mapping[str, int] | None) -> tuple[int, ...] | None:
    """The completed responses of each week of a pooled window (None when unknown)."""
    if window is None or by_week is None:
        return None
    return tuple(by_week.get(week, 0) for week in window.weeks)


def _gates(
    audience: Audience,
    definition: SurveyDefinition,
    data: DigestData,
    anonymity_min: int,
    comments_min: int,
) -> tuple[Gate, Gate]:
    """The scores and comments gates of a digest (the same in the queries and the build)."""
    completed = data.period.counts.completed
    block_completed = data.block.counts.completed if data.block is not None else None
    by_week = week_counts(data.block, completed_by_week(definition, audience, data.trend))
    scores = decide_gate(audience, completed, block_completed, anonymity_min, block_weeks=by_week)
    comments = decide_gate(audience, completed, block_completed, comments_min, block_weeks=by_week)
    return scores, comments


def needs_block(
    audience: Audience, period_completed: int, anonymity_min: int, comments_min: int
) -> bool:
    """Whether the block must be counted (an internal period below a threshold)."""
    return audience is Audience.INTERNAL and period_completed < max(anonymity_min, comments_min)


def closed_block(period_key: str, *, in_progress: bool = False) -> Block:
    """The block the anonymity fallback of a weekly digest shows: the latest one whose
    weeks have all ended by the end of the period (by now, when it is `in_progress`).

    So the block moves only when one closes: the digests of the four weeks after a block's
    last week (that week's own digest included) all show that block, and the next
    digest shows the following block, disjoint from it. A block is never shown while a
    response can still join it."""
    last_closed = periods.previous(period_key) if in_progress else period_key
    # The block of `last_closed` if that week is its last, else the block before it.
    return Block.at((week_index(last_closed) + 1) // BLOCK_PERIODS - 1)


# ------------------------------------------------------------------ pure building


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
    span = periods.span(period_key)
    counts = data.period.counts
    block = closed_block(period_key, in_progress=in_progress)
    _check_block(data.block, block)
    _check_block(data.block_previous, block.previous())
    scores_gate, comments_gate = _gates(audience, definition, data, anonymity_min, comments_min)
    by_week = completed_by_week(definition, audience, data.trend)

    current, previous = _score_windows(scores_gate, data)
    comparison = _comparison(audience, previous, anonymity_min, scores_gate, by_week)
    previous_distributions = (
        previous.distributions if previous is not None and comparison is Comparison.SHOWN else {}
    )
    current_distributions = current.distributions if current is not None else {}

    headline = _headline_question(definition, audience)
    scores = _scores(definition, current_distributions, previous_distributions)
    if headline is not None:  # the headline first, the rest in survey order
        scores.sort(key=lambda s: s.question_id != headline.id)
    strongest, weakest = _extremes(definition, current_distributions, headline)
    shown = scores_gate.shown and not _nothing(counts)

    return Digest(
        subject=subject,
        survey_id=definition.id,
        survey_version=definition.version,
        period=span,
        previous_period=periods.span(periods.previous(period_key)),
        block=block,
        previous_block=block.previous(),
        in_progress=in_progress,
        counts=counts,
        previous_counts=data.previous.counts,
        invited=data.invited if audience is Audience.INTERNAL else None,
        response_rate=_response_rate(audience, counts.completed, data.invited),
        completion_rate=_ratio(counts.completed, counts.started),
        scores_gate=scores_gate,
        comparison=comparison,
        headline_metric=_metric(headline) if headline is not None else None,
        headline_kind=_kind(headline) if headline is not None else None,
        headline_scale=headline.scale if headline is not None else None,
        scores=tuple(scores) if shown else (),
        strongest=strongest if shown else None,
        weakest=weakest if shown else None,
        distribution=_distribution(headline, current_distributions) if shown else None,
        choices=_choices(definition, current_distributions) if shown else (),
        comments_gate=comments_gate,
        comments=_comments(definition, data.comments) if comments_gate.shown else (),
        roles=_roles(audience, scores_gate, current, data, headline, anonymity_min, by_week)
        if shown
        else (),
        trend=_trend(audience, period_key, headline, data.trend, anonymity_min),
        open_invites=data.open_invites,
        nothing_to_report=_nothing(counts),
    )


def _nothing(counts: PeriodCounts) -> bool:
    return counts.completed == 0 and counts.partial == 0


def _check_block(window: Window | None, block: Block) -> None:
    """A pooled window must be exactly the block it is labelled with."""
    if window is not None and window.weeks != block.weeks:
        raise ValueError(f"block window {window.weeks} is not block {block.weeks}")


def _score_windows(gate: Gate, data: DigestData) -> tuple[Window | None, Window | None]:
    """(current, previous) windows for the scores: the period and the one before, or the
    block and the one before it (adjacent blocks never overlap)."""
    if gate.basis is Basis.PERIOD:
        return data.period, data.previous
    if gate.basis is Basis.BLOCK:
        return data.block, data.block_previous
    return None, None


def _comparison(
    audience: Audience,
    previous: Window | None,
    anonymity_min: int,
    gate: Gate,
    by_week: Mapping[str, int] | None,
) -> Comparison:
    if previous is None or previous.counts.completed == 0:
        return Comparison.NO_DATA
    # A change against a small previous sample would reveal that sample's scores.
    if audience is Audience.INTERNAL and previous.counts.completed < anonymity_min:
        return Comparison.WITHHELD
    # So would a change against the block before: the same rule as for showing a block.
    if gate.block and not pools_safely(
        week_counts(previous, by_week), previous.counts.completed, anonymity_min
    ):
        return Comparison.WITHHELD
    return Comparison.SHOWN


def _response_rate(audience: Audience, completed: int, invited: int | None) -> float | None:
    if audience is not Audience.INTERNAL or not invited:
        return None
    return _ratio(completed, invited)


def _ratio(part: int, whole: int) -> float | None:
    # Capped: a response may belong to a session started (or an invitation sent) earlier.
    return min(1.0, part / whole) if whole > 0 else None


def _metric(question: Question) -> str:
    return question.metric or question.id


def _headline_question(definition: SurveyDefinition, audience: Audience) -> Question | None:
    scaled = [q for q in definition.questions if q.scale is not None]
    for metric in HEADLINE_METRICS[audience]:
        found = next((q for q in scaled if q.metric == metric), None)
        if found is not None:
            return found
    return scaled[0] if scaled else None


def _numeric(distribution: Mapping[Any, int] | None, scale: tuple[int, int]) -> dict[int, int]:
    """The whole-number answers within the scale (anything else cannot be scored)."""
    result: dict[int, int] = {}
    for value, count in (distribution or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if float(value).is_integer() and scale[0] <= value <= scale[1] and count > 0:
            result[int(value)] = result.get(int(value), 0) + count
    return result


def _kind(question: Question) -> ScoreKind:
    if question.type is QuestionType.NPS:
        return ScoreKind.NPS
    if question.type is QuestionType.RATING and question.metric == "csat":
        return ScoreKind.PERCENT
    return ScoreKind.MEAN


def _estimate(question: Question, distribution: Mapping[int, int]) -> scoring.Estimate | None:
    """The score of one question in its own kind (NPS points, CSAT percent, or a mean)."""
    scale = question.scale
    assert scale is not None
    kind = _kind(question)
    if kind is ScoreKind.NPS:
        return scoring.nps(*scoring.nps_buckets(distribution))
    if kind is ScoreKind.PERCENT:
        return scoring.csat(distribution)
    return scoring.mean(distribution, value_range=scale)


def _favourable_successes(distribution: Mapping[int, int]) -> tuple[int, int]:
    n = sum(distribution.values())
    return sum(c for v, c in distribution.items() if v >= FAVOURABLE_FROM), n


def _scores(
    definition: SurveyDefinition,
    current: QuestionDistributions,
    previous: QuestionDistributions,
) -> list[Score]:
    scores: list[Score] = []
    for question in definition.questions:
        scale = question.scale
        if scale is None:
            continue
        now = _numeric(current.get(question.id), scale)
        before = _numeric(previous.get(question.id), scale)
        estimate = _estimate(question, now)
        if estimate is None:
            continue
        kind = _kind(question)
        favourable: scoring.Estimate | None = None
        favourable_change: scoring.Change | None = None
        buckets: scoring.NpsCounts | None = None
        if kind is ScoreKind.NPS:
            buckets = scoring.nps_buckets(now)
            change = scoring.nps_change(scoring.nps_buckets(before), buckets)
        elif kind is ScoreKind.PERCENT:
            change = scoring.proportion_change(
                *_favourable_successes(before), *_favourable_successes(now)
            )
        else:
            change = scoring.mean_change(before, now)
            if question.type is QuestionType.RATING:
                favourable = scoring.favourable(now, threshold=FAVOURABLE_FROM)
                favourable_change = scoring.proportion_change(
                    *_favourable_successes(before), *_favourable_successes(now)
                )
        scores.append(
            Score(
                question_id=question.id,
                metric=_metric(question),
                kind=kind,
                texts=dict(question.text),
                estimate=estimate,
                change=change,
                scale=scale,
                favourable=favourable,
                favourable_change=favourable_change,
                buckets=buckets,
            )
        )
    return scores


def _extremes(
    definition: SurveyDefinition, current: QuestionDistributions, headline: Question | None
) -> tuple[RankedQuestion | None, RankedQuestion | None]:
    """The strongest and weakest rating/effort question by mean, as a share of its scale.

    The headline is left out (it leads the digest anyway); none when fewer than two
    questions have answers or they all sit at the same point."""
    ranked: list[RankedQuestion] = []
    for question in definition.questions:
        scale = question.scale
        if scale is None or question.type is QuestionType.NPS:
            continue
        if headline is not None and question.id == headline.id:
            continue
        estimate = scoring.mean(_numeric(current.get(question.id), scale), value_range=scale)
        if estimate is None:
            continue
        position = (estimate.value - scale[0]) / (scale[1] - scale[0])
        ranked.append(
            RankedQuestion(
                question.id, question.metric, dict(question.text), estimate.value, scale, position
            )
        )
    if len(ranked) < 2:
        return None, None
    strongest = max(ranked, key=lambda r: r.position)
    weakest = min(ranked, key=lambda r: r.position)
    if strongest.position == weakest.position:
        return None, None
    return strongest, weakest


def _distribution(headline: Question | None, current: QuestionDistributions) -> Distribution | None:
    if headline is None or headline.scale is None:
        return None
    low, high = headline.scale
    answers = _numeric(current.get(headline.id), headline.scale)
    if not answers:
        return None
    bars = scoring.distribution_bars(answers, list(range(high, low - 1, -1)))
    return Distribution(
        headline.id, _metric(headline), dict(headline.text), tuple(bars), sum(answers.values())
    )


def _choices(
    definition: SurveyDefinition, current: QuestionDistributions
) -> tuple[ChoiceCount, ...]:
    """Picked choices of single/multi questions, most picked first (zero counts left out)."""
    result: list[ChoiceCount] = []
    for question in definition.questions:
        if question.type not in (QuestionType.SINGLE, QuestionType.MULTI):
            continue
        picked = current.get(question.id) or {}
        rows = [
            ChoiceCount(
                question.id,
                _metric(question),
                dict(question.text),
                c.id,
                dict(c.text),
                picked.get(c.id, 0),
            )
            for c in question.choices
            if picked.get(c.id, 0) > 0
        ]
        result.extend(sorted(rows, key=lambda r: -r.count))
    return tuple(result)


def clip(text: str, limit: int = COMMENT_MAX_CHARS) -> tuple[str, bool]:
    """Whitespace collapsed to single spaces, and cut at a word boundary with "…" when longer
    than `limit` characters (the ellipsis included). Returns (text, whether it was cut)."""
    flat = _SPACES.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat, False
    room = flat[: limit - len(ELLIPSIS) + 1]
    cut = room.rfind(" ")
    # A word longer than a third of the room (a URL, say) is cut mid-word instead.
    head = room[:cut] if cut >= limit // 3 else room[:-1]
    head = head.rstrip().rstrip(_TRAILING).rstrip()
    return head + ELLIPSIS, True


def _comments(
    definition: SurveyDefinition, comments: Sequence[Comment]
) -> tuple[DigestComment, ...]:
    """Up to COMMENT_LIMIT comments, the longest first picked, then shown newest first;
    a text given several times is shown once."""
    metrics = {q.id: q.metric for q in definition.questions}
    flat: list[tuple[Comment, str]] = []
    seen: set[str] = set()
    for candidate in comments:
        text = _SPACES.sub(" ", candidate.text).strip()
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            flat.append((candidate, text))
    longest = sorted(flat, key=lambda item: (-len(item[1]), -item[0].submitted_at.timestamp()))
    picked = sorted(longest[:COMMENT_LIMIT], key=lambda item: item[0].submitted_at, reverse=True)
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
            )
        )
    return tuple(result)


def _roles_allowed(
    gate: Gate, block: Window | None, by_week: Mapping[str, int] | None, anonymity_min: int
) -> bool:
    """A block's groups are shown only when none of its weeks was shown on its own: that
    week's groups could be subtracted from the block's, and `pools_safely` bounds only the
    total of the other weeks, not each group of them."""
    if not gate.block:
        return gate.shown
    counts = week_counts(block, by_week)
    return counts is not None and all(n < anonymity_min for n in counts)


def _roles(
    audience: Audience,
    gate: Gate,
    current: Window | None,
    data: DigestData,
    headline: Question | None,
    anonymity_min: int,
    by_week: Mapping[str, int] | None,
) -> tuple[RoleScore, ...]:
    """Per respondent role, only when at least two groups exist and every one of them meets
    the threshold. Responses without a role count as a group of their own, since the total
    minus the groups shown would reveal them."""
    if audience is not Audience.INTERNAL or current is None:
        return ()
    if not _roles_allowed(gate, data.block, by_week, anonymity_min):
        return ()
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
            answers = _numeric(
                data.role_distributions.get(role, {}).get(headline.id), headline.scale
            )
            estimate = _estimate(headline, answers)
            if headline.type is QuestionType.RATING and _kind(headline) is ScoreKind.MEAN:
                favourable = scoring.favourable(answers, threshold=FAVOURABLE_FROM)
        rows.append(RoleScore(role, groups[role], estimate, favourable))
    return tuple(rows)


def _trend(
    audience: Audience,
    period_key: str,
    headline: Question | None,
    trend: Mapping[str, Mapping[float, int]],
    anonymity_min: int,
) -> tuple[TrendPoint, ...]:
    """The headline score per period; internal periods below the threshold are gaps, so a
    week is plotted only when it has `anonymity_min` answers of its own (each one a
    completed response: never more than the week's completed responses)."""
    if headline is None or headline.scale is None:
        return ()
    points = []
    for key in periods.last_n(period_key, TREND_PERIODS):
        answers = _numeric(trend.get(key), headline.scale)
        enough = audience is Audience.EXTERNAL or sum(answers.values()) >= anonymity_min
        estimate = _estimate(headline, answers) if enough else None
        points.append(TrendPoint(periods.span(key), estimate))
    return tuple(points)


# ------------------------------------------------------------------ queries


def subject_ref(subject: Subject) -> SubjectRef:
    """The digest's view of a stored subject."""
    return SubjectRef(subject.id, subject.slug, dict(subject.names), subject.kind.audience)


def latest_closed_period(now: datetime) -> str:
    """The key of the last week that had ended by `now` (in `now`'s time zone)."""
    return periods.previous(periods.week_key(now.date()))


async def compose_digest(
    conn: aiosqlite.Connection,
    subject: Subject,
    definition: SurveyDefinition,
    period_key: str,
    *,
    anonymity_min: int,
    comments_min: int,
    now: datetime,
    closed_only: bool,
) -> Digest:
    """Query the aggregates for a subject and week, then build its digest.

    `now` (timezone-aware, in the owner's zone) decides whether the period has ended.
    With `closed_only`, a period that has not ended yet is replaced by the latest one
    that has: the on-demand /digest of an internal subject must pass True, so that two
    requests minutes apart cannot be compared to learn one new answer.

    Runs a fixed number of queries (at most 12), one per aggregate and window, never
    one per question or per week."""
    ref = subject_ref(subject)
    in_progress = now.date() <= periods.span(period_key).end
    if closed_only and in_progress:
        period_key, in_progress = latest_closed_period(now), False
    this_week = (period_key,)
    previous_week = (periods.previous(period_key),)
    data = DigestData(
        Window(this_week, await aggregates.period_counts(conn, subject.id, this_week)),
        Window(previous_week, await aggregates.period_counts(conn, subject.id, previous_week)),
        open_invites=await invites.count_open_invites(conn, subject.id, now=now),
    )
    if not _nothing(data.period.counts):
        block = closed_block(period_key, in_progress=in_progress)
        data = await _query_details(
            conn, ref, definition, period_key, block, data, anonymity_min, comments_min
        )
    return build_digest(
        ref,
        definition,
        period_key,
        data,
        anonymity_min=anonymity_min,
        comments_min=comments_min,
        in_progress=in_progress,
    )


async def _with_distributions(
    conn: aiosqlite.Connection, subject_id: int, window: Window
) -> Window:
    return replace(
        window, distributions=await aggregates.distributions(conn, subject_id, window.weeks)
    )


async def _query_details(
    conn: aiosqlite.Connection,
    subject: SubjectRef,
    definition: SurveyDefinition,
    period_key: str,
    block: Block,
    data: DigestData,
    anonymity_min: int,
    comments_min: int,
) -> DigestData:
    """The rest of the data for a period with responses: only what the gates let through.

    The trend comes first: it also counts each week's completed responses, which decide
    whether the block may be shown. Its TREND_PERIODS weeks end with the period and so
    always include the block and the block before (at most 11 weeks back)."""
    audience, sid = subject.audience, subject.id
    headline = _headline_question(definition, audience)
    if headline is not None:
        trend_weeks = periods.last_n(period_key, TREND_PERIODS)
        data = replace(data, trend=await aggregates.trend(conn, sid, trend_weeks, headline.id))
    by_week = completed_by_week(definition, audience, data.trend)

    completed = data.period.counts.completed
    if needs_block(audience, completed, anonymity_min, comments_min):
        block_counts = await aggregates.period_counts(conn, sid, block.weeks)
        data = replace(data, block=Window(block.weeks, block_counts))
    scores_gate, comments_gate = _gates(audience, definition, data, anonymity_min, comments_min)

    basis_weeks: tuple[str, ...] = ()
    if scores_gate.basis is Basis.PERIOD:
        basis_weeks = data.period.weeks
        data = replace(data, period=await _with_distributions(conn, sid, data.period))
        comparison = _comparison(audience, data.previous, anonymity_min, scores_gate, by_week)
        if comparison is Comparison.SHOWN:
            data = replace(data, previous=await _with_distributions(conn, sid, data.previous))
    elif scores_gate.basis is Basis.BLOCK and data.block is not None:
        basis_weeks = block.weeks
        before_weeks = block.previous().weeks
        before = Window(before_weeks, await aggregates.period_counts(conn, sid, before_weeks))
        if _comparison(audience, before, anonymity_min, scores_gate, by_week) is Comparison.SHOWN:
            before = await _with_distributions(conn, sid, before)
        pooled = await _with_distributions(conn, sid, data.block)
        data = replace(data, block=pooled, block_previous=before)

    text_questions = [q.id for q in definition.questions if q.type is QuestionType.TEXT]
    if comments_gate.shown and text_questions:
        weeks = data.period.weeks if comments_gate.basis is Basis.PERIOD else block.weeks
        comments = await aggregates.comments(
            conn, sid, weeks, question_ids=text_questions, limit=COMMENT_CANDIDATES
        )
        data = replace(data, comments=comments)

    if audience is Audience.INTERNAL:
        data = replace(data, invited=await aggregates.invited_members(conn, sid, data.period.weeks))
        if basis_weeks and _roles_allowed(scores_gate, data.block, by_week, anonymity_min):
            role_counts = await aggregates.role_counts(conn, sid, basis_weeks)
            data = replace(data, role_counts=role_counts)
            if len(role_counts) >= 2:
                by_role = await aggregates.distributions_by_role(conn, sid, basis_weeks)
                data = replace(data, role_distributions=by_role)
    return data
