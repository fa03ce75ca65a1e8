"""`feedbot demo` and `feedbot digest send`, run as the CLI runs them."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.demo import feedbot_command
from storage import owners as owner_repo
from storage import subjects as subject_repo
from storage.db import Database
from storage.models import SubjectKind
from tests.fakes.http_server import BotApiServer
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "123456:CLI-token"
NAMES = ("Sales", "Customer service", "Marketing", "Morning Coffee", "Smart Kettle")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    """One demo run shared by the tests below: (database, printed text, seconds)."""
    folder = tmp_path_factory.mktemp("demo")
    database = folder / "demo.sqlite3"
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        captured: list[str] = []
        patch.setattr("sys.stdout.write", captured.append)
        code = main(["demo", "--database", str(database), "--seed", "3"])
    assert code == 0
    return database, "".join(captured), time.monotonic() - started


def test_the_demo_prints_a_digest_with_real_numbers_for_every_subject(
    demo: tuple[Path, str, float],
) -> None:
    database, text, seconds = demo
    for name in NAMES:
        assert f"{name} · " in text
    assert text.count("📊") == 5  # five full digests, none "nothing to report"
    assert len(re.findall(r"NPS: [−-]?\d+ \(95% CI", text)) == 5
    assert len(re.findall(r"Overall: \d\.\d/5", text)) == 3
    charts = re.findall(r"Trend chart: (\S+\.png)", text)
    assert len(charts) == 5
    assert all(Path(chart).read_bytes().startswith(b"\x89PNG") for chart in charts)
    assert seconds < 10
    with sqlite3.connect(database) as conn:
        partial, completed = conn.execute(
            "SELECT SUM(status = 'partial'), SUM(status = 'completed') FROM responses"
        ).fetchone()
        commented = conn.execute("SELECT COUNT(*) FROM answers WHERE text IS NOT NULL").fetchone()
    assert completed > 400 and partial > 10 and commented[0] > 50


def test_the_demo_refuses_to_overwrite_a_database(demo: tuple[Path, str, float]) -> None:
    assert main(["demo", "--database", str(demo[0])]) == 1


def test_a_dry_run_lists_what_is_due_and_changes_nothing(
    demo: tuple[Path, str, float], capsys: pytest.CaptureFixture[str]
) -> None:
    database, _, _ = demo
    assert main(["digest", "send", "--dry-run", "--database", str(database)]) == 0
    out = capsys.readouterr().out
    digests = [line for line in out.splitlines() if line.strip().startswith("digest")]
    assert len(digests) == 5 and all("chart + 1 message" in line for line in digests)
    assert all("[new]" in line for line in digests)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)


async def _owner_with_nothing_to_report(database: Path) -> None:
    db = await Database.open(database)
    try:
        async with db.transaction() as conn:
            now = datetime.now(UTC)
            subject = await subject_repo.add_subject(
                conn,
                slug="tea",
                kind=SubjectKind.PRODUCT,
                names={"pl": "Herbata", "en": "Tea"},
                survey_id="external",
                now=now,
            )
            await owner_repo.add_owner(conn, 8001, subject.id, now=now - timedelta(weeks=3))
    finally:
        await db.close()


def test_send_delivers_through_the_bot_api_at_the_configured_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "bot.sqlite3"
    asyncio.run(_owner_with_nothing_to_report(database))
    fake = FakeTelegram(token=TOKEN)
    fake.user(8001, "Owner")  # the owner has a chat with the bot
    with BotApiServer(fake) as server:
        for name, value in {
            **server.env,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "FEEDBOT_SECRET": "cli-test-secret-0123456789",
        }.items():
            monkeypatch.setenv(name, value)
        assert main(["digest", "send", "--database", str(database)]) == 0
        assert main(["digest", "send", "--database", str(database)]) == 0
    [message] = fake.messages(8001)
    assert message.text.startswith("📭 Tea")
    assert "queued 1 digests" in capsys.readouterr().out


def test_send_without_a_token_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "bot.sqlite3"
    asyncio.run(_owner_with_nothing_to_report(database))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    assert main(["digest", "send", "--database", str(database)]) == 1


def test_the_demos_try_next_lines_run_as_printed(demo: tuple[Path, str, float]) -> None:
    """Each suggested command works when pasted into a shell in the same folder."""
    _, text, _ = demo
    lines = text.split("Try next:\n", 1)[1].splitlines()
    commands = [line.strip() for line in lines if line.startswith("  ")]
    assert len(commands) == 3
    for command in commands:
        done = subprocess.run(
            command, shell=True, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.strip(), command


def test_the_suggested_command_is_the_venvs_path_when_feedbot_is_not_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The README's set-up creates .venv and puts nothing on PATH.
    monkeypatch.setenv("PATH", str(tmp_path))
    script = Path(sys.executable).parent / "feedbot"
    here = script.parent.parent.parent  # the folder holding the venv
    command = feedbot_command(here)
    assert command == str(script.relative_to(here))
    assert "/" in command  # a shell runs it as a path, not looked up on PATH
    assert feedbot_command(tmp_path) == str(script.absolute())
    (tmp_path / "feedbot").symlink_to(script)
    assert feedbot_command(here) == "feedbot"
