"""CLI commands on PostgreSQL when the server is not there, or goes away in the middle of
the command: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import storage.postgres
from bot.cli import main
from storage import subjects as subject_repo
from storage.db import Database
from storage.models import SubjectKind
from tests.backends import POSTGRES_ON, SERVER_URL, create_schema, drop_schema
from tests.test_cli_errors import COMMANDS, SECRET, TOKEN, closed_port

pytestmark = pytest.mark.skipif(not POSTGRES_ON, reason="FEEDBOT_TEST_POSTGRES=off")

# Commands that use the database (demo makes its own SQLite file; validate and try none).
ON_THE_DATABASE = [name for name in COMMANDS if name not in ("demo", "validate", "try")]


async def _seed(url: str) -> None:
    db = await Database.open(url)
    try:
        async with db.transaction() as conn:
            for slug, kind, name, survey in [
                ("sales", SubjectKind.DEPARTMENT, "Sales", "internal"),
                ("coffee", SubjectKind.PRODUCT, "Coffee", "external"),
            ]:
                await subject_repo.add_subject(
                    conn,
                    slug=slug,
                    kind=kind,
                    names={"en": name},
                    survey_id=survey,
                    now=datetime.now(UTC),
                )
    finally:
        await db.close()


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean environment in an empty folder, with an unreachable Bot API."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("FEEDBOT_", "TELEGRAM_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FEEDBOT_SECRET", SECRET)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"http://127.0.0.1:{closed_port()}/bot")
    yield tmp_path


@pytest.fixture
def seeded_url(environment: Path) -> Iterator[tuple[str, str]]:
    """(URL of a seeded schema whose connections carry a name of their own, that name)."""
    schema, url = asyncio.run(create_schema())
    name = f"feedbot-cli-{secrets.token_hex(4)}"
    try:
        asyncio.run(_seed(url))
        yield f"{url}&application_name={name}", name
    finally:
        asyncio.run(drop_schema(schema))


def argv(command: str, database: str, folder: Path) -> list[str]:
    return [
        part.replace("{database}", database).replace("{folder}", str(folder))
        for part in COMMANDS[command]
    ]


def assert_one_line(code: int, out: str, err: str, message: str) -> None:
    assert "Traceback" not in out + err
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("feedbot: "), err
    assert message in err, err


@pytest.mark.parametrize("command", ON_THE_DATABASE)
def test_a_server_that_is_not_there_is_one_line(
    command: str,
    environment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"postgresql://feedbot:s3cret@127.0.0.1:{closed_port()}/feedbot"
    monkeypatch.setenv("FEEDBOT_DATABASE", url)
    code = main(argv(command, url, environment))
    out, err = capsys.readouterr()
    assert_one_line(code, out, err, "cannot be reached")
    assert "s3cret" not in err


async def _terminate(name: str) -> int:
    admin = await asyncpg.connect(SERVER_URL, timeout=60)
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            name,
        )
    finally:
        await admin.close()
    return len(rows)


@pytest.mark.parametrize(
    "command",
    ["department list", "product add", "invite create", "invite list", "owner list", "export"],
)
def test_a_server_going_away_in_the_middle_of_a_command_is_one_line(
    command: str,
    seeded_url: tuple[str, str],
    environment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, name = seeded_url
    monkeypatch.setenv("FEEDBOT_DATABASE", url)
    real_run = storage.postgres._run
    terminated: list[int] = []

    async def run_after_the_server_went_away(conn: Any, sql: str, parameters: Any) -> Any:
        # The command's first statement after opening: every connection it has is killed
        # just before (as by a restart of the server or an administrator).
        if not terminated:
            terminated.append(await _terminate(name))
        return await real_run(conn, sql, parameters)

    monkeypatch.setattr(storage.postgres, "_run", run_after_the_server_went_away)
    code = main(argv(command, url, environment))
    out, err = capsys.readouterr()
    assert terminated and terminated[0] >= 1
    assert_one_line(code, out, err, "the connection to the database was lost")
