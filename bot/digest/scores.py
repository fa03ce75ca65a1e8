"""Scoring a digest's questions: the headline, each score and change, extremes and choices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from bot.digest.data import QuestionDistributions
from bot.digest.model import (
    ChoiceCount,
    Distribution,
    Level,
    NpsAlarm,
    RankedQuestion,
    Score,
    ScoreKind,
)
from surveys import scoring
from surveys.schema import Audience, Metric, Question, QuestionType, SurveyDefinition

# Which metric leads the digest (its distribution and trend chart), per audience.
HEADLINE_METRICS: dict[Audience, tuple[str, ...]] = {
    Audience.EXTERNAL: (Metric.NPS, Metric.CSAT),
    Audience.INTERNAL: (Metric.OVERALL, Metric.NPS),
}
CSAT_FAVOURABLE_FROM = 4  # CSAT is the share of 4-5 answers (top-two-box), see scoring.csat
# How a share of favourable answers reads on its own (percent): under half is low, three
# in four or more is high. A strongest question below LOW_BELOW is still called low.
LOW_BELOW = 50.0
HIGH_FROM = 75.0


def favourable_from(scale: tuple[int, int]) -> int:
    """The lowest favourable answer of a scale: the first above its midpoint (4-5 of a
    1-5 rating, the usual top-two-box; 5-7 of a 1-7 effort scale)."""
    low, high = scale
    return (low + high) // 2 + 1


def metric_of(question: Question) -> str:
    """The name a question is reported under: its metric, else its id."""
    return question.metric or question.id


def headline_question(definition: SurveyDefinition, audience: Audience) -> Question | None:
    """The question that leads the digest: by HEADLINE_METRICS, else the first scaled one."""
    scaled = [q for q in definition.questions if q.scale is not None]
    for metric in HEADLINE_METRICS[audience]:
        found = next((q for q in scaled if q.metric == metric), None)
        if found is not None:
            return found
    return scaled[0] if scaled else None


def numeric_answers(
    distribution: Mapping[Any, int] | None, scale: tuple[int, int]
) -> dict[int, int]:
    """The whole-number answers within the scale (anything else cannot be scored)."""
    result: dict[int, int] = {}
    if not distribution:
        return result
    low, high = scale
    for value, count in distribution.items():
        # Fast paths for the int and float keys the aggregate queries give (a digest
        # scores thousands of distributions); anything else takes the general one.
        if value.__class__ is int:
            if low <= value <= high and count > 0:
                result[value] = result.get(value, 0) + count
            continue
        if value.__class__ is float:
            if value.is_integer() and low <= value <= high and count > 0:
                key = int(value)
                result[key] = result.get(key, 0) + count
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if float(value).is_integer() and low <= value <= high and count > 0:
            result[int(value)] = result.get(int(value), 0) + count
    return result


def score_kind(question: Question) -> ScoreKind:
    """How a question is scored: NPS points, CSAT percent, or a mean."""
    if question.type is QuestionType.NPS:
        return ScoreKind.NPS
    if question.type is QuestionType.RATING and question.metric == Metric.CSAT:
        return ScoreKind.PERCENT
    return ScoreKind.MEAN


def question_estimate(
    question: Question, distribution: Mapping[int, int]
) -> scoring.Estimate | None:
    """The score of one question in its own kind (NPS points, CSAT percent, or a mean)."""
    scale = question.scale
    assert scale is not None
    kind = score_kind(question)
    if kind is ScoreKind.NPS:
        return scoring.nps(*scoring.nps_buckets(distribution))
    if kind is ScoreKind.PERCENT:
        return scoring.csat(distribution)
    return scoring.mean(distribution, value_range=scale)


def _favourable_successes(distribution: Mapping[int, int], threshold: int) -> tuple[int, int]:
    n = sum(distribution.values())
    return sum(c for v, c in distribution.items() if v >= threshold), n


def scaled_answers(
    definition: SurveyDefinition, distributions: QuestionDistributions
) -> dict[str, dict[int, int]]:
    """`numeric_answers` of every scaled question (empty for one without answers): what
    `question_scores` and `headline_distribution` score, worked out once."""
    result: dict[str, dict[int, int]] = {}
    for question in definition.questions:
        scale = question.scale
        if scale is not None:
            result[question.id] = numeric_answers(distributions.get(question.id), scale)
    return result


def question_scores(
    definition: SurveyDefinition,
    current: Mapping[str, Mapping[int, int]],
    previous: Mapping[str, Mapping[int, int]],
) -> list[Score]:
    """Each scaled question with answers, scored, with its change since `previous`
    (`current` and `previous` as `scaled_answers` gives them). The changes are one
    family: their significance is corrected for one another (`scoring.holm_adjusted`)."""
    # Scored first, then made into Scores once the family's correction is known.
    pending: list[_Scored] = []
    changes: list[scoring.Change | None] = []
    empty: dict[int, int] = {}
    for question in definition.questions:
        scale = question.scale
        if scale is None:
            continue
        now = current.get(question.id, empty)
        before = previous.get(question.id, empty)
        kind = score_kind(question)
        favourable: scoring.Estimate | None = None
        favourable_change: scoring.Change | None = None
        buckets: scoring.NpsCounts | None = None
        threshold: int | None = None
        if kind is ScoreKind.NPS:
            # `question_estimate`, keeping the buckets it splits the answers into.
            buckets = scoring.nps_buckets(now)
            estimate = scoring.nps(*buckets)
            if estimate is None:
                continue
            change = scoring.nps_change(scoring.nps_buckets(before), buckets)
        elif kind is ScoreKind.PERCENT:
            estimate = scoring.csat(now)
            if estimate is None:
                continue
            threshold = CSAT_FAVOURABLE_FROM
            change = scoring.proportion_change(
                *_favourable_successes(before, threshold), *_favourable_successes(now, threshold)
            )
        else:
            estimate = scoring.mean(now, value_range=scale)
            if estimate is None:
                continue
            change = scoring.mean_change(before, now)
            threshold = favourable_from(scale)
            favourable = scoring.favourable(now, threshold=threshold)
            favourable_change = scoring.proportion_change(
                *_favourable_successes(before, threshold), *_favourable_successes(now, threshold)
            )
        pending.append(_Scored(question, kind, estimate, scale, favourable, buckets, threshold))
        changes += (change, favourable_change)
    if sum(1 for c in changes if c is not None and c.p_value is not None) > 1:
        changes = scoring.holm_adjusted(changes)  # a lone test needs no correction
    return [
        Score(
            question_id=p.question.id,
            metric=metric_of(p.question),
            kind=p.kind,
            texts=dict(p.question.text),
            estimate=p.estimate,
            change=changes[2 * i],
            scale=p.scale,
            favourable=p.favourable,
            favourable_change=changes[2 * i + 1],
            buckets=p.buckets,
            favourable_from=p.favourable_from,
        )
        for i, p in enumerate(pending)
    ]


class _Scored(NamedTuple):
    """A question scored, before its changes are corrected for the digest's family."""

    question: Question
    kind: ScoreKind
    estimate: scoring.Estimate
    scale: tuple[int, int]
    favourable: scoring.Estimate | None
    buckets: scoring.NpsCounts | None
    favourable_from: int | None


def extremes(
    scores: Sequence[Score], headline: Question | None
) -> tuple[RankedQuestion | None, RankedQuestion | None]:
    """The strongest and the weakest question, ranked by the share of favourable answers
    (one scale for a 1-5 rating, CSAT and a 1-7 effort score alike); NPS questions and
    the headline are left out (they lead the digest anyway).

    A question is named only when its interval is clear of the other end's: the
    strongest's lower bound above the upper bound of the lowest-rated questions, the
    weakest's upper bound below the lower bound of the best-rated. Otherwise the two
    may differ by chance alone and nothing is said. A share shared by several questions
    at the top (or the bottom) names none of them."""
    ranked: list[RankedQuestion] = []
    for score in scores:
        if score.kind is ScoreKind.NPS or score.scale is None or score.favourable_from is None:
            continue
        if headline is not None and score.question_id == headline.id:
            continue
        share = score.estimate if score.kind is ScoreKind.PERCENT else score.favourable
        if share is None:
            continue
        ranked.append(
            RankedQuestion(
                score.question_id,
                score.metric,
                score.texts,
                share,
                score.favourable_from,
                score.scale,
                _level(share.value),
            )
        )
    if len(ranked) < 2:
        return None, None
    top = max(r.favourable.value for r in ranked)
    bottom = min(r.favourable.value for r in ranked)
    if top == bottom:
        return None, None
    best = [r for r in ranked if r.favourable.value == top]
    worst = [r for r in ranked if r.favourable.value == bottom]
    strongest = weakest = None
    if len(best) == 1 and best[0].favourable.low > max(r.favourable.high for r in worst):
        strongest = best[0]
    if len(worst) == 1 and worst[0].favourable.high < min(r.favourable.low for r in best):
        weakest = worst[0]
    return strongest, weakest


def _level(percent: float) -> Level:
    if percent < LOW_BELOW:
        return Level.LOW
    return Level.HIGH if percent >= HIGH_FROM else Level.MIDDLING


def nps_alarm(scores: Sequence[Score]) -> NpsAlarm | None:
    """The (first) NPS score when it should lead the digest: at or below zero, or
    significantly down since the previous period (after the family's correction)."""
    score = next((s for s in scores if s.kind is ScoreKind.NPS), None)
    if score is None:
        return None
    negative = score.estimate.value <= 0
    change = score.change
    drop = change is not None and change.significant and change.delta < 0
    return NpsAlarm(score, negative, drop) if negative or drop else None


def headline_distribution(
    headline: Question | None, current: Mapping[str, Mapping[int, int]]
) -> Distribution | None:
    """The headline's answers as bars, highest value first (None without answers;
    `current` as `scaled_answers` gives it)."""
    if headline is None or headline.scale is None:
        return None
    low, high = headline.scale
    answers = current.get(headline.id)
    if not answers:
        return None
    bars = scoring.distribution_bars(answers, list(range(high, low - 1, -1)))
    return Distribution(
        headline.id, metric_of(headline), dict(headline.text), tuple(bars), sum(answers.values())
    )


def choice_counts(
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
                metric_of(question),
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
