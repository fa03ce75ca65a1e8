"""When digests and pulses are due (pure functions of settings and time) and the loop sending them.

The decision is recomputed from the database on every tick, so the schedule is
"rebuilt at start-up" by construction: nothing about it lives only in memory, and the
first tick after a restart sends whatever fell due while the bot was down (for a
digest only the latest closed period: an owner back from ten weeks of downtime gets
one digest, not ten). The outbox's dedup keys make enqueuing idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from telegram import Bot

from bot.config import Settings
from bot.context import FeedbotApplication
from bot.delivery import OutboxKind, digest_key, pulse_key, sender
from bot.delivery.sender import DrainReport, Pacer
from bot.services import Services
from storage import members as member_repo
from storage import outbox as outbox_repo
from storage import owners as owner_repo
from storage.connection import Connection
from storage.models import Owner, OwnerSettings, Subject
from surveys import periods

log = logging.getLogger(__name__)

TICK_JOB = "delivery-tick"
# The sender's poll: digests and pulses fall due by the clock, and items queued by another
# process (`feedbot digest send`, a second bot) are found this way. A detractor alert
# queued in this process wakes the sender at once instead (`OutboxWakeup`).
TICK_SECONDS = 60
FIRST_TICK_SECONDS = 5
STOP_GRACE_SECONDS = 10.0  # how long a stop lets the tick under way finish
PULSED_KEY = "delivery.pulsed"  # bot_data: pulse periods fully enqueued by this process
LOOP_KEY = "delivery.loop"  # bot_data: the running DeliveryLoop

# Pulses go out on a working-day morning: from Tuesday 10:00 of the pulse period's first
# week, and (after downtime) on the following weekday mornings until everyone got one.
PULSE_WEEKDAY = 1  # Tuesday
PULSE_FIRST_HOUR = 10
PULSE_LAST_HOUR = 12  # enqueue until 12:59 local, never in the evening or at weekends
# Pulse periods of N weeks are counted from this Monday, so they do not depend on when
# the bot was started.
PULSE_EPOCH = date(2024, 1, 1)


# ---------------------------------------------------------------------- digests (pure)


@dataclass(frozen=True)
class SendTime:
    """When an owner wants digests: a weekday (0 = Monday) and hour in their time zone."""

    weekday: int
    hour: int
    timezone: str

    @classmethod
    def of(cls, settings: OwnerSettings) -> SendTime:
        return cls(settings.weekday, settings.hour, settings.timezone)


def digest_due_at(when: SendTime, period_key: str, *, period_zone: str) -> datetime:
    """When the digest of a weekly period falls due (UTC): the owner's weekday and hour as
    wall-clock time in their zone, in the week after the period.

    Wall-clock arithmetic is what keeps "Monday 09:00" at 09:00 across a daylight-saving
    change. A nonexistent hour (02:30 on a spring-forward night) maps to the moment the
    clocks jump; an ambiguous one to its first occurrence. Never earlier than the
    period's end in `period_zone` (the zone responses are filed in), so an owner far
    east of it never gets a period that is still open."""
    following = periods.span(periods.shift(period_key, 1)).start
    closes = datetime.combine(following, time(0), tzinfo=ZoneInfo(period_zone))
    local = datetime.combine(
        following + timedelta(days=when.weekday), time(when.hour), tzinfo=ZoneInfo(when.timezone)
    )
    return max(local.astimezone(UTC), closes.astimezone(UTC))


def _current_period(now: datetime, period_zone: str) -> str:
    return periods.week_key(now.astimezone(ZoneInfo(period_zone)).date())


def due_digest_period(when: SendTime, now: datetime, *, period_zone: str) -> str:
    """The latest closed period whose digest is due at `now` (there always is one)."""
    current = _current_period(now, period_zone)
    for back in range(1, 5):
        key = periods.shift(current, -back)
        if digest_due_at(when, key, period_zone=period_zone) <= now:
            return key
    raise AssertionError("a digest falls due within two weeks of its period")  # pragma: no cover


def next_digest_at(when: SendTime, now: datetime, *, period_zone: str) -> datetime:
    """The first moment after `now` when a digest falls due (for /settings)."""
    current = _current_period(now, period_zone)
    for ahead in range(-2, 3):
        moment = digest_due_at(when, periods.shift(current, ahead), period_zone=period_zone)
        if moment > now:
            return moment
    raise AssertionError("a digest falls due every week")  # pragma: no cover


# ----------------------------------------------------------------------- pulses (pure)


def pulse_period(day: date, weeks: int) -> str:
    """The key of the pulse period of `weeks` weeks containing `day`: its first week."""
    if weeks <= 0:
        raise ValueError("pulses are off")
    monday = day - timedelta(days=day.weekday())
    index = (monday - PULSE_EPOCH).days // 7 // weeks
    return periods.week_key(PULSE_EPOCH + timedelta(weeks=index * weeks))


def pulse_at(pulse_key_: str, zone: str) -> datetime:
    """When a pulse period's invitations start (UTC): Tuesday 10:00 local of its first week."""
    start = periods.span(pulse_key_).start + timedelta(days=PULSE_WEEKDAY)
    return datetime.combine(start, time(PULSE_FIRST_HOUR), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def due_pulse_period(now: datetime, *, weeks: int, zone: str) -> str | None:
    """The pulse period whose invitations may go out at `now`, or None: pulses are off
    (`weeks` 0), not started yet in this period, or it is not a working-day morning."""
    if weeks <= 0:
        return None
    local = now.astimezone(ZoneInfo(zone))
    key = pulse_period(local.date(), weeks)
    if now < pulse_at(key, zone):
        return None
    if local.weekday() >= 5 or not PULSE_FIRST_HOUR <= local.hour <= PULSE_LAST_HOUR:
        return None
    return key


# ---------------------------------------------------------------------- enqueuing


async def enqueue_due_digests(conn: Connection, settings: Settings, now: datetime) -> list[str]:
    """Queue each active, unpaused owner's due digest of every subject they own; returns
    the dedup keys newly queued. Ownerships that began after the digest fell due are
    skipped (a new owner waits for their first scheduled digest)."""
    owned: dict[int, list[tuple[Owner, Subject]]] = defaultdict(list)
    for owner, subject in await owner_repo.list_owners(conn):
        if not subject.archived:
            owned[owner.telegram_id].append((owner, subject))
    queued: list[str] = []
    for owner_settings in await owner_repo.list_active_owner_settings(
        conn, default_timezone=settings.timezone
    ):
        if owner_settings.paused:
            continue
        when = SendTime.of(owner_settings)
        period = due_digest_period(when, now, period_zone=settings.timezone)
        due_at = digest_due_at(when, period, period_zone=settings.timezone)
        for owner, subject in owned.get(owner_settings.telegram_id, []):
            if owner.since > due_at:
                continue
            key = digest_key(owner.telegram_id, subject.id, period)
            payload = {
                "owner": owner.telegram_id,
                "subject_id": subject.id,
                "period": period,
                "lang": owner_settings.lang,
            }
            if await outbox_repo.enqueue(
                conn,
                kind=OutboxKind.DIGEST,
                dedup_key=key,
                chat_id=owner.telegram_id,
                payload_json=json.dumps(payload),
                due_at=due_at,
                now=now,
            ):
                queued.append(key)
    return queued


async def enqueue_due_pulses(
    conn: Connection,
    settings: Settings,
    now: datetime,
    done: set[str] | None = None,
) -> list[str]:
    """Queue one pulse per unmuted member registered before the pulse period started;
    returns the dedup keys newly queued. `done` (pulse periods already fully queued by
    this process) spares re-checking every member on every tick of the morning."""
    period = due_pulse_period(now, weeks=settings.pulse_weeks, zone=settings.timezone)
    if period is None or (done is not None and period in done):
        return []
    started = pulse_at(period, settings.timezone)
    week = periods.week_key(now.astimezone(settings.tz).date())
    queued: list[str] = []
    for member in await member_repo.list_members(conn):
        if member.registered_at > started:
            continue  # they just joined through a link and saw the departments then
        key = pulse_key(member.telegram_id, period)
        payload = {"member": member.telegram_id, "period": period, "week": week}
        if await outbox_repo.enqueue(
            conn,
            kind=OutboxKind.PULSE,
            dedup_key=key,
            chat_id=member.telegram_id,
            payload_json=json.dumps(payload),
            due_at=now,
            now=now,
        ):
            queued.append(key)
    if done is not None:
        done.add(period)
    return queued


# ---------------------------------------------------------------------- the job


@dataclass(frozen=True)
class TickReport:
    """What one tick queued and how the drain went."""

    digests: list[str]
    pulses: list[str]
    drained: DrainReport


async def tick(
    services: Services,
    bot: Bot,
    *,
    pacer: Pacer | None = None,
    pulsed: set[str] | None = None,
) -> TickReport:
    """Queue what is due now, then send what the outbox holds."""
    now = services.now()
    async with services.db.transaction() as conn:
        digests = await enqueue_due_digests(conn, services.settings, now)
        pulses = await enqueue_due_pulses(conn, services.settings, now, pulsed)
    if digests or pulses:
        log.info("queued %d digests and %d pulses", len(digests), len(pulses))
    drained = await sender.drain(services, bot, pacer=pacer)
    return TickReport(digests, pulses, drained)


class DeliveryLoop:
    """The sender of the running bot, two tasks on one pacer:

    - the poll: a tick (queue what is due, drain the outbox) `first` seconds after the
      start, then every `interval` seconds; ticks never overlap;
    - the alerts: waits on `services.outbox_wakeup` (notified once a detractor alert is
      committed in this process) with `interval` as its time-out, and then drains the
      alerts alone, so that an alert never waits for the next poll, nor behind a
      Monday's digests being sent by the poll meanwhile. A notification given during
      that drain starts another one when it ends.

    Both claim each item before sending it (`sender.deliver`), so they never send the
    same one twice. An alert queued by another process is found by the poll."""

    def __init__(
        self,
        services: Services,
        bot: Bot,
        *,
        interval: float = TICK_SECONDS,
        first: float = FIRST_TICK_SECONDS,
        pulsed: set[str] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self._services = services
        self._bot = bot
        self._interval = interval
        self._first = first
        self._pulsed = pulsed if pulsed is not None else set()
        self._pacer = pacer or Pacer()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start both tasks on the running event loop."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._poll(), name=TICK_JOB),
            loop.create_task(self._alerts(), name=f"{TICK_JOB}-alerts"),
        ]

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Let the drains under way finish (within `grace` seconds, else cancel them)."""
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        self._stopping.set()
        self._services.outbox_wakeup.notify()  # out of its wait, to see it must stop
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        """`seconds`, or less when the loop is stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _poll(self) -> None:
        await self._sleep(self._first)
        while not self._stopping.is_set():
            try:
                await tick(self._services, self._bot, pacer=self._pacer, pulsed=self._pulsed)
            except Exception:  # the loop must outlive a failed tick (e.g. database busy)
                log.exception("delivery tick failed")
            await self._sleep(self._interval)

    async def _alerts(self) -> None:
        wakeup = self._services.outbox_wakeup
        while not self._stopping.is_set():
            if not await wakeup.wait(self._interval) or self._stopping.is_set():
                continue
            try:
                await sender.drain(
                    self._services, self._bot, pacer=self._pacer, kinds=(OutboxKind.ALERT,)
                )
            except Exception:
                log.exception("sending detractor alerts failed")


async def schedule(app: FeedbotApplication) -> None:
    """Start the delivery loop (a restart of the scheduling replaces it, never adds one);
    its first tick, seconds after start-up, sends what fell due while the bot was down."""
    await stop(app)
    pulsed: set[str] = app.bot_data.setdefault(PULSED_KEY, set())
    loop = DeliveryLoop(app.services, app.bot, pulsed=pulsed)
    app.bot_data[LOOP_KEY] = loop
    loop.start()


async def stop(app: FeedbotApplication) -> None:
    """Stop the delivery loop, if one runs (at shutdown, before the bot and the database
    close)."""
    loop = app.bot_data.pop(LOOP_KEY, None)
    if isinstance(loop, DeliveryLoop):
        await loop.stop()
