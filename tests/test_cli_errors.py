"""Every CLI command in every broken set-up: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.logs import NOISY_LOGGERS
from storage import subjects as subject_repo
from storage.db import Database
from storage.models import SubjectKind

SECRET = "cli-errors-secret-0123456789abcdef"
TOKEN = "123456:AAE-cli-errors-token"

# Every leaf command of bot/cli.py, runnable as is against a database holding the
# department "sales" and the product "coffee". DATABASE stands for the database path.
DATABASE = "{database}"
DEMO_DATABASE = "{folder}/demo.sqlite3"  # demo wants a new file: one beside the database
COMMANDS: dict[str, list[str]] = {
    "run": ["run"],
    "demo": ["demo", "--database", DEMO_DATABASE, "--weeks", "1"],
    "validate": ["validate"],
    "try": ["try", "internal"],
    "department add": ["department", "add", "it", "--name", "IT"],
    "department list": ["department", "list"],
    "department remove": ["department", "remove", "sales"],
    "department set-survey": ["department", "set-survey", "sales", "internal"],
    "product add": ["product", "add", "tea", "--name", "Herbata"],
    "product list": ["product", "list"],
    "product remove": ["product", "remove", "coffee"],
    "product set-survey": ["product", "set-survey", "coffee", "external"],
    "invite create": ["invite", "create", "buyer", "--product", "coffee"],
    "invite list": ["invite", "list"],
    "invite revoke": ["invite", "revoke", "AbCdEfGh"],
    "owner list": ["owner", "list"],
    "export": ["export", "--product", "coffee"],
    "digest preview": ["digest", "preview", "--department", "sales", "--period", "2026-W48"],
    "digest send --dry-run": ["digest", "send", "--dry-run"],
    "digest send": ["digest", "send"],
}
# Commands that read FEEDBOT_SURVEYS_DIR (`validate` checks the paths it is given and
# `demo` only the bundled surveys).
READ_SURVEYS = {
    "run",
    "try",
    "department add",
    "department set-survey",
    "product add",
    "product set-survey",
    "export",
    "digest preview",
    "digest send --dry-run",
    "digest send",
}
NO_DATABASE = {"validate", "try"}
# May make a new database where there is none (run is left out here: it would go on to
# poll; the end-to-end tests start it on a new database).
CREATE = {"department add", "product add", "demo"}
# demo makes its own new database beside FEEDBOT_DATABASE: only its folder matters.
FOLDER_ONLY = {"demo"}


@dataclass(frozen=True)
class Situation:
    """A broken set-up: what to break in a fresh home, and what the one line says."""

    message: str
    applies: Callable[[str], bool]
    breaks: Callable[[Path, pytest.MonkeyPatch], None]


def _no_surveys_folder(home: Path, env: pytest.MonkeyPatch) -> None:
    env.setenv("FEEDBOT_SURVEYS_DIR", str(home / "no-such-surveys"))


def _yaml_syntax_error(home: Path, env: pytest.MonkeyPatch) -> None:
    folder = home / "surveys"
    folder.mkdir()
    (folder / "broken.yaml").write_text("id: pulse\nquestions: [\n  - id: q1\n", "utf-8")
    env.setenv("FEEDBOT_SURVEYS_DIR", str(folder))


def _damaged_database(home: Path, env: pytest.MonkeyPatch) -> None:
    (home / "feedbot.sqlite3").write_bytes(random.Random(10).randbytes(8192))


def _read_only_database(home: Path, env: pytest.MonkeyPatch) -> None:
    (home / "feedbot.sqlite3").chmod(0o444)


def _read_only_folder(home: Path, env: pytest.MonkeyPatch) -> None:
    (home / "data").mkdir()
    shutil.move(home / "feedbot.sqlite3", home / "data" / "feedbot.sqlite3")
    env.setenv("FEEDBOT_DATABASE", str(home / "data" / "feedbot.sqlite3"))
    (home / "data").chmod(0o555)


def _missing_folder(home: Path, env: pytest.MonkeyPatch) -> None:
    env.setenv("FEEDBOT_DATABASE", str(home / "no-such-folder" / "feedbot.sqlite3"))


def _missing_database(home: Path, env: pytest.MonkeyPatch) -> None:
    (home / "feedbot.sqlite3").unlink()


def _uses_database(command: str) -> bool:
    return command not in NO_DATABASE


def _uses_file(command: str) -> bool:
    return _uses_database(command) and command not in FOLDER_ONLY


SITUATIONS = {
    "surveys folder missing": Situation(
        "no-such-surveys does not exist: create it, or unset it",
        READ_SURVEYS.__contains__,
        _no_surveys_folder,
    ),
    "YAML syntax error": Situation(
        "broken.yaml: line 3, column 3: YAML syntax error",
        READ_SURVEYS.__contains__,
        _yaml_syntax_error,
    ),
    "damaged database": Situation(
        "is not a feedbot database or is damaged", _uses_file, _damaged_database
    ),
    "read-only database": Situation("is read-only", _uses_file, _read_only_database),
    "read-only folder": Situation(
        "is read-only: SQLite needs to write its journal files", _uses_database, _read_only_folder
    ),
    "missing folder": Situation(
        "does not exist, nor does its folder", _uses_database, _missing_folder
    ),
    "missing database": Situation(
        "does not exist; `feedbot run` or `feedbot department add` creates it",
        lambda command: _uses_file(command) and command not in CREATE | {"run"},
        _missing_database,
    ),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the department "sales" and the product "coffee", copied per test."""
    path = tmp_path_factory.mktemp("template") / "feedbot.sqlite3"

    async def seed() -> None:
        db = await Database.open(path)
        try:
            async with db.transaction() as conn:
                for slug, kind, survey in [
                    ("sales", SubjectKind.DEPARTMENT, "internal"),
                    ("coffee", SubjectKind.PRODUCT, "external"),
                ]:
                    await subject_repo.add_subject(
                        conn,
                        slug=slug,
                        kind=kind,
                        names={"pl": slug, "en": slug},
                        survey_id=survey,
                        now=datetime.now(UTC),
                    )
        finally:
            await db.close()

    asyncio.run(seed())
    return path


def closed_port() -> int:
    """A local port nothing listens on, so no command can reach a Bot API by mistake."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path, template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working set-up in tmp_path (a copy of the template database, a token, a secret,
    an unreachable Bot API) that each situation then breaks."""
    shutil.copy(template, tmp_path / "feedbot.sqlite3")
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("FEEDBOT_", "TELEGRAM_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FEEDBOT_DATABASE", str(tmp_path / "feedbot.sqlite3"))
    monkeypatch.setenv("FEEDBOT_SECRET", SECRET)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"http://127.0.0.1:{closed_port()}/bot")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *NOISY_LOGGERS)}
    yield tmp_path
    # `run` sets up logging to the captured stderr before it finds the Bot API unreachable.
    for handler in [h for h in root.handlers if getattr(h, "feedbot", False)]:
        root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    for path in (tmp_path, tmp_path / "data"):  # so that pytest can clean up
        if path.exists():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def argv_of(command: str, home: Path) -> list[str]:
    database = os.environ["FEEDBOT_DATABASE"]
    folder = str(Path(database).parent)
    return [
        part.replace(DATABASE, database).replace("{folder}", folder) for part in COMMANDS[command]
    ]


@pytest.mark.parametrize("situation", list(SITUATIONS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_in_each_broken_situation_says_one_line(
    command: str,
    situation: str,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = SITUATIONS[situation]
    case.breaks(home, monkeypatch)
    code = main(argv_of(command, home))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if not case.applies(command):
        # Nothing is broken for this command: it does its work, or fails as it would anyway.
        assert code == 0 or err.count("\n") == 1, err
        return
    assert code != 0, (out, err)
    assert err.count("\n") == 1 and err.startswith("feedbot: "), err
    assert case.message in err, err


def test_a_creating_command_makes_the_database_where_there_was_none(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "feedbot.sqlite3").unlink()
    assert main(["product", "add", "tea", "--name", "Herbata"]) == 0
    assert (home / "feedbot.sqlite3").exists()
    assert main(["product", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("tea")


@pytest.mark.parametrize(
    ("situation", "argv", "message"),
    [
        ("YAML syntax error", ["run"], "YAML syntax error"),
        ("damaged database", ["run"], "is not a feedbot database or is damaged"),
        ("missing folder", ["product", "list"], "does not exist, nor does its folder"),
    ],
)
def test_the_console_script_prints_one_line_too(
    home: Path, situation: str, argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    SITUATIONS[situation].breaks(home, monkeypatch)
    finished = subprocess.run(
        [sys.executable, "-m", "bot.cli", *argv],
        env={**os.environ, "FEEDBOT_LOG_LEVEL": "DEBUG"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode != 0
    assert finished.stdout == ""
    assert finished.stderr.count("\n") == 1 and message in finished.stderr, finished.stderr
