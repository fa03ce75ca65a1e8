"""Small-sample statistics checked against independent computations: the exact NPS test
against scipy's permutation test, the mid-p against scipy's hypergeometric law, Holm
against its step-down definition, whole percents, and intervals that say nothing."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from surveys.scoring import (
    EXACT_NPS_BELOW,
    Change,
    csat,
    distribution_bars,
    holm_adjusted,
    mean,
    nps,
    nps_change,
    proportion_change,
    whole_percents,
)
from surveys.significance import fisher_p_values, holm, nps_permutation_p

# (promoters, passives, detractors) of a small week: 2 to 7 answers, so that scipy's
# exhaustive enumeration stays small (at most C(14, 7) = 3432 splits).
small_weeks = st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 3)).filter(
    lambda c: sum(c) >= 2
)


def scores(counts: tuple[int, int, int]) -> np.ndarray:
    promoters, passives, detractors = counts
    return np.array([1] * promoters + [0] * passives + [-1] * detractors, dtype=float)


def abs_mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.abs(np.mean(x, axis=axis) - np.mean(y, axis=axis))


# --- the exact NPS test ---------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(before=small_weeks, after=small_weeks)
def test_exact_nps_test_matches_scipys_exhaustive_permutation_test(
    before: tuple[int, int, int], after: tuple[int, int, int]
) -> None:
    # scipy enumerates every split of the pooled answers (n_resamples=inf: exact) and
    # counts those whose |difference of means| reaches the observed one.
    reference = stats.permutation_test(
        (scores(before), scores(after)),
        abs_mean_difference,
        permutation_type="independent",
        alternative="greater",
        n_resamples=np.inf,
        vectorized=True,
    )
    assert nps_permutation_p(before, after) == pytest.approx(
        float(reference.pvalue), rel=1e-9, abs=1e-12
    )


def test_exact_nps_test_matches_listing_every_split_by_hand() -> None:
    before, after = (3, 1, 2), (0, 2, 3)
    pooled = list(scores(before)) + list(scores(after))
    n = sum(before)
    observed = abs(scores(before).mean() - scores(after).mean())
    extreme = total = 0
    for chosen in itertools.combinations(range(len(pooled)), n):
        group = [pooled[i] for i in chosen]
        rest = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        total += 1
        extreme += abs(sum(group) / len(group) - sum(rest) / len(rest)) >= observed - 1e-12
    assert nps_permutation_p(before, after) == pytest.approx(extreme / total)


def test_nps_change_is_exact_below_15_answers_and_approximate_from_15() -> None:
    # The same shares, 14 vs 15 answers in the smaller week.
    exact = nps_change((7, 0, 7), (14, 0, 0))
    assert exact is not None and exact.p_value == pytest.approx(
        nps_permutation_p((7, 0, 7), (14, 0, 0))
    )
    approximate = nps_change((15, 0, 15), (30, 0, 0))
    assert EXACT_NPS_BELOW == 15
    assert approximate is not None and approximate.p_value != pytest.approx(
        nps_permutation_p((15, 0, 15), (30, 0, 0))
    )


def test_an_exact_nps_test_of_a_large_week_against_a_small_one_stays_cheap() -> None:
    # The sum runs over the smaller week's compositions only (O(m^2)), whatever the other
    # week's size; a quadratic blow-up in the larger week would take minutes here.
    nps_permutation_p.cache_clear()
    p_value = nps_permutation_p((3, 4, 5), (4000, 3000, 2000))
    assert 0.0 < p_value <= 1.0


# --- mid-p ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    a_n=st.integers(min_value=1, max_value=40),
    b_n=st.integers(min_value=1, max_value=40),
    data=st.data(),
)
def test_mid_p_matches_scipys_hypergeometric_law(a_n: int, b_n: int, data: st.DataObject) -> None:
    a = data.draw(st.integers(min_value=0, max_value=a_n))
    b = data.draw(st.integers(min_value=0, max_value=b_n))
    successes = a + b
    law = stats.hypergeom(a_n + b_n, a_n, successes)
    support = range(max(0, successes - b_n), min(successes, a_n) + 1)
    observed = float(law.pmf(a))
    probabilities = [float(law.pmf(x)) for x in support]
    less = sum(p for p in probabilities if p < observed * (1 - 1e-7))
    tied = sum(p for p in probabilities if abs(p - observed) <= observed * 1e-7)
    fisher, mid_p = fisher_p_values(a, a_n, b, b_n)

    assert mid_p == pytest.approx(less + tied / 2, rel=1e-6, abs=1e-12)
    assert fisher == pytest.approx(
        float(stats.fisher_exact([[a, a_n - a], [b, b_n - b]]).pvalue), rel=1e-6, abs=1e-12
    )
    assert mid_p <= fisher


# --- multiplicity ----------------------------------------------------------------


def holm_rejects(p_values: list[float], alpha: float) -> set[int]:
    """Holm's step-down procedure as stated: test the smallest p at alpha/m, the next at
    alpha/(m-1), ..., stopping at the first that fails."""
    m = len(p_values)
    rejected: set[int] = set()
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        if p_values[i] > alpha / (m - rank):
            break
        rejected.add(i)
    return rejected


@given(
    st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=12),
    st.sampled_from([0.01, 0.05, 0.1]),
)
def test_holm_adjusted_p_values_reject_what_the_step_down_procedure_rejects(
    p_values: list[float], alpha: float
) -> None:
    adjusted = holm(p_values)
    # Rejected at alpha exactly when the adjusted p is at most alpha (ties at the boundary
    # are where floating point may differ, so they are left out).
    clear = [i for i, q in enumerate(adjusted) if not math.isclose(q, alpha, rel_tol=1e-9)]
    expected = holm_rejects(p_values, alpha)
    assert {i for i in clear if adjusted[i] <= alpha} == expected & set(clear)
    assert all(p <= q <= 1.0 for p, q in zip(p_values, adjusted, strict=True))


def approx(change: Change | None, expected: float) -> float:
    """The change's adjusted p-value when it is within pytest's tolerance of `expected`, so
    that comparing whole Changes tolerates rounding in that one field."""
    p_adjusted = change.p_adjusted if change is not None else None
    assert p_adjusted is not None and p_adjusted == pytest.approx(expected)
    return p_adjusted


def test_holm_adjusted_changes_keep_untested_ones_and_follow_the_adjusted_p() -> None:
    changes: list[Change | None] = [
        Change(5.0, True, 0.01),
        None,
        Change(-3.0, True, 0.04),
        Change(1.0, False, None),
        Change(2.0, True, 0.02),
    ]
    adjusted = holm_adjusted(changes)
    # Three tests: 0.01 * 3 = 0.03, 0.02 * 2 = 0.04, 0.04 * 1 = 0.04.
    assert adjusted[0] == Change(5.0, True, 0.01, approx(adjusted[0], 0.03))
    assert adjusted[1] is None and adjusted[3] == Change(1.0, False, None)
    assert adjusted[4] == Change(2.0, True, 0.02, approx(adjusted[4], 0.04))
    assert adjusted[2] == Change(-3.0, True, 0.04, approx(adjusted[2], 0.04))
    assert [c.significant for c in holm_adjusted([Change(1.0, True, 0.03)] * 2) if c] == [
        False,
        False,
    ]


# --- whole percents --------------------------------------------------------------


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=11).filter(lambda c: sum(c) > 0))
def test_whole_percents_add_up_to_100_and_round_each_share_up_or_down(counts: list[int]) -> None:
    percents = whole_percents(counts)
    total = sum(counts)

    assert sum(percents) == 100
    for count, percent in zip(counts, percents, strict=True):
        exact = 100 * count / total
        assert math.floor(exact) <= percent <= math.ceil(exact)
    # The points added go to the largest remainders: no share rounded up has a smaller
    # remainder than one rounded down.
    up = [100 * c % total for c, p in zip(counts, percents, strict=True) if p * total > 100 * c]
    down = [
        100 * c % total
        for c, p in zip(counts, percents, strict=True)
        if p * total < 100 * c and 100 * c % total
    ]
    assert not up or not down or min(up) >= max(down)


def test_whole_percents_fix_what_rounding_each_share_gets_wrong() -> None:
    # Each of three equal thirds rounds to 33 (99 in all); 1, 1, 6 of 8 are 12.5, 12.5
    # and 75, which round half-to-even to 12 + 12 + 75 = 99.
    assert sum(round(100 * c / 3) for c in (1, 1, 1)) == 99
    assert whole_percents([1, 1, 1]) == [34, 33, 33]
    assert whole_percents([1, 1, 6]) == [13, 12, 75]
    assert whole_percents([0, 0]) == [0, 0]
    shown = distribution_bars({5: 1, 4: 1, 3: 1}, [5, 4, 3, 2, 1])
    assert [bar.percent for bar in shown] == [34, 33, 33, 0, 0]


# --- intervals that say nothing ------------------------------------------------------


def test_no_interval_for_one_answer_or_answers_all_alike() -> None:
    one_mean, alike, spread = mean({4: 1}), mean({4: 7}), mean({4: 6, 5: 1})
    assert one_mean is not None and not one_mean.has_interval
    assert alike is not None and not alike.has_interval
    assert spread is not None and spread.has_interval
    one_nps, one_csat = nps(1, 0, 0), csat({5: 1})
    assert one_nps is not None and not one_nps.has_interval
    assert one_csat is not None and not one_csat.has_interval
    # Five of five satisfied is a real interval (57-100%): the answers agree, but the
    # share of a population could still be well below 100%.
    five = csat({5: 5})
    assert five is not None and five.has_interval


def test_proportion_change_at_small_counts_is_exact_and_consistent_with_the_mid_p() -> None:
    change = proportion_change(2, 8, 7, 9)
    assert change is not None and change.p_value == fisher_p_values(2, 8, 7, 9)[1]
