"""`feedbot migrate-data`: every row of an SQLite deployment lands in PostgreSQL, checked,
and a target that holds anything is refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from storage import dashboard, invites, outbox, owners, sessions, subjects, thanks, updates
from storage.db import Database
from storage.models import InviteKind, SubjectKind
from storage.transfer import TABLES
from surveys.schema import Audience
from tests.backends import POSTGRES_ON, create_schema, drop_schema

pytestmark = pytest.mark.skipif(
    not POSTGRES_ON, reason="FEEDBOT_TEST_POSTGRES=off: the PostgreSQL half was left out"
)
NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


@pytest.fixture
def url() -> Iterator[str]:
    """An empty schema on the test server (made and dropped on loops of their own: the
    CLI runs its own with asyncio.run)."""
    schema, address = asyncio.run(create_schema())
    try:
        yield address
    finally:
        asyncio.run(drop_schema(schema))


async def _fill_the_empty_tables(path: Path) -> None:
    """What the demo leaves empty: an invite, owner settings, a processed update (with
    the thank-you it owes), an outbox item, an active session and a dashboard login."""
    db = await Database.open(path)
    try:
        async with db.transaction() as conn:
            sales = await subjects.get_subject(conn, "sales")
            assert sales is not None
            await invites.create_invite(
                conn, b"s", kind=InviteKind.EMPLOYEE, subject_id=sales.id, role=None,
                max_uses=3, expires_at=NOW + timedelta(days=7), created_by=None, now=NOW,
            )  # fmt: skip
            await owners.update_owner_settings(
                conn, 9001, default_timezone="Europe/Warsaw", hour=7, paused=True
            )
            await updates.mark_processed(conn, 77, now=NOW)
            await thanks.record(
                conn, 77, subject_id=sales.id, survey_id="internal", survey_version=1, now=NOW
            )
            await outbox.enqueue(
                conn, kind="digest", dedup_key="digest:x", chat_id=9001,
                payload_json='{"a": 1}', due_at=NOW, now=NOW,
            )  # fmt: skip
            await sessions.start_session(
                conn, respondent_id=555, chat_id=555, survey_id="internal", survey_version=1,
                subject_id=sales.id, audience=Audience.INTERNAL, role="employee",
                state_json='{"answers": {"q": 0.25}}', now=NOW, week_key="2026-W48",
            )  # fmt: skip
            await dashboard.create_link(conn, b"s", 9001, now=NOW)
            await dashboard.create_session(conn, b"s", 9001, lang="pl", now=NOW)
    finally:
        await db.close()


def _normal(value: object) -> object:
    return int(value) if isinstance(value, bool) else value


async def _tables(target: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, columns by name, sorted (comparable across backends)."""
    db = await Database.open(target)
    try:
        found = {}
        for table in TABLES:
            async with db.conn.execute(f"SELECT * FROM {table}") as cursor:
                rows = await cursor.fetchall()
            # keys(): both row types iterate over their values, not their column names.
            named = [dict(zip(row.keys(), row, strict=True)) for row in rows]
            found[table] = sorted(
                (tuple(sorted((k, _normal(v)) for k, v in row.items())) for row in named),
                key=repr,
            )
        return found
    finally:
        await db.close()


def test_every_row_moves_and_a_second_run_is_refused(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "feedbot.sqlite3"
    assert main(["demo", "--database", str(source), "--weeks", "3"]) == 0
    asyncio.run(_fill_the_empty_tables(source))
    capsys.readouterr()

    assert main(["migrate-data", "--from", str(source), "--to", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[:-1]] == list(TABLES)
    assert all(line.endswith("  ok") for line in out[:-1])
    assert out[-1].startswith("moved ") and f"in {len(TABLES)} tables" in out[-1]

    before, after = asyncio.run(_tables(str(source))), asyncio.run(_tables(url))
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
    assert all(before[t] for t in TABLES), [t for t in TABLES if not before[t]]
    assert after == before

    # Ids go on after the highest one moved.
    async def add() -> int:
        db = await Database.open(url)
        try:
            async with db.transaction() as conn:
                subject = await subjects.add_subject(
                    conn, slug="new", kind=SubjectKind.PRODUCT, names={"en": "New"},
                    survey_id="external", now=NOW,
                )  # fmt: skip
            return subject.id
        finally:
            await db.close()

    highest = max(dict(row)["id"] for row in before["subjects"])
    assert asyncio.run(add()) == highest + 1
    capsys.readouterr()
    assert main(["migrate-data", "--from", str(source), "--to", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the target is not empty (subjects has" in err


@pytest.mark.parametrize(
    ("argv", "exit_code", "message"),
    [
        (["--from", "{missing}", "--to", "{url}"], 2, "does not exist"),
        (["--from", "{source}", "--to", "{source}"], 1, "--to: give a postgresql:// URL"),
        (["--from", "{url}", "--to", "{url}"], 1, "--from: give the path of the SQLite file"),
        (
            ["--from", "{source}", "--to", "postgresql://u:secret@127.0.0.1:1/x"],
            2,
            "postgresql://u:***@127.0.0.1:1/x cannot be reached",
        ),
    ],
)
def test_mistakes_are_one_line(
    tmp_path: Path,
    url: str,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    exit_code: int,
    message: str,
) -> None:
    source = tmp_path / "feedbot.sqlite3"
    asyncio.run(_empty(source))
    values = {"missing": str(tmp_path / "nope.sqlite3"), "url": url, "source": str(source)}
    with contextlib.redirect_stdout(None):
        code = main(["migrate-data", *(a.format(**values) for a in argv)])
    err = capsys.readouterr().err
    assert code == exit_code and err.count("\n") == 1 and message in err, err
    assert "secret" not in err


async def _empty(path: Path) -> None:
    db = await Database.open(path)
    await db.close()
