"""The retry policy around survey messages: what is retried, how often, after what pause."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.sending import MAX_RETRY_AFTER, RetryPolicy, Undelivered, may_have_arrived


class Script:
    """A Bot API call that raises the scripted errors in turn, then returns "sent"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "sent"


def policy() -> tuple[RetryPolicy, list[float]]:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    return RetryPolicy(sleep=sleep, rng=random.Random(1)), pauses


BAD_GATEWAY = NetworkError("Bad Gateway")
DROPPED = NetworkError("httpx.RemoteProtocolError: Server disconnected without a response")


async def test_transient_errors_are_retried_with_growing_jittered_pauses() -> None:
    retry, pauses = policy()
    call = Script(BAD_GATEWAY, TimedOut(), BAD_GATEWAY)
    assert await retry.run(call, what="an edit") == "sent"
    assert call.calls == 4
    # Full jitter within [ceiling/2, ceiling], the ceiling doubling from 0.5 s.
    for pause, ceiling in zip(pauses, [0.5, 1.0, 2.0], strict=True):
        assert ceiling / 2 <= pause <= ceiling


async def test_retries_are_bounded() -> None:
    retry, pauses = policy()
    call = Script(*[BAD_GATEWAY] * 10)
    with pytest.raises(Undelivered, match="Bad Gateway"):
        await retry.run(call, what="an edit")
    assert call.calls == retry.attempts == 4
    assert len(pauses) == 3 and max(pauses) <= retry.max_delay


async def test_a_429_waits_what_telegram_asked() -> None:
    retry, pauses = policy()
    # Telegram sends whole seconds; PTB also takes a timedelta, which allows half a second.
    call = Script(RetryAfter(3), RetryAfter(timedelta(milliseconds=500)))
    assert await retry.run(call, what="a question", repeatable=False) == "sent"
    assert pauses == [3.0, 0.5]


async def test_a_429_too_long_to_wait_in_a_handler_gives_up_at_once() -> None:
    retry, pauses = policy()
    call = Script(RetryAfter(int(MAX_RETRY_AFTER) + 1))
    with pytest.raises(Undelivered, match="flood control"):
        await retry.run(call, what="a question")
    assert (call.calls, pauses) == (1, [])


@pytest.mark.parametrize("error", [BadRequest("message is not modified"), Forbidden("blocked")])
async def test_errors_retrying_cannot_fix_pass_through(error: Exception) -> None:
    retry, pauses = policy()
    call = Script(error)
    with pytest.raises(type(error)):
        await retry.run(call, what="a question")
    assert (call.calls, pauses) == (1, [])


async def test_a_new_message_that_may_have_arrived_is_sent_once_more_only() -> None:
    retry, _ = policy()
    call = Script(TimedOut(), DROPPED, BAD_GATEWAY)
    with pytest.raises(Undelivered, match="RemoteProtocolError"):
        await retry.run(call, what="a question", repeatable=False)
    assert call.calls == 2  # a second ambiguous failure: no third copy risked
    # An edit is the same edit however often it lands: retried to the end.
    retry, _ = policy()
    call = Script(TimedOut(), DROPPED, BAD_GATEWAY)
    assert await retry.run(call, what="an edit") == "sent"
    # A 502 proves nothing arrived: it does not count against a new message.
    retry, _ = policy()
    call = Script(BAD_GATEWAY, TimedOut(), BAD_GATEWAY)
    assert await retry.run(call, what="a question", repeatable=False) == "sent"


def test_what_may_have_arrived() -> None:
    assert may_have_arrived(TimedOut())
    assert may_have_arrived(DROPPED)
    assert not may_have_arrived(BAD_GATEWAY)
    assert not may_have_arrived(NetworkError("Internal Server Error (500)"))
