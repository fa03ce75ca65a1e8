"""Survey statistics from summary counts: NPS, CSAT, means, shares, period changes, text bars.

The intervals and tests are written out (Wilson, Welch, the adjusted-Wald NPS, the exact
tests of surveys.significance) rather than called through scipy.stats, whose wrappers
cost about 100 µs a call: a Monday fan-out scores thousands of distributions. Each one
is checked against scipy by property tests (tests/test_scoring*.py); scipy.special
supplies the distribution functions.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, NamedTuple, TypeVar

from scipy import special

from surveys import significance

CONFIDENCE = 0.95
ALPHA = 0.05

# Smallest sample on either side of a comparison before we run a test at all.
MIN_N_FOR_CHANGE = 2

# Below this many answers in either period an NPS change is tested exactly (a permutation
# test): the normal approximation calls changes significant that are not.
EXACT_NPS_BELOW = 15

# Adjusted-Wald pseudo-observations for NPS (Rocks 2016, see `nps`).
_NPS_PSEUDO_PROMOTERS = 0.75
_NPS_PSEUDO_PASSIVES = 1.5
_NPS_PSEUDO_DETRACTORS = 0.75
_NPS_PSEUDO_N = _NPS_PSEUDO_PROMOTERS + _NPS_PSEUDO_PASSIVES + _NPS_PSEUDO_DETRACTORS  # 3

# Below this expected cell count the two-proportion z-test is not trusted (Cochran's rule).
_MIN_EXPECTED_FOR_Z = 5.0

_FULL_BLOCK = "█"
_EMPTY_BLOCK = "░"
# Index i holds the block that is i/8 of a cell wide.
_EIGHTHS = ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")

Score = TypeVar("Score", bound=float)
Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its confidence interval, in display units.

    `low <= value <= high` always holds. `margin` is the half-width of a
    symmetric interval before clipping; it is None where the interval is not
    symmetric (Wilson) or cannot be estimated (a mean of one answer).
    """

    value: float
    low: float
    high: float
    n: int
    margin: float | None = None

    @property
    def has_interval(self) -> bool:
        """Whether the interval says anything: at least two answers and some width (one
        answer, or answers all alike for a mean, give no spread to estimate)."""
        return self.n >= 2 and self.high > self.low


@dataclass(frozen=True, slots=True)
class Change:
    """Change from the previous period to the current one (current minus previous).

    `p_value` is None when no test was run (too little data, or a degenerate
    case where the test is undefined); `significant` is then False. `p_adjusted` is the
    p-value after correcting for the other tests of the same digest (`holm_adjusted`);
    once set, `significant` follows it.
    """

    delta: float
    significant: bool
    p_value: float | None
    p_adjusted: float | None = None


class NpsCounts(NamedTuple):
    """Respondents split into NPS groups."""

    promoters: int
    passives: int
    detractors: int

    @property
    def n(self) -> int:
        return self.promoters + self.passives + self.detractors


class Bar(NamedTuple, Generic[Key]):
    """One row of a text histogram: a scale value, how many chose it, their whole percent
    (0..100; the rows of one histogram add up to 100, see `whole_percents`)."""

    value: Key
    answers: int
    percent: int
    bar: str


def nps(
    promoters: int, passives: int, detractors: int, confidence: float = CONFIDENCE
) -> Estimate | None:
    """Net Promoter Score in points (-100..100) with an adjusted-Wald interval.

    `value` is the plain score; the interval is centred on the adjusted score,
    which leans towards 0, so render `low`..`high` rather than `value ± margin`.
    """
    counts = NpsCounts(promoters, passives, detractors)
    _check_counts(counts)
    if counts.n == 0:
        return None
    value = 100.0 * (promoters - detractors) / counts.n
    centre, variance, n_adjusted = _nps_adjusted(counts)
    margin = _z(confidence) * math.sqrt(variance / n_adjusted)
    low = max(-1.0, centre - margin) * 100.0
    high = min(1.0, centre + margin) * 100.0
    # The pseudo-observations pull the centre towards 0 so hard at n == 1 that a
    # lone promoter's 100 (or a lone detractor's -100) falls outside the interval;
    # widen to keep `low <= value <= high`. Brute force shows n == 1 is the only case.
    return Estimate(
        value=value,
        low=min(low, value),
        high=max(high, value),
        n=counts.n,
        margin=margin * 100.0,
    )


def nps_buckets(distribution: Mapping[int, int]) -> NpsCounts:
    """Split a 0-10 value->count distribution into (promoters, passives, detractors)."""
    _check_counts(distribution.values())
    promoters = passives = detractors = 0
    for value, count in distribution.items():
        if value not in range(11):
            raise ValueError(f"NPS answer {value!r} is outside 0-10")
        if value >= 9:
            promoters += count
        elif value >= 7:
            passives += count
        else:
            detractors += count
    return NpsCounts(promoters, passives, detractors)


def csat(distribution: Mapping[int, int], confidence: float = CONFIDENCE) -> Estimate | None:
    """CSAT: percent of 4-5 answers on a 1-5 scale (top-two-box) with a Wilson interval."""
    for value in distribution:
        if value not in range(1, 6):
            raise ValueError(f"CSAT answer {value!r} is outside 1-5")
    return favourable(distribution, threshold=4, confidence=confidence)


def favourable(
    distribution: Mapping[Score, int], threshold: float = 4, confidence: float = CONFIDENCE
) -> Estimate | None:
    """Percent of answers at or above `threshold`, with a Wilson interval."""
    _check_counts(distribution.values())
    n = sum(distribution.values())
    successes = sum(count for value, count in distribution.items() if value >= threshold)
    return _percent_estimate(successes, n, confidence)


def mean(
    distribution: Mapping[Score, int],
    confidence: float = CONFIDENCE,
    value_range: tuple[float, float] | None = None,
) -> Estimate | None:
    """Mean answer with a Student-t interval, optionally clipped to the scale's `value_range`.

    One answer gives no spread to estimate: the interval collapses to the value
    and `margin` is None, which tells the renderer to show no "±".
    """
    n, average, variance = _moments(distribution)
    if n == 0:
        return None
    if n == 1:
        return Estimate(value=average, low=average, high=average, n=1, margin=None)
    _check_confidence(confidence)
    t = _t_quantile(confidence, n - 1)
    margin = t * math.sqrt(variance / n)
    low, high = average - margin, average + margin
    if value_range is not None:
        low, high = max(low, float(value_range[0])), min(high, float(value_range[1]))
    return Estimate(value=average, low=low, high=high, n=n, margin=margin)


def nps_change(
    prev: tuple[int, int, int], cur: tuple[int, int, int], alpha: float = ALPHA
) -> Change | None:
    """NPS change in points, tested on the -1/0/+1 scores of the answers.

    `prev` and `cur` are (promoters, passives, detractors), e.g. `NpsCounts`. When
    either period has fewer than EXACT_NPS_BELOW answers, an exact permutation test
    (`significance.nps_permutation_p`); otherwise a z-test on two independent
    adjusted-Wald NPS estimates. None when either period has no answers.
    """
    before, after = NpsCounts(*prev), NpsCounts(*cur)
    _check_counts(before)
    _check_counts(after)
    if before.n == 0 or after.n == 0:
        return None
    delta = 100.0 * (
        (after.promoters - after.detractors) / after.n
        - (before.promoters - before.detractors) / before.n
    )
    if min(before.n, after.n) < MIN_N_FOR_CHANGE:
        return Change(delta=delta, significant=False, p_value=None)
    if min(before.n, after.n) < EXACT_NPS_BELOW:
        p_value = significance.nps_permutation_p(tuple(before), tuple(after))
        return _change(delta, p_value, alpha)
    # Rocks (2016) two-sample adjusted-Wald: the same pseudo-observations on each
    # side, var(NPS) = (p + d - (p - d)^2) / n on the adjusted proportions. They
    # also keep the variance above 0 when a side is all one group.
    centre_before, var_before, n_before = _nps_adjusted(before)
    centre_after, var_after, n_after = _nps_adjusted(after)
    se = math.sqrt(var_before / n_before + var_after / n_after)
    p_value = _two_sided_normal(abs(centre_after - centre_before) / se)
    return _change(delta, p_value, alpha)


def proportion_change(
    prev_successes: int, prev_n: int, cur_successes: int, cur_n: int, alpha: float = ALPHA
) -> Change | None:
    """Change in a share, in percentage points.

    Pooled two-proportion z-test when every expected cell of the 2x2 table is
    at least 5, otherwise Fisher's exact test with the mid-p (two-sided; see
    `significance.fisher_p_values`): weekly samples are often small, where the
    z-test's p-values are too optimistic and plain Fisher's too conservative.
    None when either period has no answers.
    """
    for successes, n in ((prev_successes, prev_n), (cur_successes, cur_n)):
        if not 0 <= successes <= n:
            raise ValueError(f"successes {successes} must be within 0..{n}")
    if prev_n == 0 or cur_n == 0:
        return None
    delta = 100.0 * (cur_successes / cur_n - prev_successes / prev_n)
    if min(prev_n, cur_n) < MIN_N_FOR_CHANGE:
        return Change(delta=delta, significant=False, p_value=None)
    pooled = (prev_successes + cur_successes) / (prev_n + cur_n)
    smallest_expected = min(prev_n, cur_n) * min(pooled, 1.0 - pooled)
    if smallest_expected >= _MIN_EXPECTED_FOR_Z:
        se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / prev_n + 1.0 / cur_n))
        z = (cur_successes / cur_n - prev_successes / prev_n) / se
        p_value = _two_sided_normal(abs(z))
    else:
        p_value = significance.fisher_p_values(prev_successes, prev_n, cur_successes, cur_n)[1]
    return _change(delta, p_value, alpha)


def mean_change(
    prev_distribution: Mapping[Score, int],
    cur_distribution: Mapping[Score, int],
    alpha: float = ALPHA,
) -> Change | None:
    """Change of the mean answer; Welch's t-test from summary statistics.

    None when either period has no answers. When both periods have zero spread
    (everyone gave the same answer) the t statistic is undefined and no test is
    claimed.
    """
    n_before, mean_before, var_before = _moments(prev_distribution)
    n_after, mean_after, var_after = _moments(cur_distribution)
    if n_before == 0 or n_after == 0:
        return None
    delta = mean_after - mean_before
    if min(n_before, n_after) < MIN_N_FOR_CHANGE or var_before == var_after == 0.0:
        return Change(delta=delta, significant=False, p_value=None)
    # Welch's t-test (what scipy.stats.ttest_ind_from_stats(equal_var=False) computes),
    # written out with scipy.special's ufuncs: the stats wrappers cost ~100 µs a call,
    # which a digest of 100 subjects pays thousands of times.
    se_before, se_after = var_before / n_before, var_after / n_after
    t = delta / math.sqrt(se_before + se_after)
    df = (se_before + se_after) ** 2 / (se_before**2 / (n_before - 1) + se_after**2 / (n_after - 1))
    p_value = float(2.0 * special.stdtr(df, -abs(t)))
    return _change(delta, p_value, alpha)


def holm_adjusted(changes: Sequence[Change | None], alpha: float = ALPHA) -> list[Change | None]:
    """The changes with `p_adjusted` and `significant` corrected for one another (Holm):
    the tests of one digest are a family, and without a correction eleven tests at 5%
    each give an unchanged subject a "significant" line in a good share of its digests.
    Changes without a test (and None) are returned as they are."""
    tested = [
        (i, change.p_value)
        for i, change in enumerate(changes)
        if change is not None and change.p_value is not None
    ]
    adjusted = significance.holm([p_value for _, p_value in tested])
    result = list(changes)
    for (i, p_value), p_adjusted in zip(tested, adjusted, strict=True):
        delta = result[i].delta  # type: ignore[union-attr]  # tested: not None
        result[i] = Change(delta, p_adjusted < alpha, p_value, p_adjusted)
    return result


def whole_percents(counts: Sequence[int]) -> list[int]:
    """Whole percents of the counts that add up to exactly 100 (all zeros when there are
    no counts): each share rounded down, then the points still missing go to the largest
    remainders (Hamilton's largest-remainder method), ties to the larger count, then to
    the earlier one. Rounding each share on its own can add up to 99 or 101."""
    _check_counts(counts)
    total = sum(counts)
    if total == 0:
        return [0] * len(counts)
    floors = [100 * count // total for count in counts]
    missing = 100 - sum(floors)
    # Remainders compared as integers (100 * count mod total), so exactly, with no float ties.
    order = sorted(range(len(counts)), key=lambda i: (-(100 * counts[i] % total), -counts[i], i))
    for i in order[:missing]:
        floors[i] += 1
    return floors


def distribution_bars(
    distribution: Mapping[Key, int], scale_values: Sequence[Key], width: int = 10
) -> list[Bar[Key]]:
    """One bar per scale value, in scale order, each `width` cells long.

    Bars are proportional to the share of all answers (a full bar means
    everyone), drawn in eighths of a cell and padded with a light shade so the
    rows line up in a monospace block. A value that got any answer shows at
    least a sliver and only a unanimous one fills the bar, so rounding never
    turns "few" into "none" or "most" into "all".
    """
    if width < 1:
        raise ValueError("width must be at least 1")
    _check_counts(distribution.values())
    total = sum(distribution.values())
    counts = [distribution.get(value, 0) for value in scale_values]
    # Answers off the listed values (if any) take their share too, so none is inflated.
    percents = whole_percents([*counts, total - sum(counts)])[: len(counts)]
    bars = []
    for value, count, percent in zip(scale_values, counts, percents, strict=True):
        share = count / total if total else 0.0
        eighths = round(share * width * 8)
        if count and eighths == 0:
            eighths = 1
        if count < total and eighths == width * 8:
            eighths -= 1
        full, rest = divmod(eighths, 8)
        drawn = _FULL_BLOCK * full + _EIGHTHS[rest]
        bars.append(Bar(value, count, percent, drawn + _EMPTY_BLOCK * (width - len(drawn))))
    return bars


def _nps_adjusted(counts: NpsCounts) -> tuple[float, float, float]:
    """Adjusted-Wald NPS on the -1..1 scale: (centre, unit variance, adjusted n).

    Source: Rocks, B. (2016) "Interval Estimation for the 'Net Promoter Score'",
    The American Statistician 70(4); as summarised by MeasuringU
    (https://measuringu.com/nps-confidence-intervals/ and
    https://measuringu.com/nps-three-confidence-intervals/): add 3 to n, 3/4 to
    the promoters and 3/4 to the detractors (so 1.5 to the passives), then use
    var = p + d - (p - d)^2 on the adjusted proportions, se = sqrt(var / n_adj),
    interval = NPS_adj ± z·se. Rocks' R package NPS (nps_test, test =
    "adjusted.wald") uses the same pseudo-observations c(0.75, 1.5, 0.75).
    """
    n_adjusted = counts.n + _NPS_PSEUDO_N
    p = (counts.promoters + _NPS_PSEUDO_PROMOTERS) / n_adjusted
    d = (counts.detractors + _NPS_PSEUDO_DETRACTORS) / n_adjusted
    centre = p - d
    return centre, p + d - centre**2, n_adjusted


def _percent_estimate(successes: int, n: int, confidence: float) -> Estimate | None:
    if n == 0:
        return None
    _check_confidence(confidence)
    # The Wilson score interval in closed form (the same numbers as
    # scipy.stats.binomtest(k, n).proportion_ci(method="wilson"), without its overhead).
    z = _z(confidence)
    share = successes / n
    denominator = 1.0 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z * math.sqrt(share * (1.0 - share) / n + z * z / (4 * n * n)) / denominator
    value = 100.0 * share
    # min/max only absorb floating-point noise: the Wilson interval contains p̂.
    return Estimate(
        value=value,
        low=min(100.0 * max(centre - half, 0.0), value),
        high=max(100.0 * min(centre + half, 1.0), value),
        n=n,
    )


def _moments(distribution: Mapping[Score, int]) -> tuple[int, float, float]:
    """(n, mean, sample variance with n - 1) of a value->count distribution."""
    _check_counts(distribution.values())
    n = sum(distribution.values())
    if n == 0:
        return 0, 0.0, 0.0
    average = math.fsum(value * count for value, count in distribution.items()) / n
    if n == 1:
        return 1, average, 0.0
    squares = math.fsum(count * (value - average) ** 2 for value, count in distribution.items())
    return n, average, squares / (n - 1)


def _change(delta: float, p_value: float, alpha: float) -> Change:
    return Change(delta=delta, significant=p_value < alpha, p_value=p_value)


@lru_cache(maxsize=64)
def _z(confidence: float) -> float:
    _check_confidence(confidence)
    return float(special.ndtri(0.5 + confidence / 2))


@lru_cache(maxsize=1024)
def _t_quantile(confidence: float, df: int) -> float:
    _check_confidence(confidence)
    return float(special.stdtrit(df, 0.5 + confidence / 2))


def _two_sided_normal(z: float) -> float:
    """P(|Z| >= z) for a standard normal Z."""
    return float(2.0 * special.ndtr(-z))


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def _check_counts(counts: Iterable[int]) -> None:
    if any(count < 0 for count in counts):
        raise ValueError("counts must not be negative")
