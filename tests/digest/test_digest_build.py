"""Building a digest from plain aggregate data: anonymity, comparisons, comments, roles, trend."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.digest.build import clip
from bot.digest.data import DigestData, Window
from bot.digest.model import (
    BLOCK_EPOCH,
    TREND_PERIODS,
    Basis,
    Block,
    Comparison,
    Digest,
    ScoreKind,
    closed_block,
)
from bot.digest.render import plain_text, render_html
from storage.models import PeriodCounts
from surveys import anonymity, periods
from tests.digest.digest_support import (
    BLOCK_BEFORE_W48,
    BLOCK_W48,
    DEPARTMENT,
    INTERNAL,
    W47,
    W48,
    build,
    comment,
    window,
)

RATINGS = ("overall", "reliability", "responsiveness", "communication", "quality")


def internal_distributions(*overall: int) -> dict[str, dict[float | str, int]]:
    """Every rating question answered like `overall`; recommend 9 for each."""
    counts: dict[float | str, int] = {}
    for value in overall:
        counts[value] = counts.get(value, 0) + 1
    result: dict[str, dict[float | str, int]] = {q: dict(counts) for q in RATINGS}
    result["recommend"] = {9: len(overall)}
    return result


def internal(
    completed: int,
    *,
    block: int | None = None,
    previous: int = 0,
    comments: int = 0,
    role_counts: dict[str, int] | None = None,
    role_distributions: dict[str, dict[str, dict[float | str, int]]] | None = None,
    trend: dict[str, dict[float, int]] | None = None,
    evaluators: int | None = None,
    anonymity_min: int = 5,
    comments_min: int = 5,
) -> DigestData:
    """Internal data for W48, the last week of the block W45-W48 (closed): `completed`
    answers of 4 in W48, `previous` answers of 3 in W47; with a `block` total, the rest
    of the block's answers (4s) in W46; `trend` gives other weeks' answers. Which units
    are shown is decided from these counts by surveys.anonymity, as compose does with
    nothing recorded before; the windows are those compose would then read."""
    named = role_counts or {}
    weekly: dict[str, dict[float, int]] = {W48: {4: completed}, W47: {3: previous}}
    if block is not None:
        weekly["2026-W46"] = {4: block - completed - previous}
    weekly.update(trend or {})
    counts: dict[str, dict[str, int]] = {
        week: {anonymity.NO_ROLE: sum(values.values())} for week, values in weekly.items()
    }
    counts[W48] = {**named, anonymity.NO_ROLE: completed - sum(named.values())}
    trend_weeks = periods.last_n(W48, TREND_PERIODS)
    settled = anonymity.settle(
        [*trend_weeks, *BLOCK_W48.weeks],
        last_closed=W48,
        recorded=(),
        counts=counts,
        anonymity_min=anonymity_min,
        comments_min=comments_min,
    )
    disclosure = anonymity.digest_disclosure(
        W48, BLOCK_W48.weeks[0], settled.units, settled.pending, counts, trend_weeks
    )

    def pooled(unit: anonymity.Unit | None, weeks: tuple[str, ...]) -> Window:
        answers = [
            v
            for w in (unit.weeks if unit else weeks)
            for v, n in weekly.get(w, {}).items()
            for _ in range(n)
        ]
        return Window(
            unit.weeks if unit else weeks,
            PeriodCounts(len(answers), len(answers), 0, len(answers)),
            internal_distributions(*answers) if unit else {},  # type: ignore[arg-type]
        )

    unit = disclosure.scores
    pool = unit if unit is not None and unit.pooled else None
    before = disclosure.previous
    return DigestData(
        window(W48, completed, internal_distributions(*([4] * completed))),
        window(W47, previous, internal_distributions(*([3] * previous))),
        block=pooled(pool, BLOCK_W48.weeks) if pool else None,
        block_previous=pooled(before, BLOCK_BEFORE_W48.weeks) if pool else None,
        comments=[comment(f"comment number {i}", day=20 + i % 5) for i in range(comments)]
        if unit is not None and unit.comments_shown
        else [],
        role_counts=named if unit is not None and unit.roles_shown else {},
        role_distributions=role_distributions or {},
        trend=weekly,
        evaluators=evaluators,
        disclosure=disclosure,
    )


def internal_digest(completed: int, *, comments_min: int = 5, **kwargs: Any) -> Digest:
    data = internal(completed, comments_min=comments_min, **kwargs)
    return build(DEPARTMENT, INTERNAL, data, comments_min=comments_min)


def test_four_internal_responses_in_a_quiet_block_stay_hidden() -> None:
    digest = internal_digest(4, block=4, comments=4)
    assert digest.scores_gate.basis is Basis.HIDDEN and digest.scores_gate.block_withheld
    assert digest.scores_gate.needed == 0  # the block has ended: nothing can change it
    assert digest.scores == () and digest.distribution is None and digest.strongest is None
    assert digest.comments == ()
    text = plain_text(render_html(digest, "en"))
    assert "Completed: 4" in text  # counts may always be shown
    assert "fewer than 5 responses this week, and the quiet weeks of the 4-week block" in text
    assert "so they stay hidden for good" in text
    assert "Overall:" not in text
    assert "pozostaną ukryte na stałe" in plain_text(render_html(digest, "pl"))


def test_five_internal_responses_show_scores() -> None:
    digest = internal_digest(5, comments=5)
    assert digest.scores_gate.basis is Basis.PERIOD
    assert [s.metric for s in digest.scores][:2] == ["overall", "reliability"]
    assert len(digest.comments) == 3
    text = plain_text(render_html(digest, "en"))
    assert "Overall: 4.0/5" in text
    assert "more response" not in text


def test_comments_need_their_own_threshold() -> None:
    digest = internal_digest(5, block=5, comments=5, comments_min=7)
    assert digest.scores_gate.shown
    assert not digest.comments_gate.shown
    assert digest.comments_gate.needed == 2
    assert digest.comments == ()
    text = plain_text(render_html(digest, "en"))
    assert "Overall: 4.0/5" in text
    assert "Comments are shown once at least 7 people have answered in a week" in text
    assert "this week needed 2 more responses" in text

    shown = internal_digest(7, comments=7, comments_min=7)
    assert shown.comments_gate.basis is Basis.PERIOD and len(shown.comments) == 3


def test_below_threshold_falls_back_to_the_closed_block_labelled() -> None:
    digest = internal_digest(3, block=6, comments=6)
    assert digest.scores_gate.basis is Basis.BLOCK
    assert digest.scores_gate.responses == 6
    assert digest.comments_gate.basis is Basis.BLOCK
    assert digest.block == BLOCK_W48 and digest.previous_block == BLOCK_BEFORE_W48
    # Scores come from the block (6 answers of 4), not from the 3 of this week.
    assert digest.headline is not None and digest.headline.estimate.n == 6
    text = plain_text(render_html(digest, "en"))
    assert "Scores · 4-week block (weeks 45–48, 2–29 Nov 2026)" in text
    assert "the scores pool the weeks of a closed 4-week block (weeks 45–48, 2–29 Nov 2026)" in (
        text
    )
    assert "Comments · 4-week block (weeks 45–48, 2–29 Nov 2026)" in text
    assert "No comparison: no responses in the block before (weeks 41–44, 5 Oct – 1 Nov 2026)" in (
        text
    )
    pl = plain_text(render_html(digest, "pl"))
    assert "Wyniki · blok 4 tygodni (tygodnie 45–48, 2–29 listopada 2026)" in pl
    assert "w poprzednim bloku (tygodnie 41–44, 5 października – 1 listopada 2026)" in pl


def test_block_below_threshold_too_keeps_scores_hidden() -> None:
    digest = internal_digest(2, block=3)
    assert digest.scores_gate.basis is Basis.HIDDEN and digest.scores_gate.block_withheld
    text = plain_text(render_html(digest, "en"))
    assert "the quiet weeks of the 4-week block (weeks 45–48, 2–29 Nov 2026) together had" in text


def test_a_block_minus_a_week_shown_alone_is_withheld() -> None:
    """W45 had 5 responses (shown on their own), this week W48 only 2: the block's 7 minus
    W45's 5 would be W48's 2, so only the pool of W46-W48 (2) is considered: withheld."""
    data = internal(2, block=7, comments=7, trend={"2026-W45": {4: 5}, "2026-W46": {}})
    digest = build(DEPARTMENT, INTERNAL, data)
    for gate in (digest.scores_gate, digest.comments_gate):
        assert gate.basis is Basis.HIDDEN and gate.block_withheld
        assert gate.responses == 2
    assert digest.scores == () and digest.comments == () and digest.distribution is None
    text = plain_text(render_html(digest, "en"))
    assert "the quiet weeks of the 4-week block (weeks 45–48, 2–29 Nov 2026) together had" in text
    assert "comment number" not in text and "Overall:" not in text
    pl = plain_text(render_html(digest, "pl"))
    assert "ciche tygodnie bloku 4 tygodni (tygodnie 45–48, 2–29 listopada 2026)" in pl


def test_a_block_whose_quiet_weeks_together_meet_the_threshold_is_shown() -> None:
    # W45's 5 are shown on their own; W46's 3 and W48's 2 are 5 together: their pool is
    # shown, never the block's 10 (whose difference with W45 would be that pool anyway).
    trend: dict[str, dict[float, int]] = {"2026-W45": {4: 5}, "2026-W46": {4: 3}}
    digest = build(DEPARTMENT, INTERNAL, internal(2, block=10, comments=10, trend=trend))
    assert digest.scores_gate.basis is Basis.BLOCK and digest.scores_gate.responses == 5
    assert digest.basis_weeks == ("2026-W46", "2026-W47", "2026-W48")
    assert digest.comments_gate.basis is Basis.BLOCK and not digest.scores_gate.block_withheld
    assert digest.headline is not None and digest.headline.estimate.n == 5
    # Comments: the pool's 5 meet a threshold of 3, not one of 6.
    low = internal_digest(2, block=10, comments=10, trend=trend, comments_min=3)
    assert low.comments_gate.block and len(low.comments) == 3
    high = internal_digest(2, block=10, comments=10, trend=trend, comments_min=6)
    assert high.scores_gate.block and not high.comments_gate.shown and high.comments == ()


def test_no_comparison_with_a_block_before_that_would_leak() -> None:
    """A pool is compared only with the pool of the block before, and only when that was
    shown: W41's 5 were shown alone, so the rest of W41-W44 (1 answer) is withheld."""
    leaky = {"2026-W41": {3: 5}, "2026-W43": {3: 1}}
    withheld = internal_digest(3, block=6, trend=leaky)
    assert withheld.scores_gate.block and withheld.comparison is Comparison.WITHHELD
    assert withheld.previous_weeks == ()
    safe = {"2026-W41": {3: 3}, "2026-W43": {3: 3}}
    shown = internal_digest(3, block=6, trend=safe)
    assert shown.comparison is Comparison.SHOWN
    assert shown.previous_weeks == BLOCK_BEFORE_W48.weeks


def test_blocks_are_aligned_and_every_week_is_in_exactly_one() -> None:
    assert Block.at(0).weeks == ("2001-W01", "2001-W02", "2001-W03", "2001-W04")
    assert Block.at(0).start == BLOCK_EPOCH and BLOCK_EPOCH.isoweekday() == 1
    assert BLOCK_W48.weeks == ("2026-W45", "2026-W46", "2026-W47", "2026-W48")
    # Across a 53-week year: 2026-W53 starts a block that ends in 2027.
    crossing = Block.containing("2027-W02")
    assert crossing.weeks == ("2026-W53", "2027-W01", "2027-W02", "2027-W03")
    assert (crossing.first_week, crossing.last_week) == (53, 3)
    week = "2020-W01"
    seen: dict[str, int] = {}
    for _ in range(52 * 8):
        block = Block.containing(week)
        assert week in block.weeks and len(block.weeks) == 4
        assert block.weeks == tuple(periods.last_n(block.weeks[-1], 4))
        assert block.previous().weeks[-1] == periods.previous(block.weeks[0])
        for key in block.weeks:
            assert seen.setdefault(key, block.index) == block.index  # one block per week
        week = periods.shift(week, 1)


def test_the_fallback_block_is_the_latest_closed_one() -> None:
    # A block is shown from the digest of its last week on, never earlier.
    assert closed_block("2026-W48").weeks[0] == "2026-W45"
    for week in ("2026-W45", "2026-W46", "2026-W47"):
        assert closed_block(week).weeks[0] == "2026-W41"
    assert closed_block("2026-W49").weeks[0] == "2026-W45"
    assert closed_block("2026-W52").weeks[0] == "2026-W49"
    # While the block's last week is still running, the block is not closed.
    assert closed_block("2026-W48", in_progress=True).weeks[0] == "2026-W41"
    assert closed_block("2026-W49", in_progress=True).weeks[0] == "2026-W45"


def test_consecutive_digests_show_the_same_block_or_disjoint_ones() -> None:
    """The leak a sliding window had: W44-W47 minus W45-W48, with W44 empty, is W48's one
    response. Blocks cannot be differenced so: consecutive weekly digests show the very same
    block (the same responses, the same figures) or blocks without a week in common."""
    week = "2025-W40"
    same = disjoint = 0
    for _ in range(80):
        for in_progress in (False, True):
            this = closed_block(week, in_progress=in_progress)
            after = closed_block(periods.shift(week, 1), in_progress=in_progress)
            assert this.weeks[-1] <= week and after.weeks[-1] <= periods.shift(week, 1)
            if this == after:
                same += 1
            else:
                assert not set(this.weeks) & set(after.weeks)
                assert after.index == this.index + 1
                disjoint += 1
        # The running week's digest and the same week's closed one: the same rule holds.
        running, closed = closed_block(week, in_progress=True), closed_block(week)
        assert running == closed or not set(running.weeks) & set(closed.weeks)
        week = periods.shift(week, 1)
    assert same == 3 * disjoint  # a block stays for four weeks, then the next one comes


def test_no_change_is_shown_against_a_previous_week_below_the_threshold() -> None:
    # The change would reveal the previous week's score of fewer than 5 people.
    withheld = internal_digest(6, previous=3)
    assert withheld.comparison is Comparison.WITHHELD
    text = plain_text(render_html(withheld, "en"))
    assert "No comparison with the previous week" in text
    assert "(within noise)" not in text and "(significant)" not in text

    shown = internal_digest(6, previous=5)
    assert shown.comparison is Comparison.SHOWN
    overall = shown.scores[0]
    assert overall.change is not None and overall.change.delta == 1.0
    # Every answer the same: no spread to estimate, so no "4.0–4.0" interval is printed.
    assert "Overall: 4.0/5 ▲ +1.0" in plain_text(render_html(shown, "en"))


def test_role_breakdown_only_when_every_group_meets_the_threshold() -> None:
    roles = {"employee": {"overall": {4: 6}}, "contractor": {"overall": {3: 4}}}
    hidden = internal_digest(
        10, role_counts={"employee": 6, "contractor": 4}, role_distributions=roles
    )
    assert hidden.roles == ()
    assert "By respondent group" not in render_html(hidden, "en")

    roles = {"employee": {"overall": {4: 5}}, "contractor": {"overall": {3: 5}}}
    shown = internal_digest(
        10, role_counts={"employee": 5, "contractor": 5}, role_distributions=roles
    )
    assert [(r.role, r.responses) for r in shown.roles] == [("employee", 5), ("contractor", 5)]
    text = plain_text(render_html(shown, "en"))
    assert "Employees: 5 responses, overall 4.0/5" in text
    assert "Contractors: 5 responses, overall 3.0/5" in text
    assert "Wykonawcy: 5 odpowiedzi" in plain_text(render_html(shown, "pl"))


def test_responses_without_a_role_count_as_a_group_of_their_own() -> None:
    # 12 responses, 5 + 5 with a role: the 2 without one would be the difference.
    roles = {"employee": {"overall": {4: 5}}, "contractor": {"overall": {3: 5}}}
    digest = internal_digest(
        12, role_counts={"employee": 5, "contractor": 5}, role_distributions=roles
    )
    assert digest.roles == ()


def test_a_single_role_group_is_no_breakdown() -> None:
    digest = internal_digest(
        8, role_counts={"employee": 8}, role_distributions={"employee": {"overall": {4: 8}}}
    )
    assert digest.roles == ()


def test_internal_trend_leaves_gaps_below_the_threshold() -> None:
    trend = {W48: {4: 5}, W47: {5: 4}, "2026-W46": {3: 6}}
    digest = internal_digest(5, trend=trend)
    by_week = {p.period.key: p.estimate for p in digest.trend}
    assert len(digest.trend) == 12 and digest.trend[-1].period.key == W48
    assert by_week[W47] is None  # 4 answers: would reveal them
    w48, w46 = by_week[W48], by_week["2026-W46"]
    assert w48 is not None and w48.value == 4.0
    assert w46 is not None and w46.value == 3.0
    assert by_week["2026-W45"] is None


def test_external_subjects_have_no_threshold() -> None:
    data = DigestData(window(W48, 1, {"nps": {10: 1}}), window(W47, 0))
    digest = build(data=data)
    assert digest.scores_gate.basis is Basis.PERIOD
    assert digest.headline is not None and digest.headline.kind is ScoreKind.NPS
    assert digest.comparison is Comparison.NO_DATA


def test_nothing_to_report() -> None:
    data = DigestData(window(W48, 0), window(W47, 3), open_invites=3)
    digest = build(data=data)
    assert digest.nothing_to_report
    assert digest.open_invites == 3


def test_partial_responses_alone_are_something_to_report() -> None:
    data = DigestData(window(W48, 0, partial=2), window(W47, 1))
    digest = build(data=data)
    assert not digest.nothing_to_report
    text = plain_text(render_html(digest, "en"))
    assert "Completed: 0 (▼ −1 vs the previous week) · unfinished: 2" in text
    assert "No completed responses to score yet." in text
    assert "95% CI" not in text


def test_response_rate_is_over_the_members_who_could_evaluate() -> None:
    digest = build(DEPARTMENT, INTERNAL, internal(6, evaluators=20))
    assert digest.response_rate == 6 / 20 and digest.evaluators == 20
    assert build(DEPARTMENT, INTERNAL, internal(6, evaluators=0)).response_rate is None
    # More responses than members (some left since they answered): no rate, never
    # "100% (6 of 5)".
    assert build(DEPARTMENT, INTERNAL, internal(6, evaluators=5)).response_rate is None
    # A product's buyers are no known population: no response rate at all.
    external = build(data=DigestData(window(W48, 3, started=4), window(W47, 0)))
    assert external.response_rate is None and external.evaluators is None


def test_completion_rate_follows_the_sessions_started_in_the_week() -> None:
    # 4 started this week, 2 of them completed; 3 responses were completed this week (one
    # of a session started the week before): 2 of 4, not 3 of 4.
    data = DigestData(window(W48, 3, started=4, started_completed=2), window(W47, 0))
    digest = build(data=data)
    assert digest.completion_rate == 0.5
    text = plain_text(render_html(digest, "en"))
    assert "Completion rate: 50% (2 of the 4 surveys started this week completed)" in text
    assert "Completion rate: of the surveys started this week, the share completed" in text
    assert "There is no response rate: how many buyers could have answered is not known." in (text)
    # A week counted before completions were (migration 0006): no rate rather than a guess.
    unknown = DigestData(window(W48, 3, started=4, started_completed=None), window(W47, 0))
    assert build(data=unknown).completion_rate is None
    assert "Completion rate" not in plain_text(render_html(build(data=unknown), "en"))
    # Nothing started in the week (all responses from sessions started before): none.
    assert build(data=DigestData(window(W48, 2, started=0), window(W47, 0))).completion_rate is None


def test_comments_prefer_the_longest_and_show_newest_first() -> None:
    comments = [
        comment("short", day=28),
        comment("a bit longer comment", day=23),
        comment("the longest comment of them all, really", day=24),
        comment("medium length text", day=27),
        comment("x" * 5, day=29),
    ]
    data = DigestData(window(W48, 5), window(W47, 0), comments=comments)
    digest = build(data=data)
    assert [c.text for c in digest.comments] == [
        "medium length text",
        "the longest comment of them all, really",
        "a bit longer comment",
    ]


def test_comments_are_clipped_at_a_word_boundary() -> None:
    text = "Delivery was late again and " * 30
    clipped, was_clipped = clip(text)
    assert was_clipped
    assert len(clipped) <= 280
    assert clipped.endswith("…")
    assert text.startswith(clipped[:-1])
    assert text[len(clipped) - 1] == " "  # the cut falls between words
    assert clip("  two\n\nlines  ") == ("two lines", False)
    # One enormous word (a URL) is cut mid-word rather than dropped.
    url, _ = clip("see https://example.com/" + "a" * 400)
    assert len(url) == 280 and url.endswith("…")


def test_strongest_and_weakest_question() -> None:
    # Ranked by the share of favourable (4-5) answers: 6 of 6, 3 of 6, 0 of 6; the
    # Wilson intervals of the two ends (61-100% and 0-39%) do not overlap.
    dist = internal_distributions(4, 4, 4, 2, 2, 2)
    dist["reliability"] = {5: 6}
    dist["communication"] = {2: 6}
    data = replace(internal(6), period=window(W48, 6, dist))
    digest = build(DEPARTMENT, INTERNAL, data)
    assert digest.strongest is not None and digest.strongest.question_id == "reliability"
    assert digest.weakest is not None and digest.weakest.question_id == "communication"
    text = plain_text(render_html(digest, "en"))
    assert "Strongest: Reliability, 100% favourable (4–5)" in text
    assert "Weakest: Communication, 0% favourable (4–5)" in text
    pl = plain_text(render_html(digest, "pl"))
    assert "Najmocniejsza strona: Rzetelność, 100% ocen pozytywnych (4–5)" in pl
    assert "Najsłabsza strona: Komunikacja, 0% ocen pozytywnych (4–5)" in pl


def test_in_progress_digest_says_so() -> None:
    data = DigestData(window(W48, 2, {"nps": {9: 2}}), window(W47, 0))
    digest = build(data=data, in_progress=True)
    assert "The week is not over yet" in plain_text(render_html(digest, "en"))
    assert "Tydzień jeszcze trwa" in plain_text(render_html(digest, "pl"))


def test_comment_times_are_kept() -> None:
    data = DigestData(window(W48, 5), window(W47, 0), comments=[comment("hello", day=26)])
    digest = build(data=data)
    assert digest.comments[0].submitted_at == datetime(2026, 11, 26, 12, tzinfo=UTC)


def test_an_internal_units_comments_are_not_ordered_by_time() -> None:
    """Within a pooled unit, newest-first would tell which week each comment came from."""
    texts = ["short one", "the longest comment of them all", "medium comment"]
    data = replace(
        internal(3, block=6, comments=3),
        comments=[comment(text, day=23 + i) for i, text in enumerate(texts)],
    )
    digest = build(DEPARTMENT, INTERNAL, data)
    assert digest.scores_gate.block
    assert [c.text for c in digest.comments] == [
        "the longest comment of them all",
        "medium comment",
        "short one",
    ]
