"""The outbox sender: each item's parts sent once, in order, with retries and pacing.

A digest is the trend chart (a photo with a caption) and then its text parts. The
number of parts already delivered is committed after each one (`mark_part_sent`), so
an error or a restart between parts resumes with the next part and nothing already
delivered goes out again. The only window for a duplicate is a crash between Telegram
accepting a part and that commit: at-least-once for one message, never for a digest.

Senders in several processes (the bot and `feedbot digest send` on the same database)
never send the same item at once: each item is claimed first (`outbox.claim`, in a
transaction of its own) for LEASE, under this process's id (`process_owner`), and an
item another sender holds is skipped, with the rest of its chat (to keep the chat's
order). The lease is renewed before a part whenever less than half of it is left, and
a sender that finds it lost (another took the item after it ran out) stops sending it.
So LEASE must exceed the time one part takes to send (Telegram time-outs included); a
sender that dies holding a lease delays its item by at most LEASE.

Errors: `RetryAfter` reschedules the item at now + retry_after and ends the drain (the
flood limit is the bot's, not the chat's); `Forbidden` (the user blocked the bot) marks
the owner inactive or mutes the member and fails the item at once; `BadRequest` fails
it (retrying cannot fix it); other errors (network, time-outs, 5xx) retry with
exponential backoff, MAX_ATTEMPTS in all.

Pacing is our own `Pacer` (1 message per second per chat, 30 per second overall), so
the same code paces the bot and `feedbot digest send`, whose plain `telegram.Bot` has
no rate limiter. The application's AIORateLimiter, when present, also applies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.callbacks import Action, encode
from bot.delivery import OutboxKind
from bot.delivery.alerts import render_alert
from bot.digest.compose import compose_digest
from bot.digest.model import Digest
from bot.digest.render import caption, render_digest
from bot.i18n import normalize_language, plain, t
from bot.render import department_keyboard
from bot.services import Services
from bot.web.links import dashboard_keyboard
from storage import members as member_repo
from storage import outbox as outbox_repo
from storage import owners as owner_repo
from storage import subjects as subject_repo
from storage.errors import NotFound
from storage.models import InvitationSource, OutboxItem, Subject, SubjectKind
from surveys.loader import UnknownSurvey

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=2)
BATCH = 200
CONCURRENT_CHATS = 16
# How long a claim on an outbox item lasts: far longer than one part takes to send.
LEASE = timedelta(minutes=2)
# Charts are drawn off the event loop in one thread of their own: matplotlib is not
# thread-safe, and that thread's figure and its backgrounds are reused chart after chart
# (bot.digest.chart.TrendFigure), which is what makes a chart cost milliseconds.
_DRAWING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedbot-chart")


# ---------------------------------------------------------------------- parts


@dataclass(frozen=True)
class Photo:
    """A PNG with its HTML caption."""

    png: bytes
    caption: str


@dataclass(frozen=True)
class Text:
    """An HTML message, optionally with an inline keyboard."""

    html: str
    keyboard: InlineKeyboardMarkup | None = None


Part = Photo | Text


def describe(parts: Sequence[Part]) -> str:
    """ "chart + 2 messages", for logs and the dry run."""
    photos = sum(isinstance(p, Photo) for p in parts)
    texts = len(parts) - photos
    words = [f"{texts} message{'s' if texts != 1 else ''}"]
    if photos:
        words.insert(0, "chart")
    return " + ".join(words)


async def digest_parts(
    services: Services,
    subject: Subject,
    lang: str,
    period_key: str,
    *,
    closed_only: bool,
    from_part: int = 0,
) -> list[Part]:
    """A digest composed now from the database: the chart photo (when there is a trend to
    draw) and the text parts, in `lang`. Parts before `from_part` were sent already: the
    chart is then not drawn again (its place is kept by an empty Photo)."""
    definition = services.surveys.latest(subject.survey_id)
    # Periods are filed by the configured zone's calendar, so "now" is read there too.
    now = services.now().astimezone(services.settings.tz)
    digest = await compose_digest(
        services.db,
        subject,
        definition,
        period_key,
        anonymity_min=services.settings.anonymity_min,
        comments_min=services.settings.comments_threshold,
        now=now,
        closed_only=closed_only,
    )
    parts: list[Part] = []
    if from_part > 0 and digest.has_chart:
        parts.append(Photo(b"", ""))
    else:
        png = await asyncio.get_running_loop().run_in_executor(_DRAWING, _draw, digest, lang)
        if png is not None:
            parts.append(Photo(png, caption(digest, lang)))
    parts.extend(Text(text) for text in render_digest(digest, lang))
    # "📊 Dashboard" under the digest's last message, when the dashboard is on.
    keyboard = dashboard_keyboard(services.settings, lang, subject.slug)
    if keyboard is not None and parts and isinstance(parts[-1], Text):
        parts[-1] = Text(parts[-1].html, keyboard)
    return parts


def _draw(digest: Digest, lang: str) -> bytes | None:
    # Imported here, in the drawing thread: matplotlib takes about 0.4 s to import, which
    # would otherwise hold up the event loop at start-up for a chart drawn days later.
    from bot.digest.chart import digest_chart

    return digest_chart(digest, lang)


async def pulse_parts(services: Services, member_id: int) -> list[Part] | None:
    """The pulse invitation with the department buttons and a mute button, or None when
    the member is gone, muted meanwhile, or has nothing to evaluate."""
    member = await member_repo.get_member(services.db.conn, member_id)
    if member is None or member.pulse_muted:
        return None
    lang = normalize_language(member.lang)
    keyboard = await department_keyboard(services, member, lang)
    if keyboard is None:
        return None
    mute = InlineKeyboardButton(
        plain(lang, "member.pulse_mute_button"), callback_data=encode(Action.MUTE_PULSE, 1)
    )
    rows = [*keyboard.inline_keyboard, (mute,)]
    return [Text(t(lang, "member.pulse"), InlineKeyboardMarkup(rows))]


async def _owner_may_receive(
    services: Services, owner_id: int, subject_id: int, *, alerts: bool
) -> Subject | None:
    """The subject, if the owner still owns it, is active and wants this kind of message."""
    conn = services.db.conn
    subject = await subject_repo.get_subject_by_id(conn, subject_id)
    if subject is None or subject.archived:
        return None
    if not await owner_repo.is_owner(conn, owner_id, subject_id):
        return None
    settings = await owner_repo.get_owner_settings(
        conn, owner_id, default_timezone=services.settings.timezone
    )
    if not settings.active:
        return None
    if alerts and not settings.detractor_alerts:
        return None
    if not alerts and settings.paused:
        return None
    return subject


async def parts_for(services: Services, item: OutboxItem) -> list[Part] | None:
    """What an outbox item sends, composed now; None when it should no longer be sent."""
    payload: dict[str, Any] = json.loads(item.payload_json)
    if item.kind == OutboxKind.DIGEST:
        subject = await _owner_may_receive(
            services, payload["owner"], payload["subject_id"], alerts=False
        )
        if subject is None:
            return None
        internal = subject.kind is SubjectKind.DEPARTMENT
        lang = normalize_language(payload.get("lang"))
        return await digest_parts(services, subject, lang, payload["period"], closed_only=internal)
    if item.kind == OutboxKind.PULSE:
        return await pulse_parts(services, payload["member"])
    if item.kind == OutboxKind.ALERT:
        subject = await _owner_may_receive(
            services, payload["owner"], payload["subject_id"], alerts=True
        )
        if subject is None or subject.kind is not SubjectKind.PRODUCT:
            return None
        settings = await owner_repo.get_owner_settings(
            services.db.conn, payload["owner"], default_timezone=services.settings.timezone
        )
        return [Text(render_alert(payload, subject, normalize_language(settings.lang)))]
    raise ValueError(f"unknown outbox kind {item.kind!r}")


# ---------------------------------------------------------------------- sending


class Pacer:
    """Spaces sends: at most one per `per_chat` seconds in a chat and `per_second` overall.

    Slots are reserved before sleeping, so concurrent senders never pick the same one."""

    def __init__(
        self,
        *,
        per_second: float = 30.0,
        per_chat: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._gap = 1.0 / per_second if per_second > 0 else 0.0
        self._per_chat = per_chat
        self._clock = clock
        self._sleep = sleep
        self._next_any = 0.0
        self._next_in_chat: dict[int, float] = {}

    @classmethod
    def unpaced(cls) -> Pacer:
        """No waiting at all (tests, and a handful of messages answering a command)."""
        return cls(per_second=0, per_chat=0)

    async def wait(self, chat_id: int) -> None:
        """Sleep until a message to `chat_id` may be sent, and take that slot."""
        if not self._gap and not self._per_chat:
            return
        now = self._clock()
        slot = max(now, self._next_any, self._next_in_chat.get(chat_id, 0.0))
        self._next_any = slot + self._gap
        self._next_in_chat[chat_id] = slot + self._per_chat
        if slot > now:
            await self._sleep(slot - now)


async def send_part(bot: Bot, chat_id: int, part: Part) -> None:
    """Send one part (parse mode and link previews set here: a plain Bot has no defaults)."""
    if isinstance(part, Photo):
        await bot.send_photo(
            chat_id, photo=part.png, caption=part.caption, parse_mode=ParseMode.HTML
        )
    else:
        await bot.send_message(
            chat_id,
            part.html,
            parse_mode=ParseMode.HTML,
            reply_markup=part.keyboard,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


async def send_parts(bot: Bot, chat_id: int, parts: Sequence[Part], pacer: Pacer) -> None:
    """Send parts in order, without an outbox (the on-demand /digest)."""
    for part in parts:
        await pacer.wait(chat_id)
        await send_part(bot, chat_id, part)


_process_owner: tuple[int, str] | None = None


def process_owner() -> str:
    """This process's id as a sender, "host:pid:random" (a forked child gets its own)."""
    global _process_owner
    pid = os.getpid()
    if _process_owner is None or _process_owner[0] != pid:
        _process_owner = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}")
    return _process_owner[1]


class Result(StrEnum):
    """How delivering one outbox item ended this time."""

    SENT = "sent"
    RETRY = "retry"  # a transient error: backoff
    FLOOD = "flood"  # RetryAfter: rescheduled, and the drain stops
    FAILED = "failed"  # gave up (blocked, bad request, too many attempts)
    DROPPED = "dropped"  # no longer wanted (owner paused or gone, member muted)
    SKIPPED = "skipped"  # another sender holds it (or took it over while it was sent)


@dataclass
class DrainReport:
    """Counts of results of one drain."""

    results: Counter[Result] = field(default_factory=Counter)

    def __getitem__(self, result: Result) -> int:
        return self.results[result]

    def __str__(self) -> str:
        counts = [f"{r.value} {self.results[r]}" for r in Result if self.results[r]]
        return ", ".join(counts) or "nothing due"


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: 1, 2, 4, 8 ... minutes, at most 2 hours
    (with MAX_ATTEMPTS 8, an item is given up about two hours after its first failure)."""
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def _fail(services: Services, item: OutboxItem, error: str) -> None:
    async with services.db.transaction() as conn:
        await outbox_repo.mark_failed(conn, item.id, error=error[:500])


async def _retry(services: Services, item: OutboxItem, error: str, at: datetime) -> Result:
    attempts = item.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        log.warning("giving up on outbox item %s after %d attempts: %s", item.id, attempts, error)
        await _fail(services, item, error)
        return Result.FAILED
    async with services.db.transaction() as conn:
        await outbox_repo.mark_retry(conn, item.id, error=error[:500], next_attempt_at=at)
    return Result.RETRY


async def _blocked(services: Services, item: OutboxItem, error: str) -> None:
    """The user blocked the bot: stop writing to them until they come back."""
    async with services.db.transaction() as conn:
        if item.kind == OutboxKind.PULSE:
            try:
                await member_repo.set_pulse_muted(conn, item.chat_id, True)
            except NotFound:
                pass
        else:
            await owner_repo.mark_owner_inactive(conn, item.chat_id)
        await outbox_repo.mark_failed(conn, item.id, error=error[:500])
    log.info("chat %s blocked the bot; %s item %s dropped", item.chat_id, item.kind, item.id)


async def _finish(services: Services, item: OutboxItem, parts: int) -> None:
    payload: dict[str, Any] = json.loads(item.payload_json)
    async with services.db.transaction() as conn:
        await outbox_repo.mark_part_sent(conn, item.id, parts)
        await outbox_repo.mark_sent(conn, item.id, now=services.now())
        if item.kind == OutboxKind.PULSE:
            # Which members a pulse reached, per week (no longer a digest's denominator:
            # the response rate counts every member who could evaluate, issue 11).
            await member_repo.record_invitation(
                conn, item.chat_id, week_key=payload["week"], source=InvitationSource.PULSE
            )


async def _claim(services: Services, item: OutboxItem, owner: str) -> OutboxItem | None:
    """Claim the item for `owner` (committed at once): the item as it is now, or None when
    another sender holds it or it was settled since it was listed as due."""
    async with services.db.transaction() as conn:
        if not await outbox_repo.claim(conn, item.id, owner=owner, now=services.now(), lease=LEASE):
            return None
        return await outbox_repo.get_item(conn, item.id)


async def _renew(services: Services, item: OutboxItem, owner: str, now: datetime) -> bool:
    async with services.db.transaction() as conn:
        return await outbox_repo.renew(conn, item.id, owner=owner, now=now, lease=LEASE)


async def deliver(
    services: Services, bot: Bot, item: OutboxItem, pacer: Pacer, *, owner: str | None = None
) -> Result:
    """Claim the item for `owner` (default: this process), then send what is left of it,
    recording each part; SKIPPED when another sender holds it. Never raises for Telegram
    errors."""
    owner = owner or process_owner()
    claimed_at = services.now()
    claimed = await _claim(services, item, owner)
    if claimed is None:
        log.info("outbox item %s is being sent by another sender: skipped", item.id)
        return Result.SKIPPED
    item = claimed  # parts_sent and attempts as they are now
    held_until = claimed_at + LEASE
    try:
        parts = await parts_for(services, item)
    except (UnknownSurvey, KeyError, ValueError) as exc:  # retrying cannot fix these
        log.warning("outbox item %s cannot be composed: %s", item.id, exc)
        await _fail(services, item, f"cannot compose: {exc}")
        return Result.FAILED
    except Exception as exc:  # e.g. the database busy: try again later
        log.exception("outbox item %s: composing failed", item.id)
        return await _retry(services, item, f"compose: {exc}", services.now() + backoff(1))
    if parts is None:
        await _fail(services, item, "dropped: no longer wanted")
        return Result.DROPPED
    for index in range(item.parts_sent, len(parts)):
        await pacer.wait(item.chat_id)
        now = services.now()
        if held_until - now < LEASE / 2:
            if not await _renew(services, item, owner, now):
                log.warning(
                    "outbox item %s: the lease ran out and another sender took the item"
                    " after %d parts; leaving it to that sender",
                    item.id,
                    index,
                )
                return Result.SKIPPED
            held_until = now + LEASE
        try:
            await send_part(bot, item.chat_id, parts[index])
        except RetryAfter as exc:
            wait = timedelta(seconds=_seconds(exc.retry_after))
            async with services.db.transaction() as conn:
                await outbox_repo.mark_retry(
                    conn, item.id, error=str(exc), next_attempt_at=services.now() + wait
                )
            return Result.FLOOD
        except Forbidden as exc:
            await _blocked(services, item, str(exc))
            return Result.FAILED
        except BadRequest as exc:  # before TelegramError: PTB's BadRequest is a NetworkError
            log.warning("outbox item %s part %d rejected: %s", item.id, index, exc)
            await _fail(services, item, f"part {index}: {exc}")
            return Result.FAILED
        except TelegramError as exc:
            at = services.now() + backoff(item.attempts + 1)
            return await _retry(services, item, f"part {index}: {exc}", at)
        if index + 1 < len(parts):
            async with services.db.transaction() as conn:
                await outbox_repo.mark_part_sent(conn, item.id, index + 1)
    await _finish(services, item, len(parts))
    return Result.SENT


async def drain(
    services: Services,
    bot: Bot,
    *,
    pacer: Pacer | None = None,
    limit: int = BATCH,
    owner: str | None = None,
    kinds: tuple[str, ...] | None = None,
) -> DrainReport:
    """Send every due item (of `kinds`, when given): chats in parallel (bounded), each
    chat's items in order, each item claimed first for `owner` (default: this process); a
    chat whose item another sender holds is left to that sender."""
    pacer = pacer or Pacer()
    owner = owner or process_owner()
    report = DrainReport()
    items = await outbox_repo.due_items(
        services.db.conn, now=services.now(), limit=limit, kinds=kinds
    )
    by_chat: dict[int, list[OutboxItem]] = {}
    for item in items:
        by_chat.setdefault(item.chat_id, []).append(item)
    flood = asyncio.Event()
    gate = asyncio.Semaphore(CONCURRENT_CHATS)

    async def one_chat(chat_items: list[OutboxItem]) -> None:
        async with gate:
            for item in chat_items:
                if flood.is_set():
                    return
                result = await deliver(services, bot, item, pacer, owner=owner)
                report.results[result] += 1
                if result is Result.FLOOD:
                    flood.set()
                if result in (Result.RETRY, Result.FLOOD, Result.SKIPPED):
                    return  # keep this chat's order: its later items wait for this one

    await asyncio.gather(*(one_chat(chat_items) for chat_items in by_chat.values()))
    if items:
        log.info("outbox drained: %s", report)
    return report
