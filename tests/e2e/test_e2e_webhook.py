"""`feedbot run --webhook` end to end: the fake Bot API posts updates to the bot's webhook;
what was acknowledged survives SIGKILL, and SIGTERM finishes the updates in flight."""

from __future__ import annotations

import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import E2E, BotProcess, poll_until
from tests.e2e.test_e2e_bot import EXTERNAL, EXTERNAL_THANKS, press, toggle
from tests.fakes.webhook import WebhookPoster

pytestmark = pytest.mark.e2e

WEBHOOK_SECRET = "e2e-webhook-secret_0123456789"
# Short, so a claim of the killed process lapses quickly after the restart.
LEASE_SECONDS = "2"
# How long the fake holds the bot's replies to keep an update in flight (the test does
# not depend on it being short or long, only on the bot staying inside it).
STALL = 4.0
EXIT_TIMEOUT = 30.0


@pytest.fixture
def poster(e2e: E2E) -> Iterator[WebhookPoster]:
    started = WebhookPoster(e2e.telegram, retry_delay=0.1).start()
    yield started
    started.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_webhook_bot(e2e: E2E, port: int, *, level: str = "INFO") -> BotProcess:
    return e2e.start_bot(
        ("run", "--webhook"),
        env={
            "FEEDBOT_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/hook",
            "FEEDBOT_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "FEEDBOT_LISTEN": f"127.0.0.1:{port}",
            "FEEDBOT_INBOX_LEASE_SECONDS": LEASE_SECONDS,
            "FEEDBOT_LOG_LEVEL": level,
        },
        ready="setWebhook",
    )


def inbox(e2e: E2E) -> dict[int, tuple[str | None, bool]]:
    """update id -> (claimed_by, done)."""
    rows = e2e.rows("SELECT update_id, claimed_by, done_at IS NOT NULL FROM inbox")
    return {int(u): (c, bool(d)) for u, c, d in rows}


def stall_replies(e2e: E2E, seconds: float) -> None:
    with e2e.telegram.lock:
        for method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            e2e.telegram.method_latency[method] = seconds


def assert_clean(bot: BotProcess) -> None:
    assert "Traceback" not in bot.log, bot.log
    assert WEBHOOK_SECRET not in bot.log


def test_an_update_acknowledged_before_a_sigkill_is_applied_once_after_the_restart(
    e2e: E2E, poster: WebhookPoster
) -> None:
    port = free_port()
    bot = start_webhook_bot(e2e, port)
    (registered,) = e2e.calls_of(bot, "setWebhook")
    assert registered["secret_token"] == WEBHOOK_SECRET
    assert int(registered["max_connections"]) == 40
    assert "callback_query" in registered["allowed_updates"]

    buyer = e2e.user(511, "Ola")
    buyer.send_command("/start", e2e.seeded.buyer_invite)
    e2e.expect(buyer, EXTERNAL["nps"])

    # The bot's replies hang: the press is applied, its reply is in flight, and the
    # buyer's next message is acknowledged (200) but must wait for the press to finish.
    stall_replies(e2e, STALL)
    pressed = buyer.press("9")
    typed = buyer.send_text("Fresh aroma")
    poll_until(lambda: poster.delivered(typed["update_id"]), "the typed answer's 200")
    state = inbox(e2e)
    assert state[pressed["update_id"]][0] is not None and not state[pressed["update_id"]][1]
    assert state[typed["update_id"]] == (None, False)  # stored, not taken: behind the press
    bot.kill()
    stall_replies(e2e, 0.0)

    restarted = start_webhook_bot(e2e, port)
    poll_until(
        lambda: f"update {pressed['update_id']} was already applied" in restarted.log,
        "the press's lapsed claim to be retaken and recognised as applied",
        EXIT_TIMEOUT,
    )
    # The press's lapsed claim is retaken (its answer was committed: applied once), then
    # the typed answer is applied from the inbox.
    e2e.expect(buyer, EXTERNAL["csat"], timeout=EXIT_TIMEOUT)
    press(e2e, buyer, "5", then=EXTERNAL["effort"])
    press(e2e, buyer, "6", then=EXTERNAL["improve"])
    toggle(e2e, buyer, "Quality")
    press(e2e, buyer, "Done ✓", then=EXTERNAL["comment"])
    press(e2e, buyer, "Skip ▶", then=EXTERNAL["contact_consent"])
    press(e2e, buyer, "Yes", then=EXTERNAL_THANKS)

    answers = e2e.rows(
        "SELECT a.question_id, coalesce(a.number, a.text, a.choice) FROM answers a"
        " ORDER BY a.position"
    )
    assert answers[:2] == [("nps", 9), ("nps_promoter", "Fresh aroma")]
    assert e2e.rows("SELECT count(*) FROM responses") == [(1,)]
    # Marked done once its handler returned, just after the thanks went out.
    poll_until(lambda: all(done for _, done in inbox(e2e).values()), "every update done")
    assert restarted.stop() == 0
    assert_clean(bot)
    assert_clean(restarted)


def test_sigterm_finishes_the_updates_in_flight_then_exits_0(
    e2e: E2E, poster: WebhookPoster
) -> None:
    # At DEBUG, where every library logs its requests: the webhook secret still never shows.
    bot = start_webhook_bot(e2e, free_port(), level="DEBUG")
    buyer = e2e.user(512, "Ewa")
    buyer.send_command("/start", e2e.seeded.buyer_invite)
    e2e.expect(buyer, EXTERNAL["nps"])

    stall_replies(e2e, STALL)
    pressed = buyer.press("3")
    poll_until(
        lambda: (inbox(e2e).get(pressed["update_id"]) or (None, False))[0] is not None,
        "the press to be taken from the inbox",
    )
    bot.process.send_signal(signal.SIGTERM)
    try:
        code = bot.process.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        bot.kill()
        raise AssertionError(f"no exit after SIGTERM:\n{bot.log}") from None
    assert code == 0, bot.log
    # The press in flight was finished: its next question went out before the exit.
    assert EXTERNAL["nps_detractor"] in buyer.last_message().text, buyer.transcript()
    assert inbox(e2e)[pressed["update_id"]] == (None, True)
    assert "finishing the updates in progress" in bot.log
    assert_clean(bot)


def test_polling_with_feedbot_listen_serves_healthz_and_the_dashboard_and_exits_0_on_sigterm(
    e2e: E2E,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bot = e2e.start_bot(env={"FEEDBOT_LISTEN": f"127.0.0.1:{port}", "FEEDBOT_PUBLIC_URL": base})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    poll_until(lambda: f"serving HTTP on 127.0.0.1:{port}" in bot.log, "the server to start")
    with opener.open(f"{base}/healthz", timeout=60) as response:
        assert response.status == 200 and response.read() == b"ok\n"
    # The dashboard is mounted in the same app: there, and closed without a session.
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(f"{base}/dashboard/", timeout=60)
    assert refused.value.code == 401
    buyer = e2e.user(513, "Iga")
    buyer.send_command("/start", e2e.seeded.buyer_invite)
    e2e.expect(buyer, EXTERNAL["nps"])  # updates still come by long polling
    assert e2e.calls_of(bot, "setWebhook") == []
    bot.process.send_signal(signal.SIGTERM)
    assert bot.process.wait(timeout=EXIT_TIMEOUT) == 0, bot.log
    assert_clean(bot)
