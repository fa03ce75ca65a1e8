"""What a digest is built from: windows of weeks and the aggregates the queries return."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from storage.models import Comment, PeriodCounts

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
