"""The fake Bot API's fault mode: seeded 429s, 502s and timeouts, in-process and over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, ApplicationBuilder

from bot.sending import may_have_arrived
from tests.fakes.http_server import BotApiServer
from tests.fakes.request import FakeRequest
from tests.fakes.telegram_server import FakeTelegram

App = Application[Any, Any, Any, Any, Any, Any]
TOKEN = "123456:TEST-TOKEN"


@pytest.fixture
def fake() -> FakeTelegram:
    fake = FakeTelegram(token=TOKEN, max_poll_wait=1.0)
    fake.user(42)
    return fake


@pytest.fixture
async def app(fake: FakeTelegram) -> AsyncIterator[App]:
    builder = ApplicationBuilder().token(TOKEN)
    application = builder.request(FakeRequest(fake)).get_updates_request(FakeRequest(fake)).build()
    async with application:
        yield application


async def send_many(app: App, count: int) -> list[str]:
    """Send `count` messages; what each attempt raised ("ok" when nothing)."""
    outcomes = []
    for n in range(count):
        try:
            await app.bot.send_message(42, f"message {n}")
            outcomes.append("ok")
        except RetryAfter as exc:
            outcomes.append(f"429 after {_seconds(exc.retry_after):g} s")
        except TimedOut:
            outcomes.append("timeout")
        except NetworkError as exc:
            assert str(exc) == "Bad Gateway"
            outcomes.append("502")
    return outcomes


async def test_faults_come_at_the_rate_asked_of_every_kind(fake: FakeTelegram, app: App) -> None:
    mode = fake.set_faults(0.2, seed=3, retry_after=0.25)
    outcomes = await send_many(app, 300)
    failed = [o for o in outcomes if o != "ok"]
    assert 30 <= len(failed) <= 90, len(failed)  # 60 expected
    assert {"429 after 0.25 s", "502", "timeout"} == set(failed)
    assert [f.kind for f in mode.injected] == [o.split(" ")[0] for o in failed]
    # A timed-out message took effect or not; only those that did are in the chat.
    applied = sum(1 for f in mode.injected if f.kind == "timeout" and f.applied)
    assert 0 < applied < failed.count("timeout")
    assert len(fake.messages(42)) == outcomes.count("ok") + applied


async def test_the_same_seed_gives_the_same_faults(app: App, fake: FakeTelegram) -> None:
    fake.set_faults(0.3, seed=11)
    first = await send_many(app, 40)
    fake.set_faults(0.3, seed=11)
    assert await send_many(app, 40) == first
    fake.set_faults(0.3, seed=12)
    assert await send_many(app, 40) != first


async def test_only_message_calls_fail_and_rate_zero_turns_it_off(
    fake: FakeTelegram, app: App
) -> None:
    fake.set_faults(1.0, kinds=("502",))
    for _ in range(5):
        await app.bot.get_me()
        await app.bot.set_my_commands([("start", "Start")])
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await app.bot.send_message(42, "lost")
    fake.set_faults(0)
    await app.bot.send_message(42, "through")
    assert fake.texts(42) == ["through"]


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def test_a_fault_mode_refuses_nonsense() -> None:
    fake = FakeTelegram()
    with pytest.raises(ValueError, match="between 0 and 1"):
        fake.set_faults(1.5)
    with pytest.raises(ValueError, match="fault kinds"):
        fake.set_faults(0.1, kinds=("418",))


async def test_over_http_a_timeout_is_a_dropped_connection(fake: FakeTelegram) -> None:
    timeouts = fake.set_faults(1.0, seed=5, kinds=("timeout",))
    with BotApiServer(fake) as server:
        http_app = ApplicationBuilder().token(TOKEN).base_url(server.url).build()
        async with http_app:
            errors = []
            for n in range(8):
                with pytest.raises(NetworkError) as caught:
                    await http_app.bot.send_message(42, f"message {n}")
                errors.append(caught.value)
            fake.set_faults(0.5, seed=5, kinds=("429", "502"), retry_after=0.1)
            with pytest.raises((RetryAfter, NetworkError)):
                for _ in range(20):
                    await http_app.bot.send_message(42, "until a fault")
    # The client cannot tell whether the call took effect: that is what a timeout means.
    assert all(may_have_arrived(error) for error in errors), errors
    applied = sum(f.applied for f in timeouts.injected)
    timed_out = [m for m in fake.messages(42) if m.text.startswith("message ")]
    assert 0 < len(timed_out) == applied < 8  # some took effect before the connection dropped
