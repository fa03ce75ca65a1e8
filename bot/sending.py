"""Retrying survey messages through Telegram's passing faults: 429, 5xx, timeouts."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

log = logging.getLogger(__name__)

T = TypeVar("T")

# A 429 asking for longer than this is not waited out inside a handler (the user's
# later updates queue behind it); the question stays pending and comes back later.
MAX_RETRY_AFTER = 30.0


class Undelivered(Exception):
    """A call still failed after the retries: Telegram is unreachable or too busy."""


def may_have_arrived(error: NetworkError) -> bool:
    """Whether Telegram may have applied a call that failed with `error`.

    A 5xx answer comes from Telegram's front end, which did not pass the call on; a
    timeout or a connection lost mid-request (PTB's "httpx.<Error>: ...") may come
    after Telegram applied it."""
    return isinstance(error, TimedOut) or str(error).startswith("httpx.")


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with full jitter for transient Bot API errors.

    AIORateLimiter (bot.app) already retries a 429 after its delay; this policy covers
    the rest and a 429 that outlasts the limiter's retries (or runs without one).
    `sleep` and `rng` are injected by tests."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 4.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return self.rng.uniform(ceiling / 2, ceiling)

    async def run(
        self, call: Callable[[], Awaitable[T]], *, what: str, repeatable: bool = True
    ) -> T:
        """`call()` with retries; Undelivered once they are used up.

        `repeatable`: whether applying the call twice does no harm (edits, answering a
        button press: a repeat changes nothing). A new message is not: after a failure
        that may have come after Telegram applied it (a timeout), it is sent once more
        only, so a duplicate stays rare and a lost question rarer still; errors that
        prove nothing arrived (5xx, 429) are retried as often as any call. Errors that
        retrying cannot fix (BadRequest, Forbidden, ...) pass through at once."""
        ambiguous = 0
        for attempt in range(1, self.attempts + 1):
            try:
                return await call()
            except RetryAfter as exc:
                wait = _seconds(exc.retry_after)
                if wait > MAX_RETRY_AFTER or attempt == self.attempts:
                    raise Undelivered(f"{what}: flood control ({wait:g} s)") from exc
                log.info("%s: Telegram asked to wait %g s; retrying", what, wait)
                await self.sleep(wait)
            except BadRequest:
                raise
            except NetworkError as exc:
                if may_have_arrived(exc):
                    ambiguous += 1
                if attempt == self.attempts or (not repeatable and ambiguous > 1):
                    raise Undelivered(f"{what}: {type(exc).__name__}: {exc}") from exc
                log.info("%s failed (%s: %s); retrying", what, type(exc).__name__, exc)
                await self.sleep(self.backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")


# The policy of the running bot: Services.retry and `reply` share it (tests swap its sleep).
DEFAULT_POLICY = RetryPolicy()


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
