"""`feedbot dashboard link` and `feedbot invite create ... --qr FILE`, run in-process."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from bot.web import qr
from storage import dashboard as dashboard_repo
from storage.db import Database
from storage.owners import add_owner
from storage.subjects import get_subject
from tests.web.support import is_dark

SECRET = "a-long-test-secret-of-random-text"


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEEDBOT_SECRET", SECRET)
    monkeypatch.setenv("FEEDBOT_DATABASE", str(tmp_path / "feedbot.sqlite3"))
    monkeypatch.setenv("FEEDBOT_BOT_USERNAME", "feedbot_test_bot")
    monkeypatch.setenv("FEEDBOT_ADMINS", "999")
    monkeypatch.setenv("FEEDBOT_PUBLIC_URL", "https://feedback.example.com/")
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "FEEDBOT_SURVEYS_DIR"):
        monkeypatch.delenv(name, raising=False)


def _own(tmp_path: Path, telegram_id: int, slug: str) -> None:
    async def run() -> None:
        db = await Database.open(tmp_path / "feedbot.sqlite3")
        try:
            subject = await get_subject(db.conn, slug)
            assert subject is not None
            async with db.transaction() as conn:
                await add_owner(conn, telegram_id, subject.id, now=dashboard_now())
        finally:
            await db.close()

    asyncio.run(run())


def dashboard_now() -> datetime:
    return datetime.now(UTC)


def test_dashboard_link_for_an_owner_works_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["product", "add", "kettle", "--name", "Czajnik", "--name-en", "Kettle"]) == 0
    _own(tmp_path, 4242, "kettle")
    capsys.readouterr()
    assert main(["dashboard", "link", "--owner", "4242"]) == 0
    link = capsys.readouterr().out.strip()
    prefix = "https://feedback.example.com/dashboard/login/"
    assert link.startswith(prefix)

    async def redeem() -> tuple[int | None, int | None]:
        db = await Database.open(tmp_path / "feedbot.sqlite3")
        try:
            token = link.removeprefix(prefix)
            async with db.transaction() as conn:
                first = await dashboard_repo.redeem_link(
                    conn, SECRET.encode(), token, now=dashboard_now()
                )
                second = await dashboard_repo.redeem_link(
                    conn, SECRET.encode(), token, now=dashboard_now()
                )
            return first, second
        finally:
            await db.close()

    assert asyncio.run(redeem()) == (4242, None)


def test_dashboard_link_refuses_strangers_and_a_dashboard_that_is_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["product", "add", "kettle", "--name", "Czajnik"]) == 0
    assert main(["dashboard", "link", "--owner", "5"]) == 1
    assert "owns no department or product" in capsys.readouterr().err
    assert main(["dashboard", "link", "--owner", "999"]) == 0  # an admin
    monkeypatch.setenv("FEEDBOT_PUBLIC_URL", "")
    assert main(["dashboard", "link", "--owner", "999"]) == 1
    assert "FEEDBOT_PUBLIC_URL" in capsys.readouterr().err
    monkeypatch.setenv("FEEDBOT_PUBLIC_URL", "http://feedback.example.com")
    assert main(["dashboard", "link", "--owner", "999"]) == 2
    assert "https" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_invite_create_writes_a_qr_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    assert main(["product", "add", "kettle", "--name", "Czajnik", "--name-en", "Kettle"]) == 0
    target = tmp_path / f"kettle{suffix}"
    assert main(["invite", "create", "buyer", "--product", "kettle", "--qr", str(target)]) == 0
    out = capsys.readouterr().out
    link = next(line.split()[-1] for line in out.splitlines() if line.startswith("link:"))
    matrix = [[bool(v) for v in row] for row in qr.make(link).matrix]
    if suffix == ".png":
        image = Image.open(io.BytesIO(target.read_bytes())).convert("L")
        offset = (image.width - (len(matrix) + 2 * qr.BORDER) * qr.SCALE) // 2
        read = [
            [
                is_dark(
                    image, (offset + (qr.BORDER + c) * qr.SCALE + 5, (qr.BORDER + r) * qr.SCALE + 5)
                )
                for c in range(len(matrix))
            ]
            for r in range(len(matrix))
        ]
        assert read == matrix
    else:
        text = target.read_text(encoding="utf-8")
        assert qr.svg(link, "Czajnik") == text


def test_invite_create_refuses_another_picture_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["product", "add", "kettle", "--name", "Czajnik", "--name-en", "Kettle"]) == 0
    code = main(["invite", "create", "buyer", "--product", "kettle", "--qr", "kettle.jpg"])
    assert code == 1 and ".png or .svg" in capsys.readouterr().err
    assert not (tmp_path / "kettle.jpg").exists()
