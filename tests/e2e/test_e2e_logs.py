"""`feedbot run`'s own stderr: nothing secret or linkable at DEBUG, a network outage in one line."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote

import pytest

from tests.e2e.conftest import E2E, SECRET, TOKEN, poll_until
from tests.e2e.test_e2e_bot import (
    EXTERNAL,
    INTERNAL,
    INTERNAL_THANKS,
    press,
    rate_customer_service,
    say,
)

pytestmark = pytest.mark.e2e

EMPLOYEE_ID = 730019283
BUYER_ID = 730019291
EMPLOYEE_NAME = "Przemysław"
EMPLOYEE_USERNAME = "przemek_from_sales"
COMMENT = "Odpowiadają szybko i konkretnie"
BUYER_TEXT = "Aromat jak z palarni"
OUTAGE_TIMEOUT = 60.0  # PTB waits 1 s, then 1.5 s, ... between failed polls


def at_debug(e2e: E2E, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bots this test starts log at DEBUG."""
    env = e2e.env
    monkeypatch.setattr(e2e, "env", lambda: {**env(), "FEEDBOT_LOG_LEVEL": "DEBUG"})


def secret_forms(token: str) -> list[str]:
    key = token.split(":", 1)[1]
    return [token, key, quote(token, safe=""), f"bot{token}", SECRET, quote(SECRET, safe="")]


def test_a_real_run_at_debug_logs_everything_but_secrets_and_who_answered_what(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    at_debug(e2e, monkeypatch)
    bot = e2e.start_bot()
    employee = e2e.telegram.user(
        EMPLOYEE_ID, EMPLOYEE_NAME, username=EMPLOYEE_USERNAME, language_code="en"
    )
    employee.send_command("/start", e2e.seeded.employee_invite)
    e2e.expect(employee, "Which department would you like to evaluate?")
    rate_customer_service(e2e, employee)
    session_ids = [str(sid) for (sid,) in e2e.rows("SELECT id FROM sessions")]
    say(e2e, employee, COMMENT, then=INTERNAL["should_change"])
    press(e2e, employee, "Skip ▶", then=INTERNAL_THANKS)

    buyer = e2e.user(BUYER_ID, "Grażyna")
    buyer.send_command("/start", e2e.seeded.buyer_invite)
    e2e.expect(buyer, EXTERNAL["nps"])
    press(e2e, buyer, "9", then=EXTERNAL["nps_promoter"])
    say(e2e, buyer, BUYER_TEXT, then=EXTERNAL["csat"])
    press(e2e, buyer, "✖ Cancel", then="Survey cancelled")
    assert bot.stop() == 0, bot.log

    log = bot.log
    lines = log.splitlines()
    # Really at DEBUG, httpx and PTB included.
    assert any("DEBUG httpx" in line or "DEBUG httpcore" in line for line in lines)
    assert any("Processing update Update(update_id=" in line for line in lines)
    assert any("HTTP Request: POST http://127.0.0.1:" in line for line in lines)
    assert any("/bot[token]/getUpdates" in line for line in lines)
    for form in secret_forms(TOKEN):
        assert not [line for line in lines if form in line], form
    identity = (str(EMPLOYEE_ID), EMPLOYEE_NAME, EMPLOYEE_USERNAME, "Grażyna", str(BUYER_ID))
    typed = (COMMENT, BUYER_TEXT)
    assert [line for line in lines if any(m in line for m in (*identity, *typed))] == []
    answered = (*INTERNAL, *(f"session {sid}" for sid in session_ids), COMMENT)
    tied = [
        line
        for line in lines
        if any(i in line for i in identity) and any(a in line for a in answered)
    ]
    assert tied == []
    assert "Traceback" not in log


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_a_rejected_token_is_one_line_and_is_never_printed(e2e: E2E, level: str) -> None:
    wrong = "999999:AAE-a-token-the-server-does-not-know"
    finished = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=e2e.home,
        env={**e2e.env(), "TELEGRAM_BOT_TOKEN": wrong, "FEEDBOT_LOG_LEVEL": level},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 2, output
    last = finished.stderr.splitlines()[-1]
    assert last == (
        "feedbot: Telegram rejected TELEGRAM_BOT_TOKEN: copy the token from @BotFather again"
    )
    assert "Traceback" not in output
    for form in secret_forms(wrong):
        assert form not in output, form
    if level == "INFO":
        assert finished.stderr.count("\n") == 1, finished.stderr


def test_a_brief_outage_of_the_bot_api_is_a_warning_and_the_bot_answers_after_it(
    e2e: E2E,
) -> None:
    bot = e2e.start_bot()
    employee = e2e.user(606, "Ala")
    employee.send_command("/start", e2e.seeded.employee_invite)
    e2e.expect(employee, "Which department would you like to evaluate?")
    press(e2e, employee, "Customer service", then=INTERNAL["overall"])

    e2e.server.stop()
    # Two failed polls: the open long poll cut off, then a connection refused.
    poll_until(
        lambda: bot.log.count("polling for updates failed") >= 2, "failed polls", OUTAGE_TIMEOUT
    )
    employee.press("4")  # while Telegram is unreachable for the bot
    e2e.server.start()
    e2e.expect(employee, INTERNAL["reliability"], timeout=OUTAGE_TIMEOUT)
    press(e2e, employee, "5", then=INTERNAL["responsiveness"])
    assert bot.stop() == 0, bot.log

    log = bot.log
    failures = [line for line in log.splitlines() if "polling for updates failed" in line]
    assert len(failures) >= 2 and all(" WARNING bot." in line for line in failures), log
    assert all("NetworkError" in line for line in failures), failures
    assert "Traceback" not in log and " ERROR " not in log and " CRITICAL " not in log, log
