"""Exact tests for small weekly samples and the multiplicity correction of a digest's tests.

Written out rather than called through scipy.stats (whose wrappers cost about 100 µs a call,
see surveys.scoring); each is checked against scipy by property tests
(tests/test_scoring_exact.py, and Fisher's test in tests/test_scoring.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

# Two outcomes whose probabilities differ by less than this relative amount are ties
# (the tolerance scipy.stats.fisher_exact uses; floating-point sums are never exact).
_RELATIVE_TIE = 1e-7


@lru_cache(maxsize=4096)
def nps_permutation_p(before: tuple[int, int, int], after: tuple[int, int, int]) -> float:
    """Two-sided p-value of an exact permutation test of an NPS change.

    `before` and `after` are (promoters, passives, detractors). Every answer is scored
    +1, 0 or -1 and the statistic is the difference of the two periods' means (the NPS
    change / 100). Under the null hypothesis every split of the pooled answers into
    groups of the observed sizes is equally likely; the p-value is the share of splits
    whose |difference| is at least the observed one.

    The splits are not listed one by one: a split is determined, up to equally
    likely relabellings, by how many promoters and detractors the smaller group gets,
    which follows a multivariate hypergeometric law. Summing over those compositions
    gives exactly what enumerating every permutation would (what
    scipy.stats.permutation_test(..., n_resamples=inf) does), in O(m^2) steps for a
    smaller group of m answers, so the test stays cheap where it is needed: a week with
    a handful of answers. Cached: a fan-out scores many subjects with the same counts.
    """
    promoters = before[0] + after[0]
    passives = before[1] + after[1]
    detractors = before[2] + after[2]
    n_before, n_after = sum(before), sum(after)
    if n_before == 0 or n_after == 0:
        raise ValueError("both periods need answers")
    # Work with the smaller group: the statistic's magnitude does not depend on which
    # group is called "first".
    small, m, k = (before, n_before, n_after) if n_before <= n_after else (after, n_after, n_before)
    total = m + k

    def scaled(x: int, y: int) -> int:
        # (difference of means) * m * k with x promoters and y detractors in the small
        # group: an integer, so ties with the observed split are compared exactly.
        return k * (x - y) - m * ((promoters - x) - (detractors - y))

    observed = abs(scaled(small[0], small[2]))
    log_splits = _log_comb(total, m)
    p_value = 0.0
    for x in range(max(0, m - passives - detractors), min(promoters, m) + 1):
        log_x = _log_comb(promoters, x)
        for y in range(max(0, m - x - passives), min(detractors, m - x) + 1):
            if abs(scaled(x, y)) >= observed:
                log_p = log_x + _log_comb(detractors, y) + _log_comb(passives, m - x - y)
                p_value += math.exp(log_p - log_splits)
    return min(p_value, 1.0)


def fisher_p_values(a_successes: int, a_n: int, b_successes: int, b_n: int) -> tuple[float, float]:
    """(Fisher's exact two-sided p-value, its mid-p), for a 2x2 table given by rows.

    Given the margins, the first row's successes follow a hypergeometric law. Fisher's
    p sums the probabilities of every table no more likely than the one observed (ties
    within scipy's relative tolerance of 1e-7), as scipy.stats.fisher_exact does. The
    mid-p counts the tables exactly as likely as the observed one at half weight
    (Lancaster 1961). Fisher's test conditions on both margins, so with the coarse
    null distribution of a weekly sample its real size is well under alpha and it
    misses real changes; the mid-p's size is close to alpha on average (at times a
    little above it). Boschloo's unconditional test (scipy.stats.boschloo_exact) keeps
    the size at most alpha, but maximises over a nuisance parameter for milliseconds a
    call, too slow for a fan-out of thousands of tests; the digest's Holm correction
    absorbs the mid-p's small excess (see the simulation in tests/digest). Written out
    here to avoid scipy.stats' per-call overhead; tests check it against scipy.
    """
    successes = a_successes + b_successes
    total = a_n + b_n
    low, high = max(0, successes - b_n), min(successes, a_n)
    log_denominator = _log_comb(total, successes)

    def log_probability(x: int) -> float:
        return _log_comb(a_n, x) + _log_comb(b_n, successes - x) - log_denominator

    observed = log_probability(a_successes)
    upper = observed + math.log1p(_RELATIVE_TIE)
    lower = observed - math.log1p(_RELATIVE_TIE)
    less: list[float] = []
    tied: list[float] = []
    for x in range(low, high + 1):
        lp = log_probability(x)
        if lp < lower:
            less.append(math.exp(lp))
        elif lp <= upper:
            tied.append(math.exp(lp))
    p_less, p_tied = math.fsum(less), math.fsum(tied)
    return min(p_less + p_tied, 1.0), min(p_less + 0.5 * p_tied, 1.0)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given: reject hypothesis i at level alpha
    exactly when its adjusted p-value is below alpha.

    Holm's step-down method keeps the chance of any false "significant" among the
    family at alpha under any dependence between the tests, which a digest's tests have
    (the mean and the favourable share of one question move together, and so do
    questions answered by the same people).
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# log(i!) for i = 0, 1, ...: grown on demand, so a binomial coefficient is two
# subtractions (the exact tests take thousands of them per digest).
_LOG_FACTORIAL: list[float] = [0.0]


def _log_comb(n: int, k: int) -> float:
    table = _LOG_FACTORIAL
    if n >= len(table):
        table.extend(math.lgamma(i + 1) for i in range(len(table), n + 1))
    return table[n] - table[k] - table[n - k]
