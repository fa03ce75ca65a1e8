"""`feedbot run --webhook` explains a missing or wrong setting, or a taken port, in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = {
    "TELEGRAM_BOT_TOKEN": "123:abc",
    "FEEDBOT_SECRET": "s" * 32,
    "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
    "FEEDBOT_WEBHOOK_URL": "https://bot.example.com/telegram/webhook",
    "FEEDBOT_WEBHOOK_SECRET": "webhook-secret-0123456789",
    "FEEDBOT_LISTEN": "127.0.0.1:0",
}


def run_webhook(
    tmp_path: Path, env: dict[str, str | None], *, webhook: bool = True
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDBOT_", "TELEGRAM_"))}
    settings = {k: v for k, v in {**GOOD, **env}.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", *(["--webhook"] if webhook else [])],
        cwd=tmp_path,
        env={**clean, "FEEDBOT_DATABASE": str(tmp_path / "bot.sqlite3"), **settings},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FEEDBOT_WEBHOOK_URL": None}, "feedbot: FEEDBOT_WEBHOOK_URL is not set"),
        ({"FEEDBOT_WEBHOOK_SECRET": None}, "feedbot: FEEDBOT_WEBHOOK_SECRET is not set"),
        ({"FEEDBOT_LISTEN": None}, "feedbot: FEEDBOT_LISTEN is not set"),
        ({"FEEDBOT_WEBHOOK_URL": "ftp://x/y"}, "feedbot: FEEDBOT_WEBHOOK_URL: expected"),
        ({"FEEDBOT_WEBHOOK_SECRET": "short"}, "feedbot: FEEDBOT_WEBHOOK_SECRET: expected 16"),
        ({"FEEDBOT_WEBHOOK_SECRET": "x" * 20 + "!"}, "feedbot: FEEDBOT_WEBHOOK_SECRET:"),
        ({"FEEDBOT_LISTEN": "8080"}, "feedbot: FEEDBOT_LISTEN: expected host:port"),
        ({"FEEDBOT_LISTEN": "127.0.0.1:70000"}, "feedbot: FEEDBOT_LISTEN: expected host:port"),
        ({"FEEDBOT_WEBHOOK_MAX_CONNECTIONS": "500"}, "feedbot: FEEDBOT_WEBHOOK_MAX_CONNECTIONS:"),
        ({"FEEDBOT_INBOX_LEASE_SECONDS": "0"}, "feedbot: FEEDBOT_INBOX_LEASE_SECONDS:"),
    ],
    ids=lambda v: str(v)[:40] if isinstance(v, str) else None,
)
def test_a_missing_or_wrong_webhook_setting_is_one_line_naming_it(
    tmp_path: Path, env: dict[str, str | None], expected: str
) -> None:
    result = run_webhook(tmp_path, env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(expected), result.stderr
    assert result.stderr.count("\n") == 1
    assert GOOD["FEEDBOT_WEBHOOK_SECRET"] not in result.stderr


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_webhook(tmp_path, {"FEEDBOT_LISTEN": f"127.0.0.1:{port}"})
    assert result.returncode == 3, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"feedbot: cannot listen on 127.0.0.1:{port}")
    assert "FEEDBOT_LISTEN" in last and "Traceback" not in result.stderr


def test_an_unreachable_bot_api_in_webhook_mode_is_one_line(tmp_path: Path) -> None:
    result = run_webhook(tmp_path, {})
    assert result.returncode == 3, result.stderr
    assert "cannot reach the Bot API" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_dashboard_without_feedbot_listen_is_one_line(tmp_path: Path) -> None:
    result = run_webhook(
        tmp_path,
        {"FEEDBOT_LISTEN": None, "FEEDBOT_PUBLIC_URL": "https://bot.example.com"},
        webhook=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("feedbot: FEEDBOT_PUBLIC_URL turns the dashboard on")
    assert result.stderr.count("\n") == 1
