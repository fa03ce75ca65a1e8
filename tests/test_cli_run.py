"""`feedbot run` explains what is wrong in one line: no token, a rejected token, no network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.commands.demo import feedbot_command
from tests.fakes.http_server import BotApiServer
from tests.fakes.telegram_server import FakeTelegram


def run_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDBOT_", "TELEGRAM_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        env={**clean, "FEEDBOT_DATABASE": str(tmp_path / "bot.sqlite3"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_a_token_it_says_where_to_get_one_and_exits_2(tmp_path: Path) -> None:
    result = run_bot(tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "@BotFather" in result.stderr and "feedbot demo" in result.stderr


def test_without_a_secret_it_says_how_to_make_one(tmp_path: Path) -> None:
    result = run_bot(tmp_path, TELEGRAM_BOT_TOKEN="123:abc")
    assert result.returncode == 2
    assert "FEEDBOT_SECRET is not set" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["abc", "0"])
def test_a_wrong_setting_is_one_line_naming_it(tmp_path: Path, value: str) -> None:
    result = run_bot(tmp_path, TELEGRAM_BOT_TOKEN="123:abc", FEEDBOT_ANONYMITY_MIN=value)
    assert result.returncode == 2
    assert result.stderr.startswith("feedbot: FEEDBOT_ANONYMITY_MIN:")
    assert result.stderr.count("\n") == 1


def test_an_unreachable_bot_api_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    result = run_bot(
        tmp_path,
        TELEGRAM_BOT_TOKEN="123:abc",
        FEEDBOT_SECRET="s" * 32,
        TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot",
    )
    assert result.returncode == 3
    assert "cannot reach the Bot API" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_rejected_token_is_explained_without_repeating_it(tmp_path: Path) -> None:
    with BotApiServer(FakeTelegram(token="42:the-real-one")) as server:
        result = run_bot(
            tmp_path,
            TELEGRAM_BOT_TOKEN="42:a-wrong-token-value",
            FEEDBOT_SECRET="s" * 32,
            TELEGRAM_API_BASE_URL=server.url,
        )
    assert result.returncode == 2
    assert "rejected TELEGRAM_BOT_TOKEN" in result.stderr
    assert "a-wrong-token-value" not in result.stderr + result.stdout


def test_without_a_token_the_demo_hint_is_a_command_to_paste(tmp_path: Path) -> None:
    # The README's set-up runs `.venv/bin/feedbot run`; `feedbot` alone is not on PATH.
    script = Path(sys.executable).parent / "feedbot"
    assert script.exists(), "the tests run from the environment feedbot is installed in"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDBOT_", "TELEGRAM_"))}
    result = subprocess.run(
        [str(script), "run"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("feedbot: no bot token:") and result.stderr.count("\n") == 1
    assert f"run `{feedbot_command(tmp_path)} demo`" in result.stderr
    assert result.stdout == ""  # the demo is shown how to run, not run


def test_a_failure_other_than_the_token_is_its_own_line_without_the_demo(tmp_path: Path) -> None:
    result = run_bot(
        tmp_path,
        TELEGRAM_BOT_TOKEN="123:abc",
        FEEDBOT_SECRET="s" * 32,
        FEEDBOT_DATABASE=str(tmp_path / "no such folder" / "bot.sqlite3"),
    )
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "no such folder" in result.stderr
    assert "demo" not in result.stderr and "token" not in result.stderr
    assert "Traceback" not in result.stderr
