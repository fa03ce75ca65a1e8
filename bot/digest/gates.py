"""The anonymity rules (surveys.anonymity) applied to owners: units settled and recorded."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from bot.digest.model import BLOCK_PERIODS, TREND_PERIODS, Block, week_index
from storage import disclosures
from storage.db import Database
from surveys import anonymity, periods
from surveys.anonymity import Disclosure, Pending, Settlement, Unit, WeekCounts


@lru_cache(maxsize=64)
def closed_block(period_key: str, *, in_progress: bool = False) -> Block:
    """The block a digest of `period_key` falls back on: the latest one whose weeks have
    all ended by the end of the period (by now, when it is `in_progress`). So the
    digests of the four weeks after a block's last week (that week's own digest
    included) all fall back on the same block."""
    last_closed = periods.previous(period_key) if in_progress else period_key
    return Block.at((week_index(last_closed) + 1) // BLOCK_PERIODS - 1)


def _block_weeks(weeks: Iterable[str]) -> list[str]:
    """Every week of the blocks holding these weeks (a pool needs its block's counts)."""
    found: dict[str, None] = {}
    for week in weeks:
        found.update(dict.fromkeys(anonymity.block_weeks(week)))
    return list(found)


async def settle_weeks(
    db: Database,
    subject_id: int,
    weeks: Sequence[str],
    *,
    last_closed: str,
    anonymity_min: int,
    comments_min: int,
    now: datetime,
) -> tuple[Settlement, WeekCounts]:
    """The units of the closed `weeks` of an internal subject, deciding and recording
    those not decided yet; and the per-week counts read with them (for `intact`).

    Reads first; only when something is to be decided does it take the write lock,
    read again under it and record (the decision is made under the lock, so two
    processes deciding at once agree: the second finds the first one's units)."""
    scope = _block_weeks(weeks)
    conn = db.conn
    counts = await disclosures.week_counts(conn, subject_id, scope)
    recorded = await disclosures.units_for(conn, subject_id, scope)
    rules = {"anonymity_min": anonymity_min, "comments_min": comments_min}
    found = anonymity.settle(
        weeks, last_closed=last_closed, recorded=recorded, counts=counts, **rules
    )
    if not found.new:
        return found, counts
    async with db.transaction() as conn:
        counts = await disclosures.week_counts(conn, subject_id, scope)
        recorded = await disclosures.units_for(conn, subject_id, scope)
        found = anonymity.settle(
            weeks, last_closed=last_closed, recorded=recorded, counts=counts, **rules
        )
        await disclosures.record(conn, subject_id, found.new, now=now)
        recorded = await disclosures.units_for(conn, subject_id, scope)
    settled = anonymity.settle(
        weeks, last_closed=last_closed, recorded=recorded, counts=counts, **rules
    )
    return Settlement(settled.units, found.new, settled.pending), counts


def trend_weeks(period_key: str) -> list[str]:
    """The weeks of a digest's trend: TREND_PERIODS ending with the period."""
    return periods.last_n(period_key, TREND_PERIODS)


async def disclose_digest(
    db: Database,
    subject_id: int,
    period_key: str,
    *,
    in_progress: bool,
    today: date,
    now: datetime,
    anonymity_min: int,
    comments_min: int,
) -> tuple[Disclosure, WeekCounts]:
    """What a digest of an internal subject for `period_key` may show (see
    `anonymity.digest_disclosure`): its week, the block it falls back on and its trend
    weeks are settled first."""
    fallback = closed_block(period_key, in_progress=in_progress)
    trend = trend_weeks(period_key)
    needed = [*trend, *fallback.weeks]
    settled, counts = await settle_weeks(
        db,
        subject_id,
        needed,
        last_closed=anonymity.last_closed_week(today),
        anonymity_min=anonymity_min,
        comments_min=comments_min,
        now=now,
    )
    disclosure = anonymity.digest_disclosure(
        period_key, fallback.weeks[0], settled.units, settled.pending, counts, trend
    )
    return disclosure, counts


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What an owner's export of an internal subject may hold: the shown units (oldest
    first) and, for the reply when there are none, what is still waiting."""

    units: tuple[Unit, ...]
    pending: tuple[Pending, ...]
    withheld: int  # completed responses in units withheld for good
    open_week_closes: date  # the day after the running week, whose answers wait for it


async def plan_export(
    db: Database,
    subject_id: int,
    *,
    today: date,
    now: datetime,
    anonymity_min: int,
    comments_min: int,
) -> ExportPlan:
    """Settle every closed week with answers about the subject, and keep the shown units."""
    last_closed = anonymity.last_closed_week(today)
    weeks = await disclosures.answered_weeks(db.conn, subject_id)
    settled, counts = await settle_weeks(
        db,
        subject_id,
        weeks,
        last_closed=last_closed,
        anonymity_min=anonymity_min,
        comments_min=comments_min,
        now=now,
    )
    units = {unit.key: unit for unit in settled.units.values()}
    shown = [u for u in units.values() if anonymity.showable(u, counts) is not None]
    withheld = sum(u.completed for u in units.values() if u.key not in {s.key for s in shown})
    return ExportPlan(
        tuple(sorted(shown, key=lambda u: week_index(u.weeks[0]))),
        tuple(sorted(settled.pending.values(), key=lambda p: week_index(p.week))),
        withheld,
        periods.span(periods.week_key(today)).next_start,
    )
