"""What handlers and jobs share: settings, database, surveys, clock and identity helpers."""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from bot.config import Settings
from bot.delivery.wakeup import OutboxWakeup
from bot.prompts import PromptLedger
from bot.sending import DEFAULT_POLICY, RetryPolicy
from storage.db import Database
from surveys.loader import SurveyCatalog


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything a handler needs besides the update; built once in `bot.app`."""

    settings: Settings
    db: Database
    surveys: SurveyCatalog
    clock: Callable[[], datetime] = utc_now
    bot_username: str | None = None
    _secret: bytes = field(default=b"", repr=False)
    _languages: OrderedDict[int, str] = field(default_factory=OrderedDict, repr=False)
    # Updates with ids above this one arrived after start-up and cannot be redeliveries.
    redelivery_horizon: int | None = None
    _keyboards: OrderedDict[int, int] = field(default_factory=OrderedDict, repr=False)
    # How survey messages are retried through Telegram's passing faults (tests inject).
    retry: RetryPolicy = field(default_factory=lambda: DEFAULT_POLICY)
    prompts: PromptLedger = field(init=False, repr=False)
    # Set after a detractor alert is queued: the sender sends it now, not at its next poll.
    outbox_wakeup: OutboxWakeup = field(default_factory=OutboxWakeup, repr=False)
    # An internal survey ended (completed or cancelled) since the database files were last
    # scrubbed: until they are, their layout shows the order of those writes.
    internal_ended_since_scrub: bool = False

    def __post_init__(self) -> None:
        if not self._secret:
            self._secret = self.settings.secret_bytes()
        self.prompts = PromptLedger(self.db)

    @property
    def secret(self) -> bytes:
        """The server secret (for invite hashes)."""
        return self._secret

    def now(self) -> datetime:
        """The current UTC time from the injected clock."""
        return self.clock()

    def today(self) -> date:
        """Today's date in the configured time zone (periods follow local calendars)."""
        return self.now().astimezone(self.settings.tz).date()

    def pseudonym(self, telegram_id: int, subject_id: int, unique_key: str) -> str:
        """A keyed hash standing for one respondent, one subject and one period: the
        "has answered" marker (storage.sessions), stored apart from the response.

        Keyed with the server secret, so the database alone cannot be matched against
        Telegram ids; scoped to subject and period, so one person's markers cannot be
        linked to each other. Whoever holds the secret can recompute it and learn that
        someone answered, never which response is theirs: nothing links the two.
        """
        message = f"respondent:{telegram_id}:{subject_id}:{unique_key}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def cached_language(self, telegram_id: int) -> str | None:
        """A user's explicitly chosen language, if seen recently (saves a read per update)."""
        lang = self._languages.get(telegram_id)
        if lang is not None:
            self._languages.move_to_end(telegram_id)
        return lang

    def remember_language(self, telegram_id: int, lang: str) -> None:
        """Cache a user's language; the cache is bounded so memory does not grow with users."""
        self._languages[telegram_id] = lang
        self._languages.move_to_end(telegram_id)
        while len(self._languages) > 10_000:
            self._languages.popitem(last=False)

    def note_keyboard(self, session_id: int, message_id: int) -> None:
        """Remember which message carries a session's current keyboard (bounded, in memory)."""
        self._keyboards[session_id] = message_id
        self._keyboards.move_to_end(session_id)
        while len(self._keyboards) > 50_000:
            self._keyboards.popitem(last=False)

    def keyboard_of(self, session_id: int, stored: int | None) -> int | None:
        """The message with a session's current keyboard: the later of the one this
        process sent last and the one stored (message ids grow within a chat). The stored
        one is newer when another instance sent the later question; this process's is
        newer while its own note (bot.prompts) is not committed yet."""
        seen = self._keyboards.get(session_id)
        if seen is None or stored is None:
            return stored if seen is None else seen
        return max(seen, stored)

    def is_admin(self, telegram_id: int) -> bool:
        """Whether the user is listed in FEEDBOT_ADMINS."""
        return telegram_id in self.settings.admins

    def invite_link(self, token: str) -> str:
        """The deep link that opens the bot with an invite."""
        username = self.bot_username or self.settings.bot_username or "your_bot"
        return f"https://t.me/{username}?start={token}"
