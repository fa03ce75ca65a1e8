"""Pulse invitations: once per member and pulse period, muted members skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.delivery import OutboxKind, pulse_key
from bot.i18n import t
from storage import members as member_repo
from storage.models import OutboxStatus
from tests.delivery.support import BotWorld, add_member, outbox, tick

EMPLOYEE, CONTRACTOR, MUTED, NEWCOMER = 2001, 2002, 2003, 2004
# The clock starts on Wednesday 2026-11-25, 10:00 in Warsaw: the four-week pulse period
# that began with week 2026-W45 has been open since Tuesday 3 Nov (the bot was down then).
PERIOD = "2026-W45"
NEXT_PERIOD_START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # Tuesday 1 Dec, 10:00 Warsaw


async def members(world: BotWorld) -> None:
    await add_member(world, EMPLOYEE, "marketing")
    await add_member(world, CONTRACTOR, None, lang="pl")
    await add_member(world, MUTED, "sales", muted=True)
    await add_member(world, NEWCOMER, "sales", since=world.clock() - timedelta(days=1))


async def test_each_member_gets_one_pulse_per_period_and_muted_ones_none(world: BotWorld) -> None:
    await members(world)

    first = await tick(world)
    world.clock.advance(days=1, minutes=30)  # Thursday morning: same period
    second = await tick(world)

    assert sorted(first.pulses) == [pulse_key(EMPLOYEE, PERIOD), pulse_key(CONTRACTOR, PERIOD)]
    assert second.pulses == []
    assert world.telegram.texts(EMPLOYEE) == [t("en", "member.pulse")]
    assert world.telegram.texts(CONTRACTOR) == [t("pl", "member.pulse")]
    assert world.telegram.messages(MUTED) == [] and world.telegram.messages(NEWCOMER) == []
    # Buttons for the departments that serve them (never their own) and to mute.
    buttons = world.telegram.messages(EMPLOYEE)[0].button_texts
    assert "Sales" in buttons and "Marketing" not in buttons
    assert buttons[-1] == t("en", "member.pulse_mute_button")
    # Response rates count the members reached, in the week they were reached.
    invited = await world.rows("SELECT telegram_id, week_key, source FROM member_invitations")
    assert sorted(invited) == [(EMPLOYEE, "2026-W48", "pulse"), (CONTRACTOR, "2026-W48", "pulse")]

    world.clock.now = NEXT_PERIOD_START
    third = await tick(world)
    assert sorted(third.pulses) == [
        pulse_key(EMPLOYEE, "2026-W49"),
        pulse_key(CONTRACTOR, "2026-W49"),
        pulse_key(NEWCOMER, "2026-W49"),
    ]


async def test_no_pulses_in_the_evening_or_when_turned_off(world: BotWorld) -> None:
    await members(world)
    world.clock.advance(hours=8)  # 18:00 in Warsaw
    assert (await tick(world)).pulses == []
    world.clock.advance(hours=16)
    world.services.settings.pulse_weeks = 0
    assert (await tick(world)).pulses == []


async def test_the_mute_button_stops_further_pulses(world: BotWorld) -> None:
    await add_member(world, EMPLOYEE, "marketing")
    await tick(world)
    member = world.user(EMPLOYEE)

    member.press(t("en", "member.pulse_mute_button"))
    await world.deliver()

    assert member.last_message().text == t("en", "member.pulses_off")
    stored = await member_repo.get_member(world.services.db.conn, EMPLOYEE)
    assert stored is not None and stored.pulse_muted
    pulse = world.telegram.messages(EMPLOYEE)[0]
    assert t("en", "member.pulse_mute_button") not in pulse.button_texts
    assert "Sales" in pulse.button_texts  # still there to evaluate
    world.clock.now = NEXT_PERIOD_START
    assert (await tick(world)).pulses == []


async def test_pulses_command_toggles_the_invitations(world: BotWorld) -> None:
    await add_member(world, EMPLOYEE, "marketing")
    member = world.user(EMPLOYEE)

    member.send_command("/pulses")
    await world.deliver()
    assert member.last_message().text == t("en", "member.pulses_off")
    member.send_command("/pulses")
    await world.deliver()
    # The interval the scheduler uses (FEEDBOT_PULSE_WEEKS, 4 by default), not "monthly".
    assert (
        member.last_message().text
        == "You'll get an invitation to evaluate departments every 4 weeks."
    )

    stranger = world.user(2999)
    stranger.send_command("/pulses")
    await world.deliver()
    assert stranger.last_message().text == t("en", "member.not_member")


async def test_a_member_who_blocked_the_bot_is_muted(world: BotWorld) -> None:
    await add_member(world, EMPLOYEE, "marketing")
    world.telegram.set_blocked(EMPLOYEE, True)
    await tick(world)
    [item] = await outbox(world, OutboxKind.PULSE)
    assert item.status is OutboxStatus.FAILED
    stored = await member_repo.get_member(world.services.db.conn, EMPLOYEE)
    assert stored is not None and stored.pulse_muted
    assert await world.rows("SELECT * FROM member_invitations") == []
