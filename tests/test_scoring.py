"""Survey statistics: hand-computed values, edge cases and properties of surveys.scoring."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.scoring import (
    Bar,
    Change,
    Estimate,
    NpsCounts,
    csat,
    distribution_bars,
    favourable,
    mean,
    mean_change,
    nps,
    nps_buckets,
    nps_change,
    proportion_change,
)
from surveys.significance import fisher_p_values

Z95 = 1.959963984540054  # norm.ppf(0.975)

counts = st.integers(min_value=0, max_value=500)
nps_triples = st.tuples(counts, counts, counts).filter(lambda c: sum(c) > 0)
ratings = st.dictionaries(st.integers(1, 5), st.integers(0, 200)).filter(
    lambda d: sum(d.values()) > 0
)


def fields(result: Estimate | Change | None) -> dict[str, object]:
    """A result as a dict, so fields can be compared with pytest.approx by name."""
    assert result is not None
    return asdict(result)


# --- NPS ---------------------------------------------------------------------


def test_nps_of_10_promoters_5_passives_5_detractors_matches_hand_computed_adjusted_wald() -> None:
    # n = 20; NPS = 10/20 - 5/20 = 50% - 25% = 25 points.
    # Adjusted-Wald (Rocks 2016): n' = 20 + 3 = 23,
    #   p' = (10 + 0.75) / 23 = 0.467391,  d' = (5 + 0.75) / 23 = 0.250000,
    #   NPS' = p' - d' = 0.217391,
    #   var = p' + d' - NPS'^2 = 0.717391 - 0.047259 = 0.670132,
    #   se = sqrt(0.670132 / 23) = 0.170693,
    #   margin = 1.959964 * 0.170693 = 0.334553 -> 33.455 points,
    #   interval = 21.739 ± 33.455 = [-11.716, 55.194].
    assert fields(nps(10, 5, 5)) == {
        "value": 25.0,
        "low": pytest.approx(-11.7161, abs=1e-4),
        "high": pytest.approx(55.1944, abs=1e-4),
        "n": 20,
        "margin": pytest.approx(33.4553, abs=1e-4),
    }


def test_nps_with_no_answers_is_none() -> None:
    assert nps(0, 0, 0) is None


def test_nps_all_promoters_is_100_and_the_interval_is_clipped_at_100() -> None:
    # n' = 23, p' = 20.75/23 = 0.902174, d' = 0.75/23 = 0.032609, NPS' = 0.869565,
    # var = 0.934783 - 0.756144 = 0.178639, se = sqrt(0.178639/23) = 0.088130,
    # margin = 1.959964 * 0.088130 = 0.172732 -> low = 0.869565 - 0.172732 = 69.683.
    estimate = nps(20, 0, 0)

    assert estimate is not None
    assert estimate.value == 100.0
    assert estimate.low == pytest.approx(69.6833, abs=1e-4)
    assert estimate.high == 100.0
    assert estimate.margin == pytest.approx(17.2732, abs=1e-4)


def test_nps_all_detractors_mirrors_all_promoters() -> None:
    estimate = nps(0, 0, 20)

    assert estimate is not None
    assert (estimate.value, estimate.low) == (-100.0, -100.0)
    assert estimate.high == pytest.approx(-69.6833, abs=1e-4)


def test_nps_of_one_promoter_widens_the_interval_to_include_the_score() -> None:
    # n' = 4, p' = 1.75/4 = 0.4375, d' = 0.75/4 = 0.1875, NPS' = 0.25,
    # var = 0.625 - 0.0625 = 0.5625, se = sqrt(0.5625/4) = 0.375,
    # margin = 1.959964 * 0.375 = 0.734986 -> [-48.499, 98.499], widened to 100.
    estimate = nps(1, 0, 0)

    assert estimate is not None
    assert estimate.value == 100.0
    assert estimate.low == pytest.approx(-48.4986, abs=1e-4)
    assert estimate.high == 100.0
    assert estimate.n == 1


def test_nps_of_one_detractor_widens_the_interval_down_to_minus_100() -> None:
    estimate = nps(0, 0, 1)

    assert estimate is not None
    assert (estimate.value, estimate.low) == (-100.0, -100.0)
    assert estimate.high == pytest.approx(48.4986, abs=1e-4)


def test_nps_of_one_passive_is_zero_with_a_wide_interval() -> None:
    # n' = 4, p' = d' = 0.1875, var = 0.375, se = sqrt(0.375/4) = 0.306186,
    # margin = 1.959964 * 0.306186 = 0.600114.
    assert fields(nps(0, 1, 0)) == {
        "value": 0.0,
        "low": pytest.approx(-60.0114, abs=1e-4),
        "high": pytest.approx(60.0114, abs=1e-4),
        "n": 1,
        "margin": pytest.approx(60.0114, abs=1e-4),
    }


def test_a_higher_confidence_gives_a_wider_nps_interval() -> None:
    at_95, at_99 = nps(10, 5, 5), nps(10, 5, 5, confidence=0.99)

    assert at_95 is not None and at_99 is not None
    assert at_99.low < at_95.low and at_99.high > at_95.high


def test_nps_rejects_negative_counts_and_impossible_confidence() -> None:
    with pytest.raises(ValueError):
        nps(-1, 2, 3)
    with pytest.raises(ValueError):
        nps(1, 2, 3, confidence=1.0)


@given(nps_triples)
def test_nps_interval_holds_the_score_and_stays_within_plus_minus_100(
    triple: tuple[int, int, int],
) -> None:
    estimate = nps(*triple)

    assert estimate is not None
    assert -100.0 <= estimate.low <= estimate.value <= estimate.high <= 100.0
    assert estimate.margin is not None and estimate.margin > 0


@given(nps_triples)
def test_swapping_promoters_and_detractors_mirrors_the_nps(triple: tuple[int, int, int]) -> None:
    promoters, passives, detractors = triple
    estimate, mirrored = nps(promoters, passives, detractors), nps(detractors, passives, promoters)

    assert estimate is not None and mirrored is not None
    assert mirrored.value == pytest.approx(-estimate.value)
    assert mirrored.low == pytest.approx(-estimate.high)
    assert mirrored.high == pytest.approx(-estimate.low)


def test_nps_buckets_split_0_to_6_7_to_8_and_9_to_10() -> None:
    distribution = {0: 1, 6: 2, 7: 3, 8: 4, 9: 5, 10: 6}

    assert nps_buckets(distribution) == NpsCounts(promoters=11, passives=7, detractors=3)
    assert nps_buckets({}) == (0, 0, 0)


def test_nps_buckets_reject_answers_off_the_0_to_10_scale() -> None:
    with pytest.raises(ValueError, match="11"):
        nps_buckets({11: 1})


# --- CSAT, favourable, mean ---------------------------------------------------


def test_csat_is_top_two_box_percent_with_a_hand_computed_wilson_interval() -> None:
    # 8 of 10 answered 4 or 5: p = 0.8, z^2 = 3.841459.
    # Wilson: centre = (p + z^2/2n) / (1 + z^2/n) = (0.8 + 0.192073) / 1.384146 = 0.716740,
    #   half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)
    #        = 1.959964 / 1.384146 * sqrt(0.016 + 0.009604) = 1.416009 * 0.160012 = 0.226578,
    #   interval = [0.490162, 0.943318] -> [49.016, 94.332] percent.
    assert fields(csat({5: 6, 4: 2, 3: 1, 2: 1})) == {
        "value": 80.0,
        "low": pytest.approx(49.0162, abs=1e-4),
        "high": pytest.approx(94.3318, abs=1e-4),
        "n": 10,
        "margin": None,
    }


def test_csat_of_all_satisfied_touches_100_and_empty_csat_is_none() -> None:
    # Wilson lower bound for 5/5: n / (n + z^2) = 5 / 8.841459 = 0.565518.
    estimate = csat({5: 3, 4: 2})

    assert estimate is not None
    assert (estimate.value, estimate.high) == (100.0, 100.0)
    assert estimate.low == pytest.approx(56.5518, abs=1e-4)
    assert csat({}) is None
    assert csat({3: 0}) is None


def test_csat_rejects_answers_off_the_1_to_5_scale() -> None:
    with pytest.raises(ValueError, match="0"):
        csat({0: 1})


def test_favourable_counts_answers_at_or_above_the_threshold() -> None:
    distribution = {1: 1, 2: 1, 3: 2, 4: 3, 5: 3}

    at_4, at_3 = favourable(distribution), favourable(distribution, threshold=3)

    assert at_4 is not None and at_4.value == 60.0 and at_4.n == 10
    assert at_3 is not None and at_3.value == 80.0


@given(ratings, st.integers(1, 5))
def test_favourable_interval_holds_the_share_and_stays_within_0_to_100(
    distribution: dict[int, int], threshold: int
) -> None:
    estimate = favourable(distribution, threshold=threshold)

    assert estimate is not None
    assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= 100.0


def test_mean_has_a_hand_computed_t_interval() -> None:
    # Answers 1, 3, 3, 5: mean = 12 / 4 = 3,
    # s^2 = ((1-3)^2 + 0 + 0 + (5-3)^2) / (4 - 1) = 8/3, s = 1.632993,
    # se = s / sqrt(4) = 0.816497, t(0.975, df=3) = 3.182446,
    # margin = 3.182446 * 0.816497 = 2.598457 -> [0.401543, 5.598457].
    assert fields(mean({1: 1, 3: 2, 5: 1})) == {
        "value": 3.0,
        "low": pytest.approx(0.401543, abs=1e-6),
        "high": pytest.approx(5.598457, abs=1e-6),
        "n": 4,
        "margin": pytest.approx(2.598457, abs=1e-6),
    }


def test_mean_interval_can_be_clipped_to_the_scale() -> None:
    estimate = mean({1: 1, 3: 2, 5: 1}, value_range=(1, 5))

    assert estimate is not None
    assert (estimate.low, estimate.high) == (1.0, 5.0)
    assert estimate.margin == pytest.approx(2.598457, abs=1e-6)


def test_mean_of_one_answer_collapses_to_the_answer_without_a_margin() -> None:
    assert mean({6: 1, 2: 0}) == Estimate(value=6.0, low=6.0, high=6.0, n=1, margin=None)


def test_mean_of_identical_answers_has_a_zero_width_interval_and_empty_is_none() -> None:
    assert mean({4: 7}) == Estimate(value=4.0, low=4.0, high=4.0, n=7, margin=0.0)
    assert mean({}) is None


def test_mean_accepts_non_integer_scale_values() -> None:
    estimate = mean({1.5: 1, 2.5: 1})

    assert estimate is not None and estimate.value == 2.0


@given(ratings)
def test_mean_interval_holds_the_mean_and_clipping_stays_on_the_scale(
    distribution: dict[int, int],
) -> None:
    estimate = mean(distribution)
    clipped = mean(distribution, value_range=(1, 5))

    assert estimate is not None and clipped is not None
    assert estimate.low <= estimate.value <= estimate.high
    assert 1.0 <= clipped.low <= clipped.value <= clipped.high <= 5.0


# --- change between periods -------------------------------------------------


def test_nps_rising_from_0_to_60_on_400_answers_each_is_significant() -> None:
    # prev: 120 P, 160 Pa, 120 D -> NPS 0; cur: 280 P, 80 Pa, 40 D -> NPS 60.
    # Adjusted: prev NPS' = 0, var = 2 * 120.75/403 = 0.599256;
    #   cur p' = 280.75/403 = 0.696650, d' = 40.75/403 = 0.101117, NPS' = 0.595533,
    #   var = 0.797767 - 0.354660 = 0.443107;
    #   se = sqrt(0.599256/403 + 0.443107/403) = 0.050858, z = 0.595533 / 0.050858 = 11.71.
    change = nps_change(NpsCounts(120, 160, 120), NpsCounts(280, 80, 40))

    assert change is not None
    assert change.delta == pytest.approx(60.0)
    assert change.significant is True
    assert change.p_value == pytest.approx(1.1355e-31, rel=1e-3)


def test_nps_falling_from_40_to_0_on_5_answers_each_is_not_significant() -> None:
    # Fewer than 15 answers: the exact permutation test. Pooled 5 promoters, 2 passives,
    # 3 detractors; of the C(10, 5) = 252 ways to split them into two weeks of 5, 192
    # give an NPS difference of at least 40 points either way: p = 192/252 = 16/21.
    change = nps_change((3, 1, 1), (2, 1, 2))

    assert fields(change) == {
        "delta": pytest.approx(-40.0),
        "significant": False,
        "p_value": pytest.approx(16 / 21),
        "p_adjusted": None,
    }


def test_nps_change_from_all_passives_to_all_promoters_on_2_answers_is_not_significant() -> None:
    # Exactly: of the C(4, 2) = 6 splits of 2 passives and 2 promoters into two pairs,
    # 2 differ as much as observed (both promoters on one side): p = 1/3. (The
    # adjusted-Wald z-test said 0.33 too; a raw Wald test would call it certain.)
    change = nps_change((0, 2, 0), (2, 0, 0))

    assert change is not None
    assert change.delta == 100.0
    assert change.significant is False
    assert change.p_value == pytest.approx(1 / 3)


def test_nps_change_on_small_weeks_is_exact_where_the_z_test_is_not() -> None:
    # 4 promoters, 1 detractor (NPS 60) -> 3 detractors (-100). The adjusted-Wald z-test
    # gives p = 0.032 and would call it significant. Exactly: the pooled 4 promoters and
    # 4 detractors split into weeks of 5 and 3 in C(8, 3) = 56 equally likely ways, and
    # only a week of 3 detractors (4 ways) or 3 promoters (4 ways) differs this much:
    # p = 8/56 = 1/7.
    change = nps_change((4, 0, 1), (0, 0, 3))

    assert change is not None
    assert change.delta == pytest.approx(-160.0)
    assert change.significant is False
    assert change.p_value == pytest.approx(1 / 7)


def test_nps_change_without_enough_answers_claims_nothing() -> None:
    assert nps_change((0, 0, 0), (5, 0, 0)) is None
    assert nps_change((1, 0, 0), (0, 0, 30)) == Change(
        delta=-200.0, significant=False, p_value=None
    )


@given(nps_triples)
def test_identical_nps_periods_are_not_significantly_different(
    triple: tuple[int, int, int],
) -> None:
    change = nps_change(triple, triple)

    assert change is not None
    assert change.delta == 0.0
    assert change.significant is False


@given(nps_triples, nps_triples)
def test_nps_change_is_antisymmetric(prev: tuple[int, int, int], cur: tuple[int, int, int]) -> None:
    forward, backward = nps_change(prev, cur), nps_change(cur, prev)

    assert forward is not None and backward is not None
    assert forward.delta == pytest.approx(-backward.delta)
    assert forward.significant == backward.significant


def test_proportion_change_with_large_samples_uses_the_pooled_z_test() -> None:
    # 60/100 -> 45/100: pooled p = 105/200 = 0.525,
    # se = sqrt(0.525 * 0.475 * (1/100 + 1/100)) = 0.070622,
    # z = (0.45 - 0.60) / 0.070622 = -2.123977, p = 2 * (1 - Phi(2.123977)) = 0.033672.
    change = proportion_change(60, 100, 45, 100)

    assert fields(change) == {
        "delta": pytest.approx(-15.0),
        "significant": True,
        "p_value": pytest.approx(0.033672, abs=1e-6),
        "p_adjusted": None,
    }


def test_proportion_change_with_small_samples_uses_the_mid_p_of_fishers_exact_test() -> None:
    # 1/10 -> 6/10: smallest expected cell = 10 * 7/20 = 3.5 < 5, so an exact test.
    # Margins 10/10 and 7/13 of 20; P(k successes in prev) = C(10,k) C(10,7-k) / C(20,7):
    #   k = 0..7 -> 120, 2100, 11340, 25200, 25200, 11340, 2100, 120 (over 77520).
    # Fisher sums the tables no likelier than the observed k = 1:
    #   (120 + 2100 + 2100 + 120) / 77520 = 0.057276, and misses a real change;
    # the mid-p counts the two tables as likely as the observed one at half weight:
    #   (120 + 120 + (2100 + 2100) / 2) / 77520 = 2340 / 77520 = 0.030186
    # (Boschloo's exact test, scipy.stats.boschloo_exact: 0.0262).
    change = proportion_change(1, 10, 6, 10)

    assert fields(change) == {
        "delta": pytest.approx(50.0),
        "significant": True,
        "p_value": pytest.approx(2340 / 77520),
        "p_adjusted": None,
    }


def test_proportion_change_without_enough_answers_claims_nothing() -> None:
    assert proportion_change(0, 0, 3, 4) is None
    assert proportion_change(1, 1, 0, 50) == Change(delta=-100.0, significant=False, p_value=None)


def test_proportion_change_rejects_more_successes_than_answers() -> None:
    with pytest.raises(ValueError):
        proportion_change(5, 4, 1, 4)


@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_identical_shares_are_not_significantly_different(successes_n: tuple[int, int]) -> None:
    successes, n = successes_n

    change = proportion_change(successes, n, successes, n)

    assert change is not None
    assert change.delta == 0.0
    assert change.significant is False


def test_mean_change_uses_welchs_t_test() -> None:
    # prev {3: 5, 4: 5}: mean 3.5, s^2 = 10 * 0.25 / 9 = 0.277778; cur {4: 5, 5: 5}: mean 4.5,
    # same s^2. se = sqrt(0.277778/10 * 2) = 0.235702, t = 1 / 0.235702 = 4.242641,
    # Welch df = (2 * 0.027778)^2 / (2 * 0.027778^2 / 9) = 18, p = 2 * t.sf(4.242641, 18).
    change = mean_change({3: 5, 4: 5}, {4: 5, 5: 5})

    assert fields(change) == {
        "delta": pytest.approx(1.0),
        "significant": True,
        "p_value": pytest.approx(0.00048959, abs=1e-8),
        "p_adjusted": None,
    }


def test_mean_change_does_not_assume_equal_variances() -> None:
    # prev 1, 1, 5, 5: mean 3, s^2 = 16/3; cur ten 4s and ten 5s: mean 4.5, s^2 = 5/19.
    # se = sqrt(16/3/4 + 5/19/20) = sqrt(1.333333 + 0.013158) = 1.160384,
    # t = 1.5 / 1.160384 = 1.292675,
    # Welch df = 1.346491^2 / (1.333333^2/3 + 0.013158^2/19) = 3.059456,
    # p = 2 * t.sf(1.292675, 3.059456) = 0.285091. (Student's pooled t would say 0.0104.)
    change = mean_change({1: 2, 5: 2}, {4: 10, 5: 10})

    assert fields(change) == {
        "delta": pytest.approx(1.5),
        "significant": False,
        "p_value": pytest.approx(0.285091, abs=1e-6),
        "p_adjusted": None,
    }


def test_mean_change_on_a_few_scattered_answers_is_not_significant() -> None:
    change = mean_change({2: 1, 5: 1}, {3: 1, 5: 1})

    assert change is not None
    assert change.delta == pytest.approx(0.5)
    assert change.significant is False


def test_mean_change_without_spread_or_answers_claims_nothing() -> None:
    assert mean_change({}, {4: 3}) is None
    assert fields(mean_change({4: 1}, {5: 9, 1: 1})) == {
        "delta": pytest.approx(0.6),
        "significant": False,
        "p_value": None,
        "p_adjusted": None,
    }
    assert mean_change({4: 5}, {5: 5}) == Change(delta=1.0, significant=False, p_value=None)


@given(ratings)
def test_identical_mean_periods_are_not_significantly_different(
    distribution: dict[int, int],
) -> None:
    change = mean_change(distribution, distribution)

    assert change is not None
    assert change.delta == 0.0
    assert change.significant is False


# --- distribution bars ----------------------------------------------------------


def test_distribution_bars_follow_the_scale_order_and_show_shares() -> None:
    bars = distribution_bars({5: 6, 4: 3, 3: 1}, [5, 4, 3, 2, 1])

    assert bars == [
        Bar(5, 6, 60, "██████░░░░"),
        Bar(4, 3, 30, "███░░░░░░░"),
        Bar(3, 1, 10, "█░░░░░░░░░"),
        Bar(2, 0, 0, "░░░░░░░░░░"),
        Bar(1, 0, 0, "░░░░░░░░░░"),
    ]


def test_distribution_bars_draw_partial_cells_in_eighths() -> None:
    # 1/3 of 10 cells = 3.33 cells = 26.7 -> 27 eighths = 3 full + 3/8 ("▍");
    # 2/3 of 10 cells = 53.3 -> 53 eighths = 6 full + 5/8 ("▋").
    bars = distribution_bars({"yes": 1, "no": 2}, ["yes", "no"])

    assert [bar.bar for bar in bars] == ["███▍░░░░░░", "██████▋░░░"]
    # 33.3% and 66.7% as whole percents that add up to 100 (largest remainder: 33 + 67).
    assert [bar.percent for bar in bars] == [33, 67]


def test_a_rare_answer_shows_a_sliver_and_a_near_unanimous_one_is_not_full() -> None:
    bars = distribution_bars({1: 1, 2: 999}, [1, 2], width=5)

    assert [bar.bar for bar in bars] == ["▏░░░░", "████▉"]


def test_distribution_bars_of_no_answers_are_empty() -> None:
    assert distribution_bars({}, [1, 2], width=3) == [Bar(1, 0, 0, "░░░"), Bar(2, 0, 0, "░░░")]


@given(ratings, st.integers(1, 20))
def test_every_bar_has_the_requested_width_and_the_shares_add_up(
    distribution: dict[int, int], width: int
) -> None:
    bars = distribution_bars(distribution, [1, 2, 3, 4, 5], width=width)

    assert all(len(bar.bar) == width for bar in bars)
    assert sum(bar.percent for bar in bars) == 100
    assert [bar.answers for bar in bars] == [distribution.get(v, 0) for v in range(1, 6)]


# --- purity -------------------------------------------------------------------


def test_scoring_does_not_pull_in_telegram_database_or_templates() -> None:
    code = (
        "import sys, surveys.scoring; "
        "print(sorted({'telegram', 'aiosqlite', 'jinja2'} & sys.modules.keys()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )

    assert result.stdout.strip() == "[]"


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=1, max_value=400), data=st.data())
def test_closed_form_wilson_matches_scipy(n: int, data: st.DataObject) -> None:
    from scipy import stats as scipy_stats

    k = data.draw(st.integers(min_value=0, max_value=n))
    ours = favourable({5: k, 1: n - k}, threshold=4)
    assert ours is not None
    reference = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert ours.low == pytest.approx(100 * reference.low, abs=1e-9)
    assert ours.high == pytest.approx(100 * reference.high, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    before=st.dictionaries(st.integers(1, 5), st.integers(0, 40), min_size=2),
    after=st.dictionaries(st.integers(1, 5), st.integers(0, 40), min_size=2),
)
def test_written_out_welch_test_matches_scipy(
    before: dict[int, int], after: dict[int, int]
) -> None:
    from scipy import stats as scipy_stats

    change = mean_change(before, after)
    n_b, n_a = sum(before.values()), sum(after.values())
    if change is None or change.p_value is None:
        return

    def moments(d: dict[int, int], n: int) -> tuple[float, float]:
        mean = sum(v * c for v, c in d.items()) / n
        var = sum(c * (v - mean) ** 2 for v, c in d.items()) / (n - 1)
        return mean, var

    (m_b, v_b), (m_a, v_a) = moments(before, n_b), moments(after, n_a)
    reference = scipy_stats.ttest_ind_from_stats(
        m_a, v_a**0.5, n_a, m_b, v_b**0.5, n_b, equal_var=False
    )
    assert change.p_value == pytest.approx(float(reference.pvalue), rel=1e-7, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    a_n=st.integers(min_value=1, max_value=60),
    b_n=st.integers(min_value=1, max_value=60),
    data=st.data(),
)
def test_written_out_fisher_test_matches_scipy(a_n: int, b_n: int, data: st.DataObject) -> None:
    from scipy import stats as scipy_stats

    a = data.draw(st.integers(min_value=0, max_value=a_n))
    b = data.draw(st.integers(min_value=0, max_value=b_n))
    reference = scipy_stats.fisher_exact([[a, a_n - a], [b, b_n - b]], alternative="two-sided")
    assert fisher_p_values(a, a_n, b, b_n)[0] == pytest.approx(
        float(reference.pvalue), rel=1e-6, abs=1e-12
    )
