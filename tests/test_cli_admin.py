"""The admin CLI run in-process as an administrator would: subjects, invites, owners, export."""

from __future__ import annotations

import asyncio
import csv
import io
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from bot.cli import main
from bot.commands.invites import revoke_hint
from storage.db import Database
from storage.errors import InviteError
from storage.invites import check_invite, list_invites
from storage.models import Invite, InviteKind, InviteProblem, MemberRole, Subject
from storage.owners import add_owner, mark_owner_inactive, update_owner_settings
from storage.sessions import complete_session, start_session
from storage.subjects import get_subject
from surveys.periods import week_key
from surveys.schema import AnswerRecord, QuestionType

T = TypeVar("T")

SECRET = "a-long-test-secret-of-random-text"
USERNAME = "feedbot_test_bot"
POLISH = "Zażółć gęślą jaźń: ąęłńóśźż ĄĘŁŃÓŚŹŻ"
TELEGRAM_ID = 987654321
PSEUDONYM = "f00dcafe" * 8
INTERNAL_QUESTIONS = [
    "overall",
    "reliability",
    "responsiveness",
    "communication",
    "quality",
    "recommend",
    "works_well",
    "should_change",
]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh database in tmp_path, a secret and a bot username; no developer's .env."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEEDBOT_SECRET", SECRET)
    monkeypatch.setenv("FEEDBOT_DATABASE", str(tmp_path / "feedbot.sqlite3"))
    monkeypatch.setenv("FEEDBOT_BOT_USERNAME", USERNAME)
    monkeypatch.setenv("FEEDBOT_TIMEZONE", "Europe/Warsaw")
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "FEEDBOT_SURVEYS_DIR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli(capsysbinary: pytest.CaptureFixture[bytes]) -> Callable[..., Result]:
    """Run `feedbot ARGS...` and return its exit code, stdout and stderr (as UTF-8 text;
    tests that need the exact bytes read `capsysbinary` themselves)."""

    def run(*argv: str) -> Result:
        code = main(list(argv))
        captured = capsysbinary.readouterr()
        return Result(code, captured.out.decode("utf-8"), captured.err.decode("utf-8"))

    return run


@pytest.fixture
def database(tmp_path: Path) -> Callable[[Callable[[Database], Awaitable[T]]], T]:
    """Run `action(db)` on the database the CLI uses, as the bot would, meanwhile."""

    def call(action: Callable[[Database], Awaitable[T]]) -> T:
        async def run() -> T:
            db = await Database.open(tmp_path / "feedbot.sqlite3")
            try:
                return await action(db)
            finally:
                await db.close()

        return asyncio.run(run())

    return call


Db = Callable[[Callable[[Database], Awaitable[object]]], object]


async def no_change(db: Database) -> None:
    """For `database(...)`: only open (creating and migrating) the database."""


def fails(result: Result, message: str, code: int = 1) -> None:
    """The command failed with exactly one line on stderr containing `message`."""
    assert result.code == code
    assert result.out == ""
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith("feedbot: ")
    assert message in result.err


@pytest.fixture
def two_departments(cli: Callable[..., Result]) -> None:
    assert cli("department", "add", "sales", "--name", "Sprzedaż", "--name-en", "Sales").code == 0
    assert cli("department", "add", "support", "--name", "Wsparcie").code == 0


@pytest.fixture
def surveys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FEEDBOT_SURVEYS_DIR with an internal 'pulse' survey in two versions: version 2
    dropped `old_question` and added the multi-choice `channels`."""
    folder = tmp_path / "surveys"
    folder.mkdir()
    texts = {
        "title": {"pl": "Puls", "en": "Pulse"},
        "intro": {"pl": "Krótko.", "en": "Briefly."},
        "thanks": {"pl": "Dzięki!", "en": "Thanks!"},
    }
    overall = {"id": "overall", "type": "rating", "text": {"pl": "Ocena", "en": "Rating"}}
    old = {
        "id": "old_question",
        "type": "text",
        "required": False,
        "text": {"pl": "Stare pytanie", "en": "Old question"},
    }
    channels = {
        "id": "channels",
        "type": "multi",
        "required": False,
        "text": {"pl": "Kanały", "en": "Channels"},
        "choices": [
            {"id": "email", "text": {"pl": "E-mail", "en": "Email"}},
            {"id": "chat", "text": {"pl": "Czat", "en": "Chat"}},
        ],
    }
    for version, questions in ((1, [overall, old]), (2, [overall, channels])):
        survey = {"id": "pulse", "version": version, "audience": "internal", **texts}
        survey["questions"] = questions
        text = yaml.safe_dump(survey, allow_unicode=True)
        (folder / f"pulse-v{version}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("FEEDBOT_SURVEYS_DIR", str(folder))
    return folder


# ------------------------------------------------------------------ departments and products


def test_an_admin_adds_departments_and_products_and_lists_them(cli: Callable[..., Result]) -> None:
    added = cli("department", "add", "sales", "--name", "Sprzedaż", "--name-en", "Sales")
    assert added == Result(0, "added department 'sales' (Sprzedaż / Sales), survey internal\n", "")
    assert cli("department", "add", "support", "--name", "Wsparcie").code == 0
    assert cli("product", "add", "grinder", "--name", "Młynek", "--name-en", "Grinder").code == 0

    departments = cli("department", "list")
    assert departments.code == 0
    lines = departments.out.splitlines()
    assert [line.split()[0] for line in lines] == ["sales", "support"]
    assert lines[0].split() == ["sales", "Sprzedaż", "Sales", "survey=internal"]
    assert lines[1].split() == ["support", "Wsparcie", "Wsparcie", "survey=internal"]
    assert cli("product", "list").out.split() == ["grinder", "Młynek", "Grinder", "survey=external"]


def test_an_empty_list_prints_nothing_and_a_hint(cli: Callable[..., Result], database: Db) -> None:
    database(no_change)
    result = cli("product", "list")
    assert result.code == 0
    assert result.out == ""
    assert "feedbot product add" in result.err


def test_a_subject_may_name_another_survey_of_its_audience(
    cli: Callable[..., Result], surveys_dir: Path
) -> None:
    result = cli("department", "add", "it", "--name", "IT", "--survey", "pulse")
    assert result.code == 0
    assert "survey pulse" in result.out
    assert "survey=pulse" in cli("department", "list").out


def test_a_survey_of_the_other_audience_is_refused_naming_both(cli: Callable[..., Result]) -> None:
    fails(
        cli("department", "add", "sales", "--name", "Sprzedaż", "--survey", "external"),
        "survey 'external' is for the external audience, but a department needs a survey "
        "for the internal audience",
    )
    fails(
        cli("product", "add", "grinder", "--name", "Młynek", "--survey", "internal"),
        "survey 'internal' is for the internal audience, but a product needs a survey "
        "for the external audience",
    )
    assert cli("department", "list").out == ""


def test_an_unknown_survey_is_refused(cli: Callable[..., Result]) -> None:
    fails(
        cli("department", "add", "sales", "--name", "Sprzedaż", "--survey", "nope"),
        "unknown survey 'nope' (known: external, internal)",
    )


def test_a_duplicate_slug_is_refused(cli: Callable[..., Result], two_departments: None) -> None:
    fails(
        cli("department", "add", "sales", "--name", "Inna"),
        "a department with slug 'sales' already exists",
    )
    fails(cli("product", "add", "sales", "--name", "Inna"), "with slug 'sales' already exists")


@pytest.mark.parametrize(
    "slug", ["Sales", "sales!", "sales_team", "-sales", "sprzedaż", "sales team", "a" * 65]
)
def test_a_slug_outside_lowercase_letters_digits_and_dashes_is_refused(
    cli: Callable[..., Result], slug: str
) -> None:
    fails(cli("department", "add", "--name", "X", "--", slug), f"invalid slug {slug!r}")


def test_an_unknown_slug_names_the_known_ones(
    cli: Callable[..., Result], two_departments: None
) -> None:
    result = cli("department", "remove", "salez")
    assert result.code == 1
    assert result.err == "feedbot: no department with slug 'salez' (known: sales, support)\n"
    fails(cli("product", "remove", "sales"), "'sales' is a department")
    fails(cli("product", "set-survey", "grinder", "external"), "no product with slug 'grinder'")


def test_a_subject_without_responses_is_deleted(
    cli: Callable[..., Result], two_departments: None
) -> None:
    assert cli("department", "remove", "support") == Result(0, "removed department 'support'\n", "")
    assert cli("department", "list", "--all").out.split()[0] == "sales"
    assert "support" not in cli("department", "list", "--all").out


def test_a_subject_with_responses_is_archived_only_with_force(
    cli: Callable[..., Result], two_departments: None, database: Db
) -> None:
    database(lambda db: answer_internal(db, "sales", datetime.now(UTC), "Dobrze"))

    fails(
        cli("department", "remove", "sales"),
        "department 'sales' has 1 response; add --force to archive it instead",
    )
    assert cli("department", "list").out.startswith("sales")

    forced = cli("department", "remove", "sales", "--force")
    assert forced.code == 0
    assert forced.out.startswith("archived department 'sales'")
    assert [line.split()[0] for line in cli("department", "list").out.splitlines()] == ["support"]
    everything = cli("department", "list", "--all").out.splitlines()
    assert everything[0].startswith("sales") and everything[0].endswith("archived")
    assert not everything[1].endswith("archived")
    # The responses are still there to export.
    export = cli("export", "--department", "sales")
    assert export.code == 0 and "Dobrze" in export.out


def test_set_survey_changes_the_survey_within_the_audience(
    cli: Callable[..., Result], two_departments: None, surveys_dir: Path
) -> None:
    result = cli("department", "set-survey", "sales", "pulse")
    assert result.code == 0
    assert "now uses survey pulse (was internal)" in result.out
    assert "survey=pulse" in cli("department", "list").out.splitlines()[0]
    fails(
        cli("department", "set-survey", "sales", "external"),
        "survey 'external' is for the external audience, but a department needs a survey "
        "for the internal audience",
    )
    fails(cli("department", "set-survey", "sales", "nope"), "unknown survey 'nope'")
    fails(cli("department", "set-survey", "salez", "pulse"), "no department with slug 'salez'")


def test_every_command_takes_database(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDBOT_DATABASE", str(tmp_path / "not-this.sqlite3"))
    (tmp_path / "other").mkdir()
    other = str(tmp_path / "other" / "feedbot.sqlite3")
    assert cli("department", "add", "sales", "--name", "S", "--database", other).code == 0
    assert cli("product", "add", "grinder", "--name", "M", "--database", other).code == 0
    assert cli("department", "list", "--database", other).out.startswith("sales")
    # FEEDBOT_DATABASE names no database: listing is refused rather than showing none.
    fails(cli("department", "list"), "not-this.sqlite3 does not exist", code=2)
    created = cli("invite", "create", "buyer", "--product", "grinder", "--database", other)
    assert created.code == 0
    assert len(cli("invite", "list", "--database", other).out.splitlines()) == 1
    assert cli("invite", "revoke", "--database", other, "--", token_of(created)[:8]).code == 0
    assert cli("owner", "list", "--database", other).code == 0
    assert cli("export", "--product", "grinder", "--database", other).code == 0
    assert cli("department", "set-survey", "sales", "internal", "--database", other).code == 0
    assert cli("department", "remove", "sales", "--database", other).code == 0


# ------------------------------------------------------------------ invites


def token_of(result: Result) -> str:
    """The raw token printed by `invite create`."""
    assert result.code == 0, result.err
    lines = [line for line in result.out.splitlines() if line.startswith("token: ")]
    assert len(lines) == 1
    return lines[0].removeprefix("token: ")


def link_of(result: Result) -> str:
    lines = [line for line in result.out.splitlines() if line.startswith("link:")]
    assert len(lines) == 1
    return lines[0].removeprefix("link:").strip()


async def _check(db: Database, token: str) -> Invite:
    return await check_invite(db.conn, SECRET.encode(), token, now=datetime.now(UTC))


def invite_of(database: Db, token: str) -> Invite:
    """The invite the bot finds for a token (InviteError when it would refuse it)."""
    invite = database(lambda db: _check(db, token))
    assert isinstance(invite, Invite)
    return invite


def test_an_employee_invite_prints_a_link_the_bot_accepts(
    cli: Callable[..., Result], two_departments: None, database: Db
) -> None:
    result = cli("invite", "create", "employee", "--department", "sales")
    token = token_of(result)
    assert link_of(result) == f"https://t.me/{USERNAME}?start={token}"
    assert result.out.splitlines()[0] == (
        "employee invite for department 'sales': unlimited uses, never expires"
    )
    assert f"`{revoke_hint(token[:8])}`" in result.out
    assert result.err == ""

    invite = invite_of(database, token)
    sales = database(lambda db: get_subject(db.conn, "sales"))
    assert isinstance(sales, Subject)
    assert invite.kind is InviteKind.EMPLOYEE
    assert invite.subject_id == sales.id
    assert invite.role is MemberRole.EMPLOYEE
    assert invite.max_uses is None
    assert invite.expires_at is None


def test_each_kind_of_invite_has_its_target_and_default_uses(
    cli: Callable[..., Result], two_departments: None, database: Db
) -> None:
    assert cli("product", "add", "grinder", "--name", "Młynek").code == 0
    tokens = [
        token_of(cli("invite", "create", *argv))
        for argv in (
            ("partner", "--role", "supplier"),
            ("buyer", "--product", "grinder"),
            ("owner", "--product", "grinder"),
            ("owner", "--department", "sales", "--uses", "3"),
        )
    ]
    partner, buyer, owner, limited = (invite_of(database, token) for token in tokens)
    assert (partner.kind, partner.role, partner.subject_id, partner.max_uses) == (
        InviteKind.PARTNER,
        MemberRole.SUPPLIER,
        None,
        None,
    )
    assert (buyer.kind, buyer.max_uses) == (InviteKind.BUYER, None)
    assert (owner.kind, owner.max_uses) == (InviteKind.OWNER, 1)
    assert (limited.kind, limited.max_uses) == (InviteKind.OWNER, 3)
    assert buyer.subject_id == owner.subject_id != limited.subject_id


@pytest.mark.parametrize(
    ("duration", "delta"),
    [
        ("14d", timedelta(days=14)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_expires_sets_the_expiry_that_far_out(
    cli: Callable[..., Result],
    two_departments: None,
    database: Db,
    duration: str,
    delta: timedelta,
) -> None:
    before = datetime.now(UTC)
    result = cli("invite", "create", "employee", "--department", "sales", "--expires", duration)
    after = datetime.now(UTC)
    invite = invite_of(database, token_of(result))
    assert invite.expires_at is not None
    assert before + delta <= invite.expires_at <= after + delta
    assert "expires " in result.out.splitlines()[0]


@pytest.mark.parametrize(
    ("duration", "problem"),
    [
        ("14", "'14' has no unit; add m, h, d or w (e.g. 14d for 14 days)"),
        ("d", "'d' does not start with a number"),
        ("14 d", "'14 d' has a space; write the number and unit together"),
        ("1.5d", "'1.5d' is not a whole number; use a smaller unit (e.g. 36h, not 1.5d)"),
        ("0d", "'0d' would expire the link at once; give a positive duration"),
        ("14D", "'14D': write the unit as one lower-case letter (14d)"),
        ("-1d", "'-1d' is negative; give a positive duration"),
        ("14days", "'14days': write the unit as one lower-case letter (14d)"),
        ("2w3d", "'2w3d' has more than one unit; give one, e.g. 17d rather than 2w3d"),
        ("5y", "'y' in '5y' is not a unit; use one of m (minutes), h (hours), d (days)"),
        ("", "the duration is empty"),
        ("99999w", "'99999w' is more than ten years; leave --expires out"),
        ("9" * 20 + "m", f"'{'9' * 20}m' is more than ten years; leave --expires out"),
    ],
)
def test_a_malformed_duration_is_refused_saying_what_is_wrong(
    cli: Callable[..., Result], two_departments: None, duration: str, problem: str
) -> None:
    result = cli("invite", "create", "employee", "--department", "sales", f"--expires={duration}")
    fails(result, f"--expires: {problem}")


@pytest.mark.parametrize(
    ("uses", "problem"),
    [
        ("0", "'0' would make a link nobody can use; give a number from 1 to 999999999"),
        ("-1", "'-1' would make a link nobody can use"),
        ("two", "'two' is not a whole number"),
        ("1.5", "'1.5' is not a whole number"),
        ("1000000000", "'1000000000' is more than the largest limit, 999999999; for no limit"),
    ],
)
def test_a_malformed_use_limit_is_refused_saying_what_is_wrong(
    cli: Callable[..., Result], two_departments: None, uses: str, problem: str
) -> None:
    result = cli("invite", "create", "employee", "--department", "sales", f"--uses={uses}")
    fails(result, f"--uses: {problem}")


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (
            ("partner", "contractor"),
            "invite create partner: 'contractor' without an option is the chat's syntax "
            "(/invite partner ...); on the command line the role goes after --role "
            "contractor|supplier: `feedbot invite create partner --role contractor`",
        ),
        (
            ("employee", "sales"),
            "the subject goes after --department SLUG: "
            "`feedbot invite create employee --department sales`",
        ),
        (
            ("owner", "sales"),
            "`feedbot invite create owner --product sales` or "
            "`feedbot invite create owner --department sales`",
        ),
        (("buyer",), "invite create buyer: --product SLUG is required"),
        (
            ("employee", "--department", "sales", "support"),
            "unexpected 'support': the subject is given already (--department SLUG)",
        ),
    ],
)
def test_the_chats_invite_syntax_on_the_command_line_is_spelled_out(
    cli: Callable[..., Result], two_departments: None, argv: tuple[str, ...], problem: str
) -> None:
    fails(cli("invite", "create", *argv), problem)


def test_an_invite_to_an_unknown_or_wrong_subject_is_refused(
    cli: Callable[..., Result], two_departments: None
) -> None:
    fails(
        cli("invite", "create", "employee", "--department", "salez"),
        "no department with slug 'salez' (known: sales, support)",
    )
    fails(
        cli("invite", "create", "buyer", "--product", "sales"),
        "--product: 'sales' is a department, not a product; a buyer invite needs a product "
        "(there are none yet: add one with `feedbot product add SLUG --name NAME`). "
        "For the department itself: `feedbot invite create employee --department sales`",
    )
    assert cli("product", "add", "grinder", "--name", "Młynek").code == 0
    fails(
        cli("invite", "create", "employee", "--department", "grinder"),
        "--department: 'grinder' is a product, not a department; an employee invite needs a "
        "department (departments: sales, support). "
        "For the product itself: `feedbot invite create buyer --product grinder`",
    )
    fails(cli("invite", "create", "owner", "--department", "Sales"), "invalid slug 'Sales'")


def test_an_archived_subject_takes_no_invites(
    cli: Callable[..., Result], two_departments: None, database: Db
) -> None:
    database(lambda db: answer_internal(db, "sales", datetime.now(UTC), "ok"))
    assert cli("department", "remove", "sales", "--force").code == 0
    fails(
        cli("invite", "create", "employee", "--department", "sales"),
        "department 'sales' is archived",
    )


def test_invites_need_the_secret(
    cli: Callable[..., Result], two_departments: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDBOT_SECRET", "")
    fails(
        cli("invite", "create", "employee", "--department", "sales"),
        "FEEDBOT_SECRET is not set",
        code=2,
    )


def test_without_username_or_token_the_link_has_a_placeholder_and_a_hint(
    cli: Callable[..., Result], two_departments: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDBOT_BOT_USERNAME", "")
    result = cli("invite", "create", "employee", "--department", "sales")
    token = token_of(result)
    assert link_of(result) == f"https://t.me/<your_bot>?start={token}"
    assert result.err.count("\n") == 1
    assert "FEEDBOT_BOT_USERNAME" in result.err
    assert "<your_bot>" in result.err


def test_with_a_token_the_username_comes_from_the_bot_api(
    cli: Callable[..., Result], two_departments: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.http_server import BotApiServer
    from tests.fakes.telegram_server import FakeTelegram

    token = "123456:TEST-TOKEN"
    monkeypatch.setenv("FEEDBOT_BOT_USERNAME", "")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    with BotApiServer(FakeTelegram(token=token, username="acme_feedback_bot")) as server:
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        result = cli("invite", "create", "employee", "--department", "sales")
    assert link_of(result) == f"https://t.me/acme_feedback_bot?start={token_of(result)}"
    assert result.err == ""


def test_when_the_bot_api_is_unreachable_the_link_has_a_placeholder_and_a_warning(
    cli: Callable[..., Result], two_departments: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("FEEDBOT_BOT_USERNAME", "")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-TOKEN")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"http://127.0.0.1:{port}/bot")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    result = cli("invite", "create", "employee", "--department", "sales")
    assert link_of(result) == f"https://t.me/<your_bot>?start={token_of(result)}"
    assert result.err.startswith("feedbot: warning: could not ask Telegram")
    assert "FEEDBOT_BOT_USERNAME" in result.err and result.err.count("\n") == 1


def test_invite_list_shows_prefix_kind_target_uses_expiry_and_state(
    cli: Callable[..., Result], two_departments: None
) -> None:
    employee = token_of(
        cli("invite", "create", "employee", "--department", "sales", "--expires", "2w")
    )
    partner = token_of(cli("invite", "create", "partner", "--role", "contractor", "--uses", "5"))

    rows = [line.split() for line in cli("invite", "list").out.splitlines()]
    assert rows[0][:5] == [employee[:8], "employee", "sales", "0/unlimited", "expires"]
    assert rows[0][-1] == "active"
    assert rows[1] == [partner[:8], "partner", "contractor", "0/5", "never", "expires", "active"]


def test_an_invite_is_revoked_by_its_prefix(
    cli: Callable[..., Result], two_departments: None, database: Db
) -> None:
    token = token_of(cli("invite", "create", "employee", "--department", "sales"))
    kept = token_of(cli("invite", "create", "employee", "--department", "support"))
    revoked = cli("invite", "revoke", "--", token[:6])
    assert revoked == Result(0, f"revoked employee invite {token[:8]}\n", "")

    with pytest.raises(InviteError) as problem:
        invite_of(database, token)
    assert problem.value.problem is InviteProblem.REVOKED
    assert invite_of(database, kept).revoked_at is None
    # Only usable invites are listed, unless --all.
    assert [line.split()[0] for line in cli("invite", "list").out.splitlines()] == [kept[:8]]
    everything = cli("invite", "list", "--all").out.splitlines()
    assert everything[0].startswith(token[:8]) and "revoked" in everything[0]

    again = cli("invite", "revoke", "--", token)
    assert again.code == 0 and "was already revoked" in again.out


def test_revoking_an_unknown_or_too_short_prefix_is_refused(
    cli: Callable[..., Result], two_departments: None, database: Db
) -> None:
    token = token_of(cli("invite", "create", "employee", "--department", "sales"))
    unknown = "zzzz" if not token.startswith("zzzz") else "yyyy"
    fails(cli("invite", "revoke", unknown), f"no invite starts with '{unknown}'")
    fails(cli("invite", "revoke", "ab"), "give the whole token or its first 4 to 8 characters")
    invites = database(lambda db: list_invites(db.conn, now=datetime.now(UTC)))
    assert isinstance(invites, list) and len(invites) == 1


# ------------------------------------------------------------------ owners


def test_owner_list_shows_each_ownership_with_its_digest_schedule(
    cli: Callable[..., Result], two_departments: None, database: Db
) -> None:
    async def owners(db: Database) -> None:
        now = datetime.now(UTC)
        sales = await get_subject(db.conn, "sales")
        support = await get_subject(db.conn, "support")
        assert sales is not None and support is not None
        async with db.transaction() as conn:
            await add_owner(conn, 111, sales.id, now=now)
            await add_owner(conn, 222, sales.id, now=now)
            await add_owner(conn, 222, support.id, now=now)
            await update_owner_settings(
                conn,
                222,
                default_timezone="Europe/Warsaw",
                weekday=4,
                hour=16,
                timezone="Europe/London",
                paused=True,
            )
            await mark_owner_inactive(conn, 222)

    database(owners)
    result = cli("owner", "list")
    assert result.code == 0
    assert [line.split() for line in result.out.splitlines()] == [
        ["111", "sales", "department", "Mon", "09:00", "Europe/Warsaw"],
        ["222", "sales", "department", "Fri", "16:00", "Europe/London", "paused", "inactive"],
        ["222", "support", "department", "Fri", "16:00", "Europe/London", "paused", "inactive"],
    ]


def test_owner_list_without_owners_prints_nothing_and_a_hint(
    cli: Callable[..., Result], database: Db
) -> None:
    database(no_change)
    result = cli("owner", "list")
    assert (result.code, result.out) == (0, "")
    assert "feedbot invite create owner" in result.err


# ------------------------------------------------------------------ export


async def answer_internal(
    db: Database,
    slug: str,
    at: datetime,
    comment: str,
    *,
    survey_id: str = "internal",
    version: int = 1,
    records: list[AnswerRecord] | None = None,
    telegram_id: int = TELEGRAM_ID,
) -> None:
    """An employee completes the internal survey about a department, as the bot stores it."""
    subject = await get_subject(db.conn, slug)
    assert subject is not None
    key = week_key(at.date())
    if records is None:
        records = [
            AnswerRecord(question_id="overall", question_type=QuestionType.RATING, number=4),
            AnswerRecord(question_id="recommend", question_type=QuestionType.NPS, number=9),
            AnswerRecord(question_id="works_well", question_type=QuestionType.TEXT, text=comment),
        ]
    async with db.transaction() as conn:
        session = await start_session(
            conn,
            respondent_id=telegram_id,
            chat_id=telegram_id,
            survey_id=survey_id,
            survey_version=version,
            subject_id=subject.id,
            audience=subject.kind.audience,
            role="employee",
            state_json='{"answers": {}}',
            now=at,
            week_key=key,
        )
        await complete_session(
            conn,
            session,
            records=records,
            marker=f"{PSEUDONYM}{at.timestamp()}",
            next_possible=at.date(),
            contact_id=None,
            now=at,
            week_key=key,
        )


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_an_export_round_trips_polish_letters_through_a_file(
    cli: Callable[..., Result], two_departments: None, database: Db, tmp_path: Path
) -> None:
    at = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    database(lambda db: answer_internal(db, "sales", at, POLISH))
    out = tmp_path / "sprzedaż.csv"

    result = cli("export", "--department", "sales", "--out", str(out))

    assert result == Result(0, f"exported 1 response about department 'sales' to {out}\n", "")
    rows = read_csv(out.read_bytes())
    assert rows[0] == [
        "response_no",
        "submitted_at",
        "survey_version",
        "status",
        "role",
        *INTERNAL_QUESTIONS,
    ]
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["works_well"] == POLISH
    assert (record["overall"], record["recommend"], record["reliability"]) == ("4", "9", "")
    assert record["submitted_at"] == "2026-11-23T00:00:00+00:00"  # its week, not its time
    assert (record["status"], record["role"], record["survey_version"]) == (
        "completed",
        "employee",
        "1",
    )


def test_an_internal_export_holds_no_telegram_id_or_pseudonym(
    cli: Callable[..., Result],
    two_departments: None,
    database: Db,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    at = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    database(lambda db: answer_internal(db, "sales", at, POLISH))
    capsysbinary.readouterr()

    assert main(["export", "--department", "sales"]) == 0

    data = capsysbinary.readouterr().out
    rows = read_csv(data)
    assert len(rows) == 2 and POLISH in rows[1]
    assert str(TELEGRAM_ID).encode() not in data
    assert PSEUDONYM[:16].encode() not in data
    assert not any("telegram" in column or "pseudonym" in column for column in rows[0])


def test_a_product_export_joins_multiple_choices_with_semicolons(
    cli: Callable[..., Result], database: Db, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert cli("product", "add", "grinder", "--name", "Młynek").code == 0
    records = [
        AnswerRecord(question_id="nps", question_type=QuestionType.NPS, number=3),
        AnswerRecord(question_id="nps_detractor", question_type=QuestionType.TEXT, text="Drogo"),
        AnswerRecord(
            question_id="improve", question_type=QuestionType.MULTI, choices=("price", "delivery")
        ),
    ]
    at = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    database(
        lambda db: answer_internal(db, "grinder", at, "", survey_id="external", records=records)
    )
    capsysbinary.readouterr()

    assert main(["export", "--product", "grinder"]) == 0

    rows = read_csv(capsysbinary.readouterr().out)
    record = dict(zip(rows[0], rows[1], strict=True))
    assert (record["nps"], record["nps_detractor"], record["improve"]) == (
        "3",
        "Drogo",
        "price;delivery",
    )
    assert "role" not in record and record["contact_telegram_id"] == ""


def test_an_export_has_the_latest_questions_then_those_only_older_versions_asked(
    cli: Callable[..., Result], database: Db, surveys_dir: Path, tmp_path: Path
) -> None:
    assert cli("department", "add", "it", "--name", "IT", "--survey", "pulse").code == 0
    old = [
        AnswerRecord(question_id="overall", question_type=QuestionType.RATING, number=2),
        AnswerRecord(question_id="old_question", question_type=QuestionType.TEXT, text="Stare"),
    ]
    new = [
        AnswerRecord(question_id="overall", question_type=QuestionType.RATING, number=5),
        AnswerRecord(
            question_id="channels", question_type=QuestionType.MULTI, choices=("email", "chat")
        ),
    ]
    first = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    second = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    database(lambda db: answer_internal(db, "it", first, "", survey_id="pulse", records=old))
    database(
        lambda db: answer_internal(
            db, "it", second, "", survey_id="pulse", version=2, records=new, telegram_id=5
        )
    )
    out = tmp_path / "it.csv"

    assert cli("export", "--department", "it", "--out", str(out)).code == 0

    rows = read_csv(out.read_bytes())
    assert rows[0][-3:] == ["overall", "channels", "old_question"]
    assert [row[-3:] for row in rows[1:]] == [["2", "", "Stare"], ["5", "email;chat", ""]]
    assert [row[2] for row in rows[1:]] == ["1", "2"]


def test_from_and_to_select_the_days(
    cli: Callable[..., Result], two_departments: None, database: Db, tmp_path: Path
) -> None:
    for number, day in enumerate((3, 10, 17), start=1):
        at = datetime(2026, 11, day, 12, 0, tzinfo=UTC)
        database(
            partial(answer_internal, slug="sales", at=at, comment=f"day {day}", telegram_id=number)
        )
    out = tmp_path / "sales.csv"

    def comments(*options: str) -> list[str]:
        assert cli("export", "--department", "sales", "--out", str(out), *options).code == 0
        rows = read_csv(out.read_bytes())
        column = rows[0].index("works_well")
        return [row[column] for row in rows[1:]]

    assert comments() == ["day 3", "day 10", "day 17"]
    assert comments("--from", "2026-11-10") == ["day 10", "day 17"]
    assert comments("--to", "2026-11-10") == ["day 3", "day 10"]
    # Internal responses carry their week, not their day: a week is in when one of its
    # days is (3 Nov is in the week of 2 Nov, 16 Nov starts the week of 17 Nov).
    assert comments("--from", "2026-11-04", "--to", "2026-11-16") == ["day 3", "day 10", "day 17"]
    assert comments("--from", "2026-11-09", "--to", "2026-11-15") == ["day 10"]


@pytest.mark.parametrize("value", ["2026-02-30", "2026-1-05", "05.01.2026", "yesterday", "2026"])
@pytest.mark.parametrize("option", ["--from", "--to"])
def test_a_malformed_date_is_refused(
    cli: Callable[..., Result], two_departments: None, option: str, value: str
) -> None:
    fails(
        cli("export", "--department", "sales", option, value),
        f"{option}: expected a date as YYYY-MM-DD, not {value!r}",
    )


def test_from_after_to_is_refused(cli: Callable[..., Result], two_departments: None) -> None:
    fails(
        cli("export", "--department", "sales", "--from", "2026-12-01", "--to", "2026-11-01"),
        "--from 2026-12-01 is after --to 2026-11-01",
    )


def test_exporting_an_unknown_subject_is_refused(
    cli: Callable[..., Result], two_departments: None
) -> None:
    fails(
        cli("export", "--department", "salez"),
        "no department with slug 'salez' (known: sales, support)",
    )
    fails(cli("export", "--product", "sales"), "no product with slug 'sales'")


def test_a_prefix_starting_with_a_dash_is_given_after_a_double_dash(
    cli: Callable[..., Result], database: Db
) -> None:
    database(no_change)
    assert revoke_hint("-AbCdEfG") == "feedbot invite revoke -- -AbCdEfG"
    assert revoke_hint("AbCdEfGh") == "feedbot invite revoke AbCdEfGh"
    fails(cli("invite", "revoke", "--", "-AbC"), "no invite starts with '-AbC'")


def test_the_admin_export_says_it_is_complete_and_for_the_admin_only(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    for argv in (["--help"], ["export", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
    text = " ".join(capsysbinary.readouterr().out.decode("utf-8").split())
    assert "export ALL of a department's or product's responses as CSV (admin only)" in text
    assert "This export is COMPLETE and for the admin only" in text
    assert "their /export in the bot holds only what their digests may show" in text
