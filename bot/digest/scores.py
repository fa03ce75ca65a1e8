"""Scoring a digest's questions: the headline, each score and change, extremes and choices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.digest.data import QuestionDistributions
from bot.digest.model import ChoiceCount, Distribution, RankedQuestion, Score, ScoreKind
from surveys import scoring
from surveys.schema import Audience, Question, QuestionType, SurveyDefinition

# Which metric leads the digest (its distribution and trend chart), per audience.
HEADLINE_METRICS: dict[Audience, tuple[str, ...]] = {
    Audience.EXTERNAL: ("nps", "csat"),
    Audience.INTERNAL: ("overall", "nps"),
}
FAVOURABLE_FROM = 4  # a 1-5 rating of 4 or 5 is favourable (top-two-box)


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
    if question.type is QuestionType.RATING and question.metric == "csat":
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


def _favourable_successes(distribution: Mapping[int, int]) -> tuple[int, int]:
    n = sum(distribution.values())
    return sum(c for v, c in distribution.items() if v >= FAVOURABLE_FROM), n


def scaled_answers(
    definition: SurveyDefinition, distributions: QuestionDistributions
) -> dict[str, dict[int, int]]:
    """`numeric_answers` of every scaled question (empty for one without answers): what
    `question_scores`, `extremes` and `headline_distribution` score, worked out once."""
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
    (`current` and `previous` as `scaled_answers` gives them)."""
    scores: list[Score] = []
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
            change = scoring.proportion_change(
                *_favourable_successes(before), *_favourable_successes(now)
            )
        else:
            estimate = scoring.mean(now, value_range=scale)
            if estimate is None:
                continue
            change = scoring.mean_change(before, now)
            if question.type is QuestionType.RATING:
                favourable = scoring.favourable(now, threshold=FAVOURABLE_FROM)
                favourable_change = scoring.proportion_change(
                    *_favourable_successes(before), *_favourable_successes(now)
                )
        scores.append(
            Score(
                question_id=question.id,
                metric=metric_of(question),
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


def extremes(
    definition: SurveyDefinition,
    current: Mapping[str, Mapping[int, int]],
    headline: Question | None,
    scores: Sequence[Score] = (),
) -> tuple[RankedQuestion | None, RankedQuestion | None]:
    """The strongest and weakest rating/effort question by mean, as a share of its scale
    (`current` as `scaled_answers` gives it; the means of `scores`, the `question_scores`
    of the same answers, are reused).

    The headline is left out (it leads the digest anyway); none when fewer than two
    questions have answers or they all sit at the same point."""
    means = {s.question_id: s.estimate for s in scores if s.kind is ScoreKind.MEAN}
    ranked: list[RankedQuestion] = []
    empty: dict[int, int] = {}
    for question in definition.questions:
        scale = question.scale
        if scale is None or question.type is QuestionType.NPS:
            continue
        if headline is not None and question.id == headline.id:
            continue
        estimate = means.get(question.id)
        if estimate is None:
            estimate = scoring.mean(current.get(question.id, empty), value_range=scale)
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
