"""The anonymity rules for every path by which an owner reads internal data: disclosure units.

An owner of a department (internal subject) learns aggregates of colleagues' answers
through several paths: the weekly digest, /digest, /export, the CLI speaking for them.
Each aggregate is a set of responses, and two sets an owner holds can be subtracted.
So the rules are not "is this week big enough now" (which depends on today's settings
and on what was shown before) but a partition decided once and recorded:

- Only CLOSED weeks are ever shown; a week is closed once its last day has ended.
- A closed week W is shown through its DISCLOSURE UNIT. When a path needs W: if W is in
  a recorded unit, that unit is used; else if W has at least K completed responses (K:
  FEEDBOT_ANONYMITY_MIN in force now), unit {W} is recorded; else if W's aligned 4-week
  block has closed, every undecided week of the block is decided in order (alone when
  it has K) and ONE pooled unit is recorded with the block's remaining undecided weeks,
  shown only when their total is at least K, else withheld for good; else W is pending
  (pooled with the other quiet weeks of its block once the block ends).
- Units never overlap (the storage enforces one unit per subject and week), so
  nothing two paths hand out can be subtracted to isolate fewer than K people; a
  threshold change only affects weeks not decided yet.
- A unit's comments are shown when it is shown and holds at least C completed
  responses (FEEDBOT_COMMENTS_MIN); its split by role when it has at least two role
  groups and every group (responses without a role are a group too) holds at least K.
- Trends and "change against previous" use units: a pooled unit is one point and one
  comparison basis, and no per-week number of a week inside a pooled unit is shown.
- A unit is shown only while its weeks still hold the responses it was decided with
  (`intact`): a response stored late into a closed week (a clock or time-zone change
  at midnight) withholds the unit rather than let two versions of it be subtracted.

Pure: no telegram, aiosqlite or jinja2. Storage records and reads units, and settles
them for a path (storage/disclosures.py); bot/digest/compose.py applies them to digests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from surveys.periods import span, week_key
from surveys.schema import Audience

BLOCK_PERIODS = 4
"""How many weeks a pooled unit may span: one aligned block ("4-week block")."""

BLOCK_EPOCH = date(2001, 1, 1)
"""The first day of block 0: a Monday, the first day of ISO week 2001-W01. Blocks are
counted from it, so every week belongs to exactly one block, whatever the year."""

NO_ROLE = ""
"""The role key of responses given without a role (a group of their own)."""

# week key -> role (NO_ROLE for none) -> completed responses
WeekCounts = Mapping[str, Mapping[str, int]]


def week_index(period_key: str) -> int:
    """Weeks from BLOCK_EPOCH to the start of a weekly period (ValueError otherwise)."""
    return (span(period_key).start - BLOCK_EPOCH).days // 7


def block_weeks(period_key: str) -> tuple[str, ...]:
    """The weeks of the aligned block holding a week, oldest first."""
    start = BLOCK_EPOCH + timedelta(weeks=BLOCK_PERIODS * (week_index(period_key) // BLOCK_PERIODS))
    return tuple(week_key(start + timedelta(weeks=i)) for i in range(BLOCK_PERIODS))


def last_closed_week(today: date) -> str:
    """The last week that has ended by `today` (a date in the configured zone)."""
    return week_key(today - timedelta(days=today.isoweekday()))


def is_closed(period_key: str, last_closed: str) -> bool:
    """Whether a week had ended by the time `last_closed` was the last closed week."""
    return week_index(period_key) <= week_index(last_closed)


def alerts_allowed(audience: Audience) -> bool:
    """Whether a single response may be forwarded to an owner on its own: never an
    internal one (one colleague's answer, minutes after they gave it)."""
    return audience is Audience.EXTERNAL


@dataclass(frozen=True, slots=True)
class Unit:
    """A recorded disclosure unit: weeks of one subject shown (or withheld) together."""

    key: str  # the week key of a single week; "pool:<first week of the block>" for a pool
    weeks: tuple[str, ...]  # oldest first
    pooled: bool
    completed: int  # completed responses when decided
    roles: tuple[tuple[str, int], ...]  # role -> completed responses when decided
    anonymity_min: int
    comments_min: int
    scores_shown: bool
    comments_shown: bool
    roles_shown: bool

    @property
    def last_week(self) -> str:
        return self.weeks[-1]


@dataclass(frozen=True, slots=True)
class Pending:
    """A closed week with too few responses of its own whose block has not ended yet."""

    week: str
    completed: int
    needed: int  # more responses the week would have needed to be shown alone
    pooled_after: date  # the day after its block ends


@dataclass(frozen=True, slots=True)
class Settlement:
    """What `settle` found: the unit of every decided week asked for, the units it
    decided now (to record), and the weeks still pending."""

    units: Mapping[str, Unit]  # week -> its unit (recorded before or decided now)
    new: tuple[Unit, ...]
    pending: Mapping[str, Pending] = field(default_factory=dict)


def _roles(counts: WeekCounts, weeks: Iterable[str]) -> dict[str, int]:
    total: dict[str, int] = {}
    for week in weeks:
        for role, n in counts.get(week, {}).items():
            if n:
                total[role] = total.get(role, 0) + n
    return total


def completed_in(counts: WeekCounts, weeks: Iterable[str]) -> int:
    """Completed responses in some weeks."""
    return sum(_roles(counts, weeks).values())


def make_unit(
    weeks: Sequence[str],
    counts: WeekCounts,
    *,
    pooled: bool,
    anonymity_min: int,
    comments_min: int,
) -> Unit:
    """A unit of these weeks decided now with these thresholds."""
    roles = _roles(counts, weeks)
    completed = sum(roles.values())
    shown = completed >= anonymity_min and completed > 0
    named = [role for role in roles if role != NO_ROLE]
    return Unit(
        key=f"pool:{block_weeks(weeks[0])[0]}" if pooled else weeks[0],
        weeks=tuple(weeks),
        pooled=pooled,
        completed=completed,
        roles=tuple(sorted(roles.items())),
        anonymity_min=anonymity_min,
        comments_min=comments_min,
        scores_shown=shown,
        comments_shown=shown and completed >= comments_min,
        roles_shown=shown and len(named) >= 2 and all(n >= anonymity_min for n in roles.values()),
    )


def settle(
    weeks: Iterable[str],
    *,
    last_closed: str,
    recorded: Iterable[Unit],
    counts: WeekCounts,
    anonymity_min: int,
    comments_min: int,
) -> Settlement:
    """Decide the unit of each closed week of `weeks` (open ones are skipped) by the
    rules above, given the units recorded so far and the completed responses per week
    and role of every week of the blocks involved. Pure: the caller records `new`."""
    by_week: dict[str, Unit] = {}
    for unit in recorded:
        for week in unit.weeks:
            by_week[week] = unit
    new: list[Unit] = []
    pending: dict[str, Pending] = {}

    def alone(week: str) -> Unit:
        unit = make_unit(
            [week], counts, pooled=False, anonymity_min=anonymity_min, comments_min=comments_min
        )
        by_week[week] = unit
        new.append(unit)
        return unit

    for week in sorted(set(weeks), key=week_index):
        if week in by_week or not is_closed(week, last_closed):
            continue
        completed = completed_in(counts, [week])
        if completed >= anonymity_min:
            alone(week)
            continue
        block = block_weeks(week)
        if not is_closed(block[-1], last_closed):
            pending[week] = Pending(
                week, completed, anonymity_min - completed, span(block[-1]).next_start
            )
            continue
        quiet: list[str] = []
        for other in block:  # in order: each undecided week alone if it can be
            if other in by_week:
                continue
            if completed_in(counts, [other]) >= anonymity_min:
                alone(other)
            else:
                quiet.append(other)
        pool = make_unit(
            quiet, counts, pooled=True, anonymity_min=anonymity_min, comments_min=comments_min
        )
        new.append(pool)
        for other in quiet:
            by_week[other] = pool
    asked = {w: by_week[w] for w in weeks if w in by_week}
    return Settlement(asked, tuple(new), pending)


def intact(unit: Unit, counts: WeekCounts) -> bool:
    """Whether the unit's weeks still hold exactly the responses it was decided with."""
    return tuple(sorted(_roles(counts, unit.weeks).items())) == unit.roles


def showable(unit: Unit | None, counts: WeekCounts) -> Unit | None:
    """The unit when its scores may be shown now, else None."""
    if unit is None or not unit.scores_shown or not intact(unit, counts):
        return None
    return unit


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What one digest of an internal subject may show, decided from the units.

    `scores`: the unit the scores (and comments, roles when it allows them) come from;
    `previous`: the unit to compare it with (the unit of the week before `scores`'
    first week, shown, of the same kind); `pending`: the digest's own week, when it
    waits for its block; `withheld`: the pool (the week's own, else the one the digest
    would fall back on) withheld for good, when nothing is shown; `trend`: the shown
    units of the trend weeks, one point each."""

    scores: Unit | None
    previous: Unit | None = None
    pending: Pending | None = None
    withheld: Unit | None = None
    trend: tuple[Unit, ...] = ()


def digest_disclosure(
    period_key: str,
    fallback_week: str | None,
    units: Mapping[str, Unit],
    pending: Mapping[str, Pending],
    counts: WeekCounts,
    trend_weeks: Sequence[str],
) -> Disclosure:
    """The disclosure of a digest of `period_key`: the week's own unit when shown, else
    the pool of the last closed block (`fallback_week`: a week of it), else nothing."""
    own = units.get(period_key)
    scores = showable(own, counts)
    withheld = own if own is not None and own.pooled and not own.scores_shown else None
    if scores is None and fallback_week is not None:
        pool = units.get(fallback_week)
        if pool is not None and pool.pooled:
            scores = showable(pool, counts)
            if withheld is None and not pool.scores_shown:
                withheld = pool
    previous = None
    if scores is not None:
        before = week_key(span(scores.weeks[0]).start - timedelta(days=7))
        candidate = showable(units.get(before), counts)
        if candidate is not None and candidate.pooled == scores.pooled and candidate != scores:
            previous = candidate
    trend: dict[str, Unit] = {}
    for week in trend_weeks:
        unit = showable(units.get(week), counts)
        if unit is not None:
            trend[unit.key] = unit
    return Disclosure(
        scores,
        previous,
        pending.get(period_key) if scores is None else None,
        withheld if scores is None else None,
        tuple(sorted(trend.values(), key=lambda u: week_index(u.last_week))),
    )


def scope_weeks(weeks: Iterable[str]) -> list[str]:
    """Every week of the blocks holding these weeks (a pool needs its block's counts), in
    the order first met."""
    found: dict[str, None] = {}
    for week in weeks:
        found.update(dict.fromkeys(block_weeks(week)))
    return list(found)


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What an owner's export of an internal subject may hold: the shown units (oldest
    first) and, for the reply when there are none, what is still waiting."""

    units: tuple[Unit, ...]
    pending: tuple[Pending, ...]
    withheld: int  # completed responses in units withheld for good
    open_week_closes: date  # the day after the running week, whose answers wait for it


def export_plan(settled: Settlement, counts: WeekCounts, *, today: date) -> ExportPlan:
    """The export of every settled week with answers: the units that may be shown."""
    units = {unit.key: unit for unit in settled.units.values()}
    shown = [u for u in units.values() if showable(u, counts) is not None]
    shown_keys = {s.key for s in shown}
    withheld = sum(u.completed for u in units.values() if u.key not in shown_keys)
    return ExportPlan(
        tuple(sorted(shown, key=lambda u: week_index(u.weeks[0]))),
        tuple(sorted(settled.pending.values(), key=lambda p: week_index(p.week))),
        withheld,
        span(week_key(today)).next_start,
    )
