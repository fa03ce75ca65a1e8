"""Digest conclusions on constructed cases whose right reading is obvious: strongest and
weakest, the NPS alarm, intervals, percents, multiplicity and grouped comments."""

from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from bot.digest.data import DigestData
from bot.digest.model import Digest
from bot.digest.render import plain_text, render_html
from bot.digest.scores import question_scores
from surveys.schema import SurveyDefinition
from surveys.scoring import mean_change
from tests.digest.digest_support import (
    DEPARTMENT,
    EXTERNAL,
    INTERNAL,
    PRODUCT,
    W47,
    W48,
    Counts,
    build,
    comment,
    disclose,
    nps_answers,
    window,
)

DIMENSIONS = ("reliability", "responsiveness", "communication", "quality")


def favourable(yes: int, n: int, *, high: int = 5, low: int = 2) -> dict[float | str, int]:
    """`yes` favourable answers (`high`) out of `n`, the rest `low`."""
    return {k: v for k, v in {high: yes, low: n - yes}.items() if v}


def internal_digest(shares: Mapping[str, tuple[int, int]], **data: object) -> Digest:
    """A department whose overall is 4 for everyone and whose dimensions have the given
    (favourable, answers); NPS 9 for everyone."""
    n = max(total for _, total in shares.values())
    current: dict[str, dict[float | str, int]] = {"overall": {4: n}, "recommend": {9: n}}
    current.update({q: favourable(yes, total) for q, (yes, total) in shares.items()})
    defaults: dict[str, object] = {"period": window(W48, n, current), "previous": window(W47, 0)}
    defaults.update(data)
    return build(DEPARTMENT, INTERNAL, disclose(DigestData(**defaults)))  # type: ignore[arg-type]


def external_digest(
    current: Mapping[str, Mapping[float | str, int]], n: int, **data: object
) -> Digest:
    defaults: dict[str, object] = {
        "period": window(W48, n, dict(current)),
        "previous": window(W47, 0),
    }
    defaults.update(data)
    return build(PRODUCT, EXTERNAL, DigestData(**defaults))  # type: ignore[arg-type]


def texts(digest: Digest) -> tuple[str, str]:
    return plain_text(render_html(digest, "en")), plain_text(render_html(digest, "pl"))


# --- the examples ------------------------------------------------------------


def test_nps_minus_80_leads_and_no_strongest_is_claimed_from_overlapping_intervals() -> None:
    # Before: "strongest: CSAT, mean 3.4/5", "weakest: ease", for a product with 8 of 10
    # detractors. CSAT has 5 of 10 favourable (24-76%), ease 1 of 10 (2-40%): the
    # intervals overlap, so neither is called strongest or weakest; the NPS leads.
    digest = external_digest(
        {
            "nps": nps_answers(0, 2, 8),
            "csat": {5: 2, 4: 3, 3: 3, 2: 1, 1: 1},  # mean 3.4
            "effort": {1: 2, 2: 3, 3: 2, 4: 2, 5: 1},  # mean 2.7
        },
        10,
    )
    en, pl = texts(digest)

    assert digest.strongest is None and digest.weakest is None
    assert "Strongest" not in en and "Weakest" not in en and "mean 3.4" not in en
    assert "🚨 NPS −80 is below zero: more detractors (0–6) than promoters (9–10)." in en
    assert "🚨 NPS −80 jest poniżej zera: więcej krytyków (0–6) niż promotorów (9–10)." in pl
    assert "Najmocniejsza" not in pl
    # The alarm comes first among the scores.
    assert en.index("🚨 NPS −80") < en.index("NPS: −80")


def test_csat_of_0_percent_never_makes_ease_the_unqualified_strongest() -> None:
    # Before: "strongest: CES 2.7/7" beside CSAT 0%. With 10 answers, 1 favourable of 10
    # against 0 of 10 is within chance: nothing is said.
    small = external_digest({"csat": {3: 5, 2: 5}, "effort": {1: 2, 2: 3, 3: 2, 4: 2, 5: 1}}, 10)
    assert small.strongest is None and small.weakest is None
    # With 30 answers, 12 favourable (25-58%) against 0 (0-11%) is clear; but 40% is
    # still low, and the digest says so.
    large = external_digest({"csat": {3: 15, 2: 15}, "effort": {6: 12, 2: 18}}, 30)
    en, pl = texts(large)

    assert "💪 Strongest, though still rated low: Ease (CES), 40% favourable (5–7)" in en
    assert "⚠️ Weakest: CSAT, 0% favourable (4–5)" in en
    assert (
        "💪 Najmocniejsza strona, choć wciąż słabo oceniana: Łatwość (CES), "
        "40% ocen pozytywnych (5–7)" in pl
    )
    assert "⚠️ Najsłabsza strona: CSAT, 0% ocen pozytywnych (4–5)" in pl
    # The share it quotes is in the scores too.
    assert "favourable (5–7): 40%" in en and "CSAT: 0%" in en


# --- constructed cases ---------------------------------------------------------------


def test_all_bad_names_the_best_as_still_low() -> None:
    digest = internal_digest(
        {
            "reliability": (0, 20),
            "responsiveness": (2, 20),
            "communication": (5, 20),
            "quality": (8, 20),
        }
    )
    en, pl = texts(digest)

    assert "💪 Strongest, though still rated low: Quality of work, 40% favourable (4–5)" in en
    assert "⚠️ Weakest: Reliability, 0% favourable (4–5)" in en
    assert "choć wciąż słabo oceniana: Jakość pracy, 40% ocen pozytywnych (4–5)" in pl


def test_all_good_names_the_weakest_as_still_rated_well() -> None:
    digest = internal_digest(
        {
            "reliability": (40, 40),
            "responsiveness": (38, 40),
            "communication": (36, 40),
            "quality": (30, 40),
        }
    )
    en, pl = texts(digest)

    assert "💪 Strongest: Reliability, 100% favourable (4–5)" in en
    assert "⚠️ Weakest, though still rated well: Quality of work, 75% favourable (4–5)" in en
    assert "Najsłabsza strona, choć wciąż dobrze oceniana: Jakość pracy" in pl


def test_all_good_and_close_together_says_nothing() -> None:
    digest = internal_digest(
        {
            "reliability": (20, 20),
            "responsiveness": (19, 20),
            "communication": (18, 20),
            "quality": (17, 20),
        }
    )
    assert len(digest.scores) == 6
    assert digest.strongest is None and digest.weakest is None
    assert "Strongest" not in texts(digest)[0]


def test_mixed_names_both_plainly() -> None:
    digest = internal_digest(
        {
            "reliability": (12, 20),
            "responsiveness": (18, 20),
            "communication": (4, 20),
            "quality": (10, 20),
        }
    )
    en, _ = texts(digest)

    assert "💪 Strongest: Responsiveness, 90% favourable (4–5)" in en
    assert "⚠️ Weakest: Communication, 20% favourable (4–5)" in en
    assert "named only when their 95% CIs do not overlap" in en


def test_a_tie_at_the_top_names_no_strongest() -> None:
    digest = internal_digest(
        {
            "reliability": (20, 20),
            "responsiveness": (20, 20),
            "communication": (2, 20),
            "quality": (10, 20),
        }
    )
    assert digest.strongest is None
    assert digest.weakest is not None and digest.weakest.question_id == "communication"


def test_one_question_only_ranks_nothing() -> None:
    questions = [q for q in INTERNAL.questions if q.id in ("overall", "reliability")]
    one = SurveyDefinition.model_validate(
        {**INTERNAL.model_dump(), "id": "one", "questions": [q.model_dump() for q in questions]}
    )
    data = DigestData(window(W48, 20, {"overall": {5: 20}, "reliability": {1: 20}}), window(W47, 0))
    digest = build(DEPARTMENT, one, disclose(data))

    assert [s.question_id for s in digest.scores] == ["overall", "reliability"]
    assert digest.strongest is None and digest.weakest is None
    assert "Strongest" not in plain_text(render_html(digest, "en"))
    # An external digest with only CSAT answered has nothing to compare it with either.
    assert external_digest({"csat": {5: 10}}, 10).strongest is None


# --- the NPS alarm -----------------------------------------------------------------


def test_a_significant_nps_drop_is_called_out_even_when_the_nps_is_positive() -> None:
    digest = external_digest(
        {"nps": nps_answers(12, 4, 4)}, 20, previous=window(W47, 20, {"nps": nps_answers(19, 1, 0)})
    )
    en, pl = texts(digest)

    assert "🚨 NPS down 55 points since the previous week (significant)." in en
    assert "🚨 NPS spadł o 55 punktów względem poprzedniego tygodnia (zmiana istotna)." in pl
    assert "below zero" not in en


def test_an_nps_of_zero_is_called_out_and_a_healthy_one_is_not() -> None:
    zero = external_digest({"nps": nps_answers(3, 4, 3)}, 10)
    assert "🚨 NPS 0: no more promoters (9–10) than detractors (0–6)." in texts(zero)[0]
    assert "🚨 NPS 0: promotorów (9–10) nie jest więcej niż krytyków (0–6)." in texts(zero)[1]
    healthy = external_digest({"nps": nps_answers(6, 3, 1)}, 10)
    assert healthy.nps_alarm is None and "🚨" not in texts(healthy)[0]


# --- intervals, percents, multiplicity, comments ---------------------------------------


def test_one_answer_prints_no_interval() -> None:
    digest = external_digest({"nps": {10: 1}, "csat": {5: 1}, "effort": {6: 1}}, 1)
    en, pl = texts(digest)

    assert "NPS: 100\n" in en and "CSAT: 100%\n" in en and "Ease (CES): 6.0/7\n" in en
    assert "95% CI" not in en.split("\n\n95% CI")[0]
    assert "przedział 95%:" not in pl


def test_the_distribution_percents_add_up_to_100() -> None:
    digest = external_digest({"nps": {10: 1, 8: 1, 3: 1}}, 3)
    rows = [line for line in texts(digest)[0].splitlines() if line.endswith("%")]
    percents = [int(line.rsplit(None, 1)[1].rstrip("%")) for line in rows]

    assert sorted(p for p in percents if p) == [33, 33, 34]
    assert sum(percents) == 100


def test_a_change_significant_alone_is_within_noise_among_the_digests_eleven() -> None:
    before: dict[float, int] = {3: 6, 4: 8, 5: 6}
    after: dict[float, int] = {3: 1, 4: 8, 5: 11}
    alone = mean_change(before, after)
    assert (
        alone is not None and alone.significant and alone.p_value == pytest.approx(0.0317, abs=1e-4)
    )
    unchanged: dict[str, Counts] = {q: {4: 10, 5: 10} for q in DIMENSIONS}
    previous: dict[str, Counts] = {
        "overall": {k: n for k, n in before.items()},
        "recommend": {9: 10, 7: 10},
        **unchanged,
    }
    current: dict[str, Counts] = {
        "overall": {k: n for k, n in after.items()},
        "recommend": {9: 10, 7: 10},
        **unchanged,
    }
    digest = build(
        DEPARTMENT,
        INTERNAL,
        disclose(DigestData(window(W48, 20, current), window(W47, 20, previous))),
    )
    en, pl = texts(digest)

    assert digest.tested_changes == 11
    assert "Overall: 4.5/5 (95% CI 4.2–4.8) ▲ +0.5 (within noise)" in en
    assert "allowing for all 11 changes compared in this digest: Holm's method" in en
    assert "z uwzględnieniem wszystkich 11 porównań w tym podsumowaniu, metodą Holma" in pl


def test_comments_are_grouped_under_their_question_once() -> None:
    comments = [
        comment("Slow replies", day=23, question_id="should_change"),
        comment("Friendly team", day=24, question_id="works_well"),
        comment("Invoices are late", day=25, question_id="should_change"),
    ]
    digest = internal_digest({q: (8, 10) for q in DIMENSIONS}, comments=comments)
    en, pl = texts(digest)
    section = en[en.index("Comments") :]

    assert section.count("What should change") == 1 and section.count("What works well") == 1
    # In survey order; within a question longest first (an internal unit's comments are
    # never ordered by time, which would tell which of its weeks each came from).
    assert (
        section.index("What works well")
        < section.index("Friendly team")
        < section.index("What should change")
        < section.index("Invoices are late")
        < section.index("Slow replies")
    )
    assert pl.count("Co warto zmienić") == 1


# --- multiplicity over many digests ---------------------------------------------------


def _week(rng: random.Random, n: int, shift: float) -> dict[str, dict[int, int]]:
    """Answers of `n` people to the internal survey: each person's ratings share a
    common leaning (so questions move together, as real answers do); `shift` moves
    every rating by that many points (NPS by twice as many)."""
    result: dict[str, dict[int, int]] = {}
    for _ in range(n):
        leaning = rng.gauss(0, 1)
        for question in INTERNAL.questions:
            if question.scale is None:
                continue
            low, high = question.scale
            noise = 0.6 * leaning + 0.8 * rng.gauss(0, 1)
            if low == 0:  # NPS, 0-10
                value = round(7.5 + 2 * shift + 2 * noise)
            else:
                value = round(3.7 + shift + 0.9 * noise)
            value = min(high, max(low, value))
            answers = result.setdefault(question.id, {})
            answers[value] = answers.get(value, 0) + 1
    return result


def _share_with_a_significant_line(digests: int, shift: float, seed: int) -> tuple[float, float]:
    """(share of digests with any significant change, the same without the correction)."""
    rng = random.Random(seed)
    flagged = uncorrected = 0
    for _ in range(digests):
        before = _week(rng, rng.randint(5, 25), 0.0)
        after = _week(rng, rng.randint(5, 25), shift)
        changes = [
            change
            for score in question_scores(INTERNAL, after, before)
            for change in score.changes
            if change is not None and change.p_value is not None
        ]
        flagged += any(change.significant for change in changes)
        uncorrected += any(change.p_value < 0.05 for change in changes)  # type: ignore[operator]
    return flagged / digests, uncorrected / digests


def test_an_unchanged_department_rarely_gets_a_significant_line() -> None:
    # 1,000 weekly digests of a department whose answers come from the same
    # distribution both weeks (5 to 25 responses a week): uncorrected, about 3 in 10
    # digests would show a "significant" change; with Holm, about 1 in 25.
    flagged, uncorrected = _share_with_a_significant_line(1000, 0.0, seed=11)

    assert flagged <= 0.10
    assert uncorrected >= 0.2  # the problem the correction solves is real here


def test_a_real_drop_is_still_found() -> None:
    # Every rating a point lower (NPS two points): most digests flag it.
    flagged, _ = _share_with_a_significant_line(200, -1.0, seed=12)

    assert flagged >= 0.7
