"""Control characters that users typed are stored as typed but never reach a terminal raw."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.terminal import TerminalStream, terminal_text
from storage.db import Database
from storage.owners import add_owner
from storage.subjects import get_subject
from tests.test_cli_admin import Db, Result, answer_internal, cli, database, read_csv

__all__ = ["cli", "database"]  # fixtures shared with the admin CLI tests

RED = "\x1b[31mRED\x1b[0m"
BELL = "\x07"
NAME = f"Dział {RED}{BELL}"
ANSWER = f"Szybko {RED} i głośno{BELL}\tz tabem"
RAW = ("\x1b", "\x07", "\x9b", "\r")


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEEDBOT_SECRET", "a-long-test-secret-of-random-text")
    monkeypatch.setenv("FEEDBOT_DATABASE", str(tmp_path / "feedbot.sqlite3"))
    monkeypatch.setenv("FEEDBOT_BOT_USERNAME", "feedbot_test_bot")
    monkeypatch.setenv("FEEDBOT_TIMEZONE", "Europe/Warsaw")
    monkeypatch.setenv("FEEDBOT_ANONYMITY_MIN", "3")
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "FEEDBOT_SURVEYS_DIR"):
        monkeypatch.delenv(name, raising=False)


def shown_safely(result: Result) -> str:
    """stdout and stderr hold no raw control character; returns stdout."""
    for raw in RAW:
        assert raw not in result.out and raw not in result.err, (raw, result)
    return result.out


def test_control_characters_are_written_as_visible_escapes() -> None:
    assert terminal_text(RED + BELL) == "\\x1b[31mRED\\x1b[0m\\x07"
    assert terminal_text("a\tb\nc\r\x7f\x9b\x00") == "a\tb\nc\\x0d\\x7f\\x9b\\x00"
    assert terminal_text("Zażółć 🙂 مرحبا\r\n") == "Zażółć 🙂 مرحبا\r\n"
    raw = io.StringIO()
    stream = TerminalStream(raw)
    print("x" + BELL, file=stream, flush=True)
    assert raw.getvalue() == "x\\x07\n"


class _Tty(io.BytesIO):
    def isatty(self) -> bool:
        return True


def test_bytes_written_to_a_terminal_are_escaped_but_not_those_to_a_file() -> None:
    data = f"a,{RED}{BELL}\r\nż,b\r\n".encode()
    tty, file = _Tty(), io.BytesIO()
    on_tty = io.TextIOWrapper(tty, encoding="utf-8")  # kept: collecting it closes tty
    on_file = io.TextIOWrapper(file, encoding="utf-8")
    TerminalStream(on_tty).buffer.write(data)
    assert tty.getvalue() == "a,\\x1b[31mRED\\x1b[0m\\x07\r\nż,b\r\n".encode()
    TerminalStream(on_file).buffer.write(data)
    assert file.getvalue() == data


def test_every_listing_and_the_digest_preview_show_them_escaped(
    cli: Callable[..., Result], database: Db
) -> None:
    added = cli("department", "add", "rnd", "--name", NAME, "--name-en", NAME)
    assert added.code == 0
    assert "Dział \\x1b[31mRED\\x1b[0m\\x07" in shown_safely(added)
    assert cli("product", "add", "tea", "--name", NAME).code == 0
    for kind in ("department", "product"):
        assert "\\x1b[31mRED" in shown_safely(cli(kind, "list"))
    assert cli("invite", "create", "employee", "--department", "rnd").code == 0
    assert "rnd" in shown_safely(cli("invite", "list"))

    async def owner_and_answers(db: Database) -> None:
        subject = await get_subject(db.conn, "rnd")
        assert subject is not None and subject.names["pl"] == NAME  # stored as typed
        async with db.transaction() as conn:
            await add_owner(conn, 111, subject.id, now=datetime.now(UTC))
        start = datetime(2026, 11, 17, 10, tzinfo=UTC)  # 2026-W47
        for n in range(4):
            at = start + timedelta(hours=n)
            await answer_internal(db, "rnd", at, ANSWER, telegram_id=1000 + n)

    database(owner_and_answers)
    assert "rnd" in shown_safely(cli("owner", "list"))
    preview = shown_safely(cli("digest", "preview", "--department", "rnd", "--period", "2026-W47"))
    assert "Dział \\x1b[31mRED\\x1b[0m\\x07" in preview
    assert "Szybko \\x1b[31mRED\\x1b[0m i głośno\\x07" in preview  # a digest folds the tab


def test_try_shows_the_subject_and_typed_answers_escaped(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = ["4", "5", "3", "4", "5", "9", ANSWER, "s", ""]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(answers)))
    result = cli("try", "internal", "--subject", NAME)
    assert result.code == 0, result
    out = shown_safely(result)
    assert "Dział \\x1b[31mRED\\x1b[0m\\x07" in out
    assert "works_well: Szybko \\x1b[31mRED\\x1b[0m i głośno\\x07\tz tabem" in out


def test_a_csv_export_keeps_what_was_typed_and_guards_formulas(
    cli: Callable[..., Result],
    database: Db,
    capsysbinary: pytest.CaptureFixture[bytes],
    tmp_path: Path,
) -> None:
    assert cli("department", "add", "rnd", "--name", NAME).code == 0
    at = datetime(2026, 11, 17, 10, tzinfo=UTC)
    database(lambda db: answer_internal(db, "rnd", at, ANSWER, telegram_id=1))
    later = at + timedelta(hours=1)
    database(lambda db: answer_internal(db, "rnd", later, '=HYPERLINK("x")' + RED, telegram_id=2))
    out = tmp_path / "rnd.csv"
    result = cli("export", "--department", "rnd", "--out", str(out))
    assert result.code == 0 and "\x1b" not in result.out
    rows = read_csv(out.read_bytes())
    column = rows[0].index("works_well")
    cells = sorted(row[column] for row in rows[1:])
    assert cells == sorted([ANSWER, '\'=HYPERLINK("x")' + RED])
    # To stdout, the CSV is data for a file or a pipe: bytes as typed, guard included.
    assert main(["export", "--department", "rnd"]) == 0
    data = capsysbinary.readouterr().out
    assert ANSWER.encode() in data and b"'=HYPERLINK" in data
