"""Frozen dataclasses of a computed digest: what to tell an owner, before any wording."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from storage.models import PeriodCounts
from surveys import periods
from surveys.anonymity import BLOCK_EPOCH, BLOCK_PERIODS
from surveys.anonymity import week_index as _week_index
from surveys.periods import PeriodSpan, week_key
from surveys.schema import Audience, Texts, localize
from surveys.scoring import Bar, Change, Estimate, NpsCounts

TREND_PERIODS = 12
"""How many periods the trend chart covers."""

_WEEK_KEY = re.compile(r"^\d{4}-W\d{2}$")


class Basis(StrEnum):
    """Which responses a part of the digest is computed from."""

    PERIOD = "period"  # the digest's own period
    BLOCK = "block"  # the last closed 4-week Block, pooled (anonymity fallback)
    HIDDEN = "hidden"  # too few responses in the period and in the block: withheld


class ScoreKind(StrEnum):
    """How a score is measured and shown."""

    NPS = "nps"  # points, -100..100
    PERCENT = "percent"  # share of favourable answers, 0..100 (CSAT)
    MEAN = "mean"  # mean on the question's scale (CES, internal ratings)


class Comparison(StrEnum):
    """Whether scores are compared with the previous period."""

    SHOWN = "shown"
    NO_DATA = "no_data"  # the previous period had no responses
    WITHHELD = "withheld"  # the previous period had too few responses to reveal a change


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """The subject a digest is about."""

    id: int
    slug: str
    names: Mapping[str, str]
    audience: Audience

    def name(self, lang: str) -> str:
        """The name in `lang`, falling back to another language, then to the slug."""
        return localize(dict(self.names), lang) or self.slug


@dataclass(frozen=True, slots=True)
class Block:
    """An aligned, non-overlapping run of BLOCK_PERIODS ISO weeks: block `index` starts
    BLOCK_PERIODS * index weeks after BLOCK_EPOCH.

    Pooling over blocks, never over a sliding window, is what keeps the anonymity fallback
    from leaking: two digests show either the same block or disjoint ones, so neither
    can be subtracted from the other to isolate the responses of a single week."""

    index: int
    weeks: tuple[str, ...]  # oldest first
    start: date
    end: date

    @classmethod
    def at(cls, index: int) -> Block:
        """The block with this index."""
        block = _block_at(index)
        return block if cls is Block else cls(block.index, block.weeks, block.start, block.end)

    @classmethod
    def containing(cls, period_key: str) -> Block:
        """The block a week belongs to (ValueError for a key that is not a week)."""
        return cls.at(week_index(period_key) // BLOCK_PERIODS)

    def previous(self) -> Block:
        """The block before this one."""
        return Block.at(self.index - 1)

    @property
    def first_week(self) -> int:
        """The ISO week number of the first week."""
        return self.start.isocalendar()[1]

    @property
    def last_week(self) -> int:
        """The ISO week number of the last week."""
        return self.end.isocalendar()[1]


@lru_cache(maxsize=256)
def _block_at(index: int) -> Block:
    """Block `index` (immutable, so made once: every digest asks for the same few)."""
    start = BLOCK_EPOCH + timedelta(weeks=BLOCK_PERIODS * index)
    weeks = tuple(week_key(start + timedelta(weeks=i)) for i in range(BLOCK_PERIODS))
    return Block(index, weeks, start, start + timedelta(weeks=BLOCK_PERIODS, days=-1))


def week_index(period_key: str) -> int:
    """Weeks from BLOCK_EPOCH to the start of a weekly period (ValueError otherwise)."""
    if not _WEEK_KEY.match(period_key):
        raise ValueError(f"not a week key: {period_key!r} (expected e.g. 2026-W48)")
    return _week_index(period_key)


@lru_cache(maxsize=64)
def closed_block(period_key: str, *, in_progress: bool = False) -> Block:
    """The block a digest of `period_key` falls back on: the latest one whose weeks have
    all ended by the end of the period (by now, when it is `in_progress`). So the
    digests of the four weeks after a block's last week (that week's own digest
    included) all fall back on the same block."""
    last_closed = periods.previous(period_key) if in_progress else period_key
    return Block.at((week_index(last_closed) + 1) // BLOCK_PERIODS - 1)


def trend_weeks(period_key: str) -> list[str]:
    """The weeks of a digest's trend: TREND_PERIODS ending with the period."""
    return periods.last_n(period_key, TREND_PERIODS)


@dataclass(frozen=True, slots=True)
class Gate:
    """The anonymity decision for one part of the digest (scores, or comments).

    The basis is a disclosure unit (surveys.anonymity): PERIOD the period's own week,
    BLOCK the pooled quiet weeks of a closed 4-week block. `responses` counts the
    completed responses of the unit used (of the period when hidden); `needed` is how
    many more the period would have needed to be shown on its own (0 when shown or
    when nothing can change it any more). `block_withheld` is set when the pool the
    digest would fall back on totals fewer than `threshold` and is withheld for good;
    `pooled_after` is the day the period's quiet week joins its block's pool, when it
    is still waiting for it. External subjects have `threshold` 0 and always the PERIOD
    basis."""

    basis: Basis
    threshold: int
    responses: int
    needed: int = 0
    block_withheld: bool = False
    pooled_after: date | None = None

    @property
    def shown(self) -> bool:
        return self.basis is not Basis.HIDDEN

    @property
    def block(self) -> bool:
        return self.basis is Basis.BLOCK


@dataclass(frozen=True, slots=True)
class Score:
    """One scored question: its estimate (with interval) and change against the previous basis.

    For MEAN scores, `favourable` is the share of answers from `favourable_from` up to the
    top of the scale (above its midpoint: 4-5 of a 1-5 rating, 5-7 of a 1-7 scale)."""

    question_id: str
    metric: str
    kind: ScoreKind
    texts: Texts
    estimate: Estimate
    change: Change | None
    scale: tuple[int, int] | None
    favourable: Estimate | None = None
    favourable_change: Change | None = None
    buckets: NpsCounts | None = None
    favourable_from: int | None = None

    @property
    def changes(self) -> tuple[Change | None, Change | None]:
        """The score's change and its favourable share's change (either may be None)."""
        return self.change, self.favourable_change


class Level(StrEnum):
    """How a share of favourable answers reads on its own, whatever it is compared with."""

    LOW = "low"  # fewer than half of the answers favourable
    MIDDLING = "middling"
    HIGH = "high"  # at least three in four favourable


@dataclass(frozen=True, slots=True)
class RankedQuestion:
    """The strongest or weakest question, ranked on one scale for every question type: the
    share of favourable answers (`favourable`, a percent with its interval), counted from
    `favourable_from` to the top of `scale`. `level` says how good that share is on its
    own: a strongest question can still be rated low."""

    question_id: str
    metric: str | None
    texts: Texts
    favourable: Estimate
    favourable_from: int
    scale: tuple[int, int]
    level: Level


@dataclass(frozen=True, slots=True)
class NpsAlarm:
    """The NPS when it is the alarming number of a digest: at or below zero (no more
    promoters than detractors), or significantly down since the previous period."""

    score: Score
    negative: bool
    drop: bool


@dataclass(frozen=True, slots=True)
class Distribution:
    """The headline question's answers as text bars, highest value first."""

    question_id: str
    metric: str
    texts: Texts
    bars: tuple[Bar[int], ...]
    n: int


@dataclass(frozen=True, slots=True)
class ChoiceCount:
    """How often one choice of a multi-choice question (e.g. "what to improve") was picked."""

    question_id: str
    metric: str
    question_texts: Texts
    choice_id: str
    texts: Texts
    count: int


@dataclass(frozen=True, slots=True)
class DigestComment:
    """A free-text answer, whitespace collapsed and clipped; `clipped` when shortened."""

    question_id: str
    metric: str | None
    text: str
    submitted_at: datetime
    clipped: bool
    question_texts: Texts | None = None  # the question, to head its group of comments


@dataclass(frozen=True, slots=True)
class RoleScore:
    """One respondent group of an internal subject and its headline score."""

    role: str
    responses: int
    headline: Estimate | None
    favourable: Estimate | None


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """The headline score of one period; None when the period has no (showable) data."""

    period: PeriodSpan
    estimate: Estimate | None
    weeks: tuple[str, ...] = ()  # the weeks the point pools (internal: its unit's)


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything an owner's digest for one subject and period says."""

    subject: SubjectRef
    survey_id: str
    survey_version: int
    period: PeriodSpan
    block: Block  # the block whose pool the scores use, else the last closed one
    previous_block: Block  # the block before it, for the comparison
    period_block: Block  # the block the period belongs to
    basis_weeks: tuple[str, ...]  # the weeks the scores come from (empty when hidden)
    previous_weeks: tuple[str, ...]  # the weeks they are compared with (empty: none)
    in_progress: bool  # the period had not ended at `now` (a digest "so far")
    counts: PeriodCounts
    previous_counts: PeriodCounts
    # Internal: the members who could evaluate the subject in the period (registered by
    # its end, not employees of the department); None for a product.
    evaluators: int | None
    response_rate: float | None  # 0..1, internal only: counts.completed / evaluators
    completion_rate: float | None  # 0..1: counts.started_completed / counts.started
    scores_gate: Gate
    comparison: Comparison
    headline_metric: str | None
    headline_kind: ScoreKind | None
    headline_scale: tuple[int, int] | None
    scores: tuple[Score, ...]
    strongest: RankedQuestion | None
    weakest: RankedQuestion | None
    distribution: Distribution | None
    choices: tuple[ChoiceCount, ...]
    comments_gate: Gate
    comments: tuple[DigestComment, ...]
    roles: tuple[RoleScore, ...]  # empty unless every group shown meets the threshold
    trend: tuple[TrendPoint, ...]
    open_invites: int
    nothing_to_report: bool
    nps_alarm: NpsAlarm | None = None

    @property
    def tested_changes(self) -> int:
        """How many changes this digest tested (the family its significance is corrected for)."""
        return sum(
            1
            for score in self.scores
            for change in score.changes
            if change is not None and change.p_value is not None
        )

    @property
    def audience(self) -> Audience:
        return self.subject.audience

    @property
    def internal(self) -> bool:
        return self.subject.audience is Audience.INTERNAL

    @property
    def headline(self) -> Score | None:
        """The headline score (external: NPS; internal: the overall rating)."""
        return next((s for s in self.scores if s.metric == self.headline_metric), None)

    @property
    def nps_counts(self) -> NpsCounts | None:
        """Promoters, passives and detractors of the (first) NPS question shown."""
        return next((s.buckets for s in self.scores if s.buckets is not None), None)

    @property
    def completed_change(self) -> int:
        """Completed responses this period minus the previous period."""
        return self.counts.completed - self.previous_counts.completed

    @property
    def has_chart(self) -> bool:
        """Whether the trend has at least one point worth drawing."""
        return any(point.estimate is not None for point in self.trend)
