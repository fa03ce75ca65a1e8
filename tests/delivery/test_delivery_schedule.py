"""When digests and pulses fall due: pure functions of settings and time, no waiting."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.delivery.scheduler import (
    LOOP_KEY,
    TICK_JOB,
    DeliveryLoop,
    SendTime,
    digest_due_at,
    due_digest_period,
    due_pulse_period,
    next_digest_at,
    pulse_at,
    pulse_period,
    schedule,
    stop,
)
from tests.delivery.support import OWNER, BotWorld, add_owner

WARSAW = "Europe/Warsaw"
MONDAY_9 = SendTime(weekday=0, hour=9, timezone=WARSAW)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "due"),
    [
        # Summer time (UTC+2) until Sunday 2026-10-25 03:00, then winter time (UTC+1).
        ("2026-W42", utc(2026, 10, 19, 7, 0)),  # Monday 19 Oct 09:00 CEST
        ("2026-W43", utc(2026, 10, 26, 8, 0)),  # Monday 26 Oct 09:00 CET: the week of the change
        ("2026-W44", utc(2026, 11, 2, 8, 0)),
        # Back to summer time on Sunday 2027-03-28.
        ("2027-W11", utc(2027, 3, 22, 8, 0)),  # Monday 22 Mar 09:00 CET
        ("2027-W12", utc(2027, 3, 29, 7, 0)),  # Monday 29 Mar 09:00 CEST
    ],
)
def test_the_digest_falls_due_at_nine_local_time_on_both_sides_of_a_clock_change(
    period: str, due: datetime
) -> None:
    assert digest_due_at(MONDAY_9, period, period_zone=WARSAW) == due


def test_the_schedule_fires_at_the_owners_nine_oclock_across_the_autumn_change() -> None:
    # 2026-10-26 is the first Monday after the change: 09:00 local is 08:00 UTC, not 07:00.
    assert due_digest_period(MONDAY_9, utc(2026, 10, 26, 7, 59), period_zone=WARSAW) == "2026-W42"
    assert due_digest_period(MONDAY_9, utc(2026, 10, 26, 8, 0), period_zone=WARSAW) == "2026-W43"


def test_the_schedule_fires_at_the_owners_nine_oclock_across_the_spring_change() -> None:
    assert due_digest_period(MONDAY_9, utc(2027, 3, 29, 6, 59), period_zone=WARSAW) == "2027-W11"
    assert due_digest_period(MONDAY_9, utc(2027, 3, 29, 7, 0), period_zone=WARSAW) == "2027-W12"


def test_an_owner_in_another_zone_gets_it_at_their_own_nine() -> None:
    new_york = SendTime(0, 9, "America/New_York")
    # US clocks go back on 2026-11-01: Monday 2 Nov 09:00 EST is 14:00 UTC.
    assert digest_due_at(new_york, "2026-W44", period_zone=WARSAW) == utc(2026, 11, 2, 14, 0)
    assert due_digest_period(new_york, utc(2026, 11, 2, 13, 59), period_zone=WARSAW) == "2026-W43"
    assert due_digest_period(new_york, utc(2026, 11, 2, 14, 0), period_zone=WARSAW) == "2026-W44"


def test_a_chosen_day_and_hour_are_kept() -> None:
    friday_5pm = SendTime(4, 17, WARSAW)
    # W48 ends on Sunday 29 Nov; its digest goes on Friday 4 Dec at 17:00 CET.
    assert digest_due_at(friday_5pm, "2026-W48", period_zone=WARSAW) == utc(2026, 12, 4, 16, 0)
    assert due_digest_period(friday_5pm, utc(2026, 12, 3, 12, 0), period_zone=WARSAW) == "2026-W47"


def test_an_owner_far_east_never_gets_a_week_that_is_still_open_where_answers_are_filed() -> None:
    kiritimati = SendTime(0, 0, "Pacific/Kiritimati")  # UTC+14: Monday starts on Sunday morning
    due = digest_due_at(kiritimati, "2026-W48", period_zone=WARSAW)
    assert due == utc(2026, 11, 29, 23, 0)  # Monday 00:00 in Warsaw, not Sunday 10:00 UTC


def test_after_ten_weeks_of_downtime_only_the_latest_closed_week_is_due() -> None:
    back = utc(2027, 2, 3, 12, 0)  # a Wednesday
    assert due_digest_period(MONDAY_9, back, period_zone=WARSAW) == "2027-W04"


def test_the_next_digest_time_is_the_next_monday_at_nine() -> None:
    assert next_digest_at(MONDAY_9, utc(2026, 10, 21, 12, 0), period_zone=WARSAW) == utc(
        2026, 10, 26, 8, 0
    )
    assert next_digest_at(MONDAY_9, utc(2026, 10, 26, 8, 0), period_zone=WARSAW) == utc(
        2026, 11, 2, 8, 0
    )


def test_pulse_periods_are_blocks_of_weeks_that_do_not_depend_on_the_start_of_the_bot() -> None:
    assert pulse_period(date(2026, 11, 25), 4) == pulse_period(date(2026, 11, 9), 4)
    assert pulse_period(date(2026, 11, 25), 1) == "2026-W48"
    keys = {pulse_period(date(2026, 1, 5) + timedelta(days=d), 4) for d in range(364)}
    assert len(keys) in (13, 14)  # one pulse period per four weeks


def test_a_pulse_goes_out_on_a_working_morning_from_tuesday_ten() -> None:
    key = pulse_period(date(2026, 11, 24), 1)  # weekly pulses: the period is the week
    assert pulse_at(key, WARSAW) == utc(2026, 11, 24, 9, 0)
    assert due_pulse_period(utc(2026, 11, 24, 8, 59), weeks=1, zone=WARSAW) is None
    assert due_pulse_period(utc(2026, 11, 24, 9, 0), weeks=1, zone=WARSAW) == key
    assert due_pulse_period(utc(2026, 11, 24, 17, 0), weeks=1, zone=WARSAW) is None  # evening
    assert due_pulse_period(utc(2026, 11, 25, 9, 30), weeks=1, zone=WARSAW) == key  # catch-up
    assert due_pulse_period(utc(2026, 11, 28, 10, 0), weeks=1, zone=WARSAW) is None  # Saturday


def test_no_pulses_when_the_cadence_is_zero() -> None:
    assert due_pulse_period(utc(2026, 11, 24, 10, 0), weeks=0, zone=WARSAW) is None


async def test_one_delivery_loop_runs_however_often_it_is_scheduled(
    world: BotWorld,
) -> None:
    await schedule(world.app)
    first = world.app.bot_data[LOOP_KEY]
    await schedule(world.app)  # a restart of the scheduling, e.g. post_init run again
    second = world.app.bot_data[LOOP_KEY]
    assert isinstance(second, DeliveryLoop) and second.running
    assert first is not second and not first.running  # the first one was stopped
    loops = [t for t in asyncio.all_tasks() if t.get_name() == TICK_JOB and not t.done()]
    assert len(loops) == 1
    await stop(world.app)
    assert not second.running and LOOP_KEY not in world.app.bot_data


async def test_the_loops_poll_sends_what_fell_due(world: BotWorld) -> None:
    """Its first tick (here at once) queues the digest that fell due and sends it."""
    await add_owner(world, OWNER, "coffee")
    loop = DeliveryLoop(world.services, world.app.bot, interval=3600, first=0)
    loop.start()
    try:
        [digest] = await world.telegram.async_wait_for_messages(OWNER, 1, timeout=60)
    finally:
        await loop.stop()
    assert "Morning Coffee" in digest.text and not loop.running
