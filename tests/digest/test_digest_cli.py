"""`feedbot digest preview` prints a digest as plain text, without a bot token or secret."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import cli
from storage.db import Database
from storage.models import SubjectKind
from storage.subjects import add_subject
from surveys import periods
from tests.digest.digest_support import NOW, Respond


def main(argv: list[str]) -> int:
    """`feedbot ...` with only the digest command registered (the others are not under test)."""
    return cli.main(argv)


@pytest.fixture(autouse=True)
def only_digest_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("bot.commands.digest",))


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database file with a product (20 answers in 2026-W48) and a quiet department."""
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    for name in ("TELEGRAM_BOT_TOKEN", "FEEDBOT_SECRET", "FEEDBOT_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "feedbot.sqlite3"

    async def fill() -> None:
        db = await Database.open(path)
        try:
            async with db.transaction() as conn:
                product = await add_subject(
                    conn, slug="kettle", kind=SubjectKind.PRODUCT,
                    names={"pl": "Czajnik", "en": "Kettle"}, survey_id="external", now=NOW,
                )  # fmt: skip
                await add_subject(
                    conn, slug="sales", kind=SubjectKind.DEPARTMENT,
                    names={"pl": "Sprzedaż", "en": "Sales"}, survey_id="internal", now=NOW,
                )  # fmt: skip
            respond = Respond(db)
            await respond(product, {"nps": 10, "csat": 5}, times=10)
            await respond(product, {"nps": 8, "csat": 4}, times=5)
            await respond(product, {"nps": 2, "comment": "Lid <b>breaks</b> & leaks"}, times=5)
        finally:
            await db.close()

    asyncio.run(fill())
    return path


def test_preview_prints_plain_text_and_writes_the_chart(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "chart.png"
    code = main(
        ["digest", "preview", "--product", "kettle", "--period", "2026-W48",
         "--database", str(database), "--chart", str(chart)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "NPS: 25 (95% CI −12 – 55)" in out
    assert "Lid <b>breaks</b> & leaks" in out  # unescaped text, not markup
    assert "<b>Kettle</b>" not in out and "&amp;" not in out
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert f"Chart written to {chart}" in out


def test_preview_in_polish_for_a_quiet_department(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["digest", "preview", "--department", "sales", "--period", "2024-W10", "--lang", "pl",
         "--database", str(database)]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    # A past week is named, not "this week"; the department's evaluators come from elsewhere.
    assert "W tygodniu 10 nikt nie ocenił działu „Sprzedaż”." in out
    assert "Dział „Sprzedaż” oceniają osoby z innych działów" in out
    assert "nie ma otwartych zaproszeń" not in out


def test_preview_defaults_to_the_last_closed_week(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the Monday digest says: the week that ended last, not the running one (which
    early in a week would read "nobody has rated it")."""
    today = datetime.now(ZoneInfo("Europe/Warsaw")).date()
    last_closed = periods.previous(periods.week_key(today))

    async def answer_in_the_last_closed_week() -> None:
        db = await Database.open(database)
        try:
            async with db.transaction() as conn:
                tea = await add_subject(
                    conn, slug="tea", kind=SubjectKind.PRODUCT, names={"en": "Tea"},
                    survey_id="external", now=NOW,
                )  # fmt: skip
            await Respond(db)(tea, {"nps": 9, "csat": 5}, week=last_closed, times=3)
        finally:
            await db.close()

    asyncio.run(answer_in_the_last_closed_week())
    assert main(["digest", "preview", "--product", "tea", "--database", str(database)]) == 0
    out = capsys.readouterr().out
    assert f"Week {int(last_closed[-2:])}, " in out and "Completed: 3" in out, out
    assert "so far" not in out  # a closed week, not the running one


def test_a_chart_is_drawn_when_an_earlier_week_has_responses(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The digest's own week has no response, W48 (within the 12 weeks) has 20."""
    chart = tmp_path / "quiet.png"
    code = main(
        ["digest", "preview", "--product", "kettle", "--period", "2026-W50",
         "--database", str(database), "--chart", str(chart)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "No buyer has rated Kettle" in out
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert f"Chart written to {chart}" in out


def test_the_commands_messages_follow_lang(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["digest", *args, "--lang", "pl", "--database", str(database)])
        out, err = capsys.readouterr()
        return code, out, err

    chart = tmp_path / "chart.png"
    code, out, _ = run(
        "preview", "--product", "kettle", "--period", "2026-W48", "--chart", str(chart)
    )
    assert code == 0 and f"Wykres zapisano w {chart}" in out
    code, out, _ = run(
        "preview", "--department", "sales", "--period", "2024-W10", "--chart", "x.png"
    )
    assert code == 0 and "(bez wykresu: w żadnym z ostatnich 12 tygodni" in out
    assert not (tmp_path / "x.png").exists()
    code, _, err = run("preview", "--product", "sales")
    assert code == 1 and "nie ma produktu o identyfikatorze „sales”" in err
    code, _, err = run("preview", "--product", "kettle", "--period", "2026-48")
    assert code == 1 and "oczekiwano tygodnia ISO, np. 2026-W48, a podano „2026-48”" in err
    code, _, err = run("preview", "--product", "kettle", "--period", "2026-W60")
    assert code == 1 and "nie ma takiego tygodnia: 2026-W60" in err
    code, out, _ = run("send", "--dry-run")
    assert code == 0 and out == "Teraz nie ma nic do wysłania.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--product", "sales"], "no product with slug 'sales'"),
        (["--department", "nope"], "no department with slug 'nope'"),
        (["--product", "kettle", "--period", "2026-48"], "expected an ISO week"),
        (["--product", "kettle", "--period", "2026-W60"], "no such week"),
    ],
)
def test_preview_errors_are_one_line(
    database: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = main(["digest", "preview", *args, "--database", str(database)])
    assert code == 1
    assert message in capsys.readouterr().err


def test_preview_needs_an_existing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "missing.sqlite3"
    assert main(["digest", "preview", "--product", "x", "--database", str(missing)]) == 2
    assert f"database {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()
