"""What a digest is built from: windows of weeks and the aggregates the queries return."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from storage.models import Comment, PeriodCounts
from surveys.anonymity import Disclosure

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

    Internal subjects: `disclosure` (surveys.anonymity) says which disclosure units
    may be shown; `block` is then the pooled unit the scores use (its weeks, not
    always the whole block) and `block_previous` the unit it is compared with, and
    `trend` holds the headline answers of every week of the trend's units, which
    are plotted one point per unit. `comments` and the role data come from the unit
    of the scores, when it lets them through. External subjects: the period, the one
    before and `trend` per week of the last TREND_PERIODS."""

    period: Window
    previous: Window
    block: Window | None = None
    block_previous: Window | None = None
    comments: Sequence[Comment] = ()
    role_counts: Mapping[str, int] = field(default_factory=dict)
    role_distributions: Mapping[str, QuestionDistributions] = field(default_factory=dict)
    trend: Mapping[str, Mapping[float, int]] = field(default_factory=dict)
    evaluators: int | None = None  # internal: see `aggregates.Reads.evaluators`
    open_invites: int = 0
    disclosure: Disclosure | None = None
