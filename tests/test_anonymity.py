"""The anonymity rules (surveys.anonymity): disclosure units, decided once, never overlapping."""

from __future__ import annotations

from datetime import date

from surveys import anonymity, periods
from surveys.anonymity import NO_ROLE, Unit, WeekCounts, settle
from surveys.schema import Audience

BLOCK = ("2026-W37", "2026-W38", "2026-W39", "2026-W40")


def counts(*sizes: int, roles: dict[str, dict[str, int]] | None = None) -> WeekCounts:
    """Completed responses per week of BLOCK (and after it), without a role unless told."""
    weekly: dict[str, dict[str, int]] = {}
    for i, n in enumerate(sizes):
        weekly[_week(i)] = {NO_ROLE: n} if n else {}
    for week, by_role in (roles or {}).items():
        weekly[week] = by_role
    return weekly


def _week(i: int) -> str:
    return periods.shift(BLOCK[0], i)


def decide(
    weekly: WeekCounts, last_closed: str, k: int, recorded: tuple[Unit, ...] = (), c: int = 5
) -> anonymity.Settlement:
    return settle(
        list(weekly),
        last_closed=last_closed,
        recorded=recorded,
        counts=weekly,
        anonymity_min=k,
        comments_min=c,
    )


def test_a_closed_week_with_enough_responses_is_its_own_unit() -> None:
    found = decide(counts(5, 2), BLOCK[1], 5)
    unit = found.units[BLOCK[0]]
    assert unit.weeks == (BLOCK[0],) and not unit.pooled and unit.scores_shown
    assert found.new == (unit,)
    # The quiet second week waits for its block to end, and says when.
    pending = found.pending[BLOCK[1]]
    assert pending.needed == 3 and pending.pooled_after == date(2026, 10, 5)


def test_a_running_week_is_never_decided() -> None:
    found = decide(counts(5, 9), BLOCK[0], 5)
    assert BLOCK[1] not in found.units and BLOCK[1] not in found.pending


def test_a_closed_block_pools_its_quiet_weeks_into_one_unit() -> None:
    found = decide(counts(2, 5, 1, 3), BLOCK[3], 5)
    pool = found.units[BLOCK[0]]
    assert pool.pooled and pool.weeks == (BLOCK[0], BLOCK[2], BLOCK[3])
    assert pool.completed == 6 and pool.scores_shown and pool.key == f"pool:{BLOCK[0]}"
    assert found.units[BLOCK[1]].weeks == (BLOCK[1],)
    assert found.units[BLOCK[2]] is pool and found.units[BLOCK[3]] is pool


def test_a_pool_below_the_threshold_is_withheld_for_good() -> None:
    found = decide(counts(5, 2), BLOCK[3], 5)
    pool = found.units[BLOCK[1]]
    assert pool.pooled and pool.completed == 2 and not pool.scores_shown
    assert not pool.comments_shown and not pool.roles_shown
    assert anonymity.showable(pool, counts(5, 2)) is None


def test_raising_the_threshold_changes_only_weeks_not_decided_yet() -> None:
    """Issue 10's attack: K 5 -> 6 after three weeks of 5-6 were shown, a quiet fourth
    week. The old rule pooled all four weeks (18), minus the three shown = that week's 2."""
    first = decide(counts(5, 6, 5), BLOCK[2], 5)
    recorded = tuple({u.key: u for u in first.units.values()}.values())
    assert [u.completed for u in recorded] == [5, 6, 5]
    later = decide(counts(5, 6, 5, 2), BLOCK[3], 6, recorded)
    assert later.units[BLOCK[0]] == first.units[BLOCK[0]]  # decided with 5, kept
    pool = later.units[BLOCK[3]]
    assert pool.weeks == (BLOCK[3],) and pool.completed == 2 and not pool.scores_shown
    assert later.new == (pool,)


def test_units_never_overlap() -> None:
    found = decide(counts(3, 7, 0, 4, 6, 1, 1, 9), _week(7), 5)
    seen: dict[str, str] = {}
    for week, unit in found.units.items():
        assert week in unit.weeks
        for other in unit.weeks:
            assert seen.setdefault(other, unit.key) == unit.key


def test_roles_only_when_every_group_meets_the_threshold() -> None:
    weekly = counts(roles={BLOCK[0]: {"employee": 5, "contractor": 5}})
    assert decide(weekly, BLOCK[0], 5).units[BLOCK[0]].roles_shown
    with_unassigned = counts(roles={BLOCK[0]: {"employee": 5, "contractor": 5, NO_ROLE: 2}})
    assert not decide(with_unassigned, BLOCK[0], 5).units[BLOCK[0]].roles_shown
    one_group = counts(roles={BLOCK[0]: {"employee": 10}})
    assert not decide(one_group, BLOCK[0], 5).units[BLOCK[0]].roles_shown


def test_comments_need_their_own_threshold_within_the_unit() -> None:
    unit = decide(counts(5), BLOCK[0], 5, c=6).units[BLOCK[0]]
    assert unit.scores_shown and not unit.comments_shown
    assert decide(counts(6), BLOCK[0], 5, c=6).units[BLOCK[0]].comments_shown


def test_a_unit_whose_weeks_changed_is_not_shown() -> None:
    """A response stored into a week already decided (the clock at midnight, a time-zone
    change) would let the two versions be subtracted: the unit is withheld instead."""
    unit = decide(counts(5), BLOCK[0], 5).units[BLOCK[0]]
    assert anonymity.showable(unit, counts(5)) == unit
    assert anonymity.showable(unit, counts(6)) is None


def test_a_digest_shows_its_week_else_the_pool_of_the_last_closed_block() -> None:
    weekly = counts(2, 3, 0, 0, 1)
    found = decide(weekly, _week(4), 5)
    trend = [*BLOCK, _week(4)]
    own = anonymity.digest_disclosure(_week(4), BLOCK[0], found.units, found.pending, weekly, trend)
    assert own.scores is not None and own.scores.pooled and own.scores.completed == 5
    assert own.pending is None and own.trend == (own.scores,)
    # Its own week still waits: it is told so only when nothing is shown instead.
    quiet = decide(counts(1, 0, 0, 0, 1), _week(4), 5)
    alone = anonymity.digest_disclosure(
        _week(4), BLOCK[0], quiet.units, quiet.pending, counts(1, 0, 0, 0, 1), trend
    )
    assert alone.scores is None and alone.withheld is not None and alone.pending is not None


def test_the_last_closed_week() -> None:
    assert anonymity.last_closed_week(date(2026, 11, 30)) == "2026-W48"  # a Monday
    assert anonymity.last_closed_week(date(2026, 12, 6)) == "2026-W48"  # the Sunday after
    assert anonymity.block_weeks("2026-W39") == BLOCK


def test_alerts_only_for_external_answers() -> None:
    assert anonymity.alerts_allowed(Audience.EXTERNAL)
    assert not anonymity.alerts_allowed(Audience.INTERNAL)
