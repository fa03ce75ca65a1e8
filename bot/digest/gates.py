"""The anonymity rules of a digest: which weeks may be shown, compared or split by role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from bot.digest.data import DigestData, Window
from bot.digest.model import BLOCK_PERIODS, Basis, Block, Comparison, Gate, week_index
from bot.digest.scores import headline_question
from surveys import periods
from surveys.schema import Audience, SurveyDefinition


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
    headline = headline_question(definition, audience)
    if headline is None or not headline.required or headline.show_if is not None:
        return None
    return {week: sum(answers.values()) for week, answers in trend.items()}


def week_counts(window: Window | None, by_week: Mapping[str, int] | None) -> tuple[int, ...] | None:
    """The completed responses of each week of a pooled window (None when unknown)."""
    if window is None or by_week is None:
        return None
    return tuple(by_week.get(week, 0) for week in window.weeks)


def decide_gates(
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


@lru_cache(maxsize=64)
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


def decide_comparison(
    audience: Audience,
    previous: Window | None,
    anonymity_min: int,
    gate: Gate,
    by_week: Mapping[str, int] | None,
) -> Comparison:
    """Whether the change against `previous` may be shown (not when it reveals a small sample)."""
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


def roles_allowed(
    gate: Gate, block: Window | None, by_week: Mapping[str, int] | None, anonymity_min: int
) -> bool:
    """A block's groups are shown only when none of its weeks was shown on its own: that
    week's groups could be subtracted from the block's, and `pools_safely` bounds only the
    total of the other weeks, not each group of them."""
    if not gate.block:
        return gate.shown
    counts = week_counts(block, by_week)
    return counts is not None and all(n < anonymity_min for n in counts)
