"""`feedbot invite create|list|revoke`: invite links for employees, partners, buyers and owners."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.commands.common import CommandError, add_database_option, run_async, settings_from
from bot.commands.subjects import (
    Subparsers,
    find_subject,
    open_database,
    print_columns,
    valid_slug,
)
from bot.config import Settings
from domain import invites as invite_rules
from storage.db import Database
from storage.errors import AmbiguousPrefix, NotFound
from storage.invites import create_invite, is_well_formed, list_invites, revoke_invite
from storage.models import Invite, InviteKind, MemberRole, Subject, SubjectKind
from storage.subjects import get_subject, list_subjects

PLACEHOLDER_USERNAME = "<your_bot>"
USERNAME_HINT = (
    "replace <your_bot> in the link with your bot's username, and set "
    "FEEDBOT_BOT_USERNAME=<username> in .env (without the @) to have it filled in"
)
UNLIMITED = "unlimited"

# A number and one unit: minutes, hours, days or weeks ("90m", "12h", "14d", "2w").
_DURATION = re.compile(r"^([0-9]{1,12})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_MAX_DURATION = timedelta(days=3660)
_MAX_USES = 999_999_999
_EXAMPLES = "such as 30m, 12h, 14d or 2w"


def parse_duration(text: str) -> timedelta:
    """'30m', '12h', '14d' or '2w' as a timedelta; a CommandError saying what is wrong
    with anything else."""
    value = text.strip()
    match = _DURATION.fullmatch(value)
    if match is None:
        raise CommandError(f"--expires: {_duration_problem(value)}")
    amount, unit = int(match[1]), match[2]
    if amount == 0:
        raise CommandError(
            f"--expires: {text!r} would expire the link at once; give a positive "
            f"duration, {_EXAMPLES} (leave --expires out for a link that never expires)"
        )
    if amount > _MAX_DURATION // timedelta(**{_UNITS[unit]: 1}):
        raise CommandError(f"--expires: {text!r} is more than ten years; leave --expires out")
    return timedelta(**{_UNITS[unit]: amount})


def _duration_problem(value: str) -> str:
    """What is wrong with a duration the pattern refused (for the error message)."""
    if not value:
        return f"the duration is empty; give a number and a unit, {_EXAMPLES}"
    if value.startswith("-"):
        return f"{value!r} is negative; give a positive duration, {_EXAMPLES}"
    if value.isdigit():
        return f"{value!r} has no unit; add m, h, d or w (e.g. {value}d for {value} days)"
    number = re.match(r"^[0-9]*", value)
    digits = number[0] if number else ""
    rest = value[len(digits) :].strip()
    if not digits:
        return f"{value!r} does not start with a number; give a number and a unit, {_EXAMPLES}"
    if len(digits) > 12 and rest in _UNITS:
        return f"{value!r} is more than ten years; leave --expires out"
    if rest.startswith((".", ",")):
        return f"{value!r} is not a whole number; use a smaller unit (e.g. 36h, not 1.5d)"
    if rest[:1].lower() in _UNITS and rest.isalpha() and " " not in value:
        return f"{value!r}: write the unit as one lower-case letter ({digits}{rest[0].lower()})"
    if rest[:1] in _UNITS and " " not in value:
        return f"{value!r} has more than one unit; give one, e.g. 17d rather than 2w3d"
    if value != value.replace(" ", ""):
        return f"{value!r} has a space; write the number and unit together, {_EXAMPLES}"
    return (
        f"{rest!r} in {value!r} is not a unit; use one of m (minutes), h (hours), "
        f"d (days) or w (weeks), {_EXAMPLES}"
    )


def parse_uses(text: str | None, kind: InviteKind) -> int | None:
    """--uses as a limit (None: unlimited); left out, the kind's default
    (domain.invites.default_max_uses: owner links are single-use)."""
    if text is None:
        return invite_rules.default_max_uses(kind)
    value = text.strip()
    if value.lower() == UNLIMITED:
        return None
    if not re.fullmatch(r"-?[0-9]+", value):
        raise CommandError(
            f"--uses: {text!r} is not a whole number; give a number from 1 to "
            f"{_MAX_USES}, or 'unlimited'"
        )
    number = int(value)
    if number < 1:
        raise CommandError(
            f"--uses: {text!r} would make a link nobody can use; give a number from 1 to "
            f"{_MAX_USES}, or 'unlimited'"
        )
    if number > _MAX_USES:
        raise CommandError(
            f"--uses: {text!r} is more than the largest limit, {_MAX_USES}; "
            "for no limit give 'unlimited' (or leave --uses out)"
        )
    return number


# --- the bot's username -------------------------------------------------------------------


async def bot_username(settings: Settings) -> str | None:
    """FEEDBOT_BOT_USERNAME, else the Bot API's getMe when a token is set (None, with a
    warning on stderr, when neither gives one)."""
    if settings.bot_username:
        return settings.bot_username.strip().lstrip("@")
    if settings.token is None:
        print(
            f"feedbot: warning: neither FEEDBOT_BOT_USERNAME nor TELEGRAM_BOT_TOKEN is set: "
            f"{USERNAME_HINT}",
            file=sys.stderr,
        )
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    token = settings.token.get_secret_value()
    try:
        if settings.api_base_url:
            bot = Bot(token, base_url=settings.api_base_url.rstrip("/"))
        else:
            bot = Bot(token)
        async with bot:
            me = await bot.get_me()
    except (TelegramError, OSError) as exc:
        print(
            f"feedbot: warning: could not ask Telegram for the bot's username ({exc}); "
            f"{USERNAME_HINT}",
            file=sys.stderr,
        )
        return None
    return me.username


def invite_link(username: str | None, token: str) -> str:
    """The deep link that opens the bot with this invite."""
    return f"https://t.me/{username or PLACEHOLDER_USERNAME}?start={token}"


# --- registration -------------------------------------------------------------------------


def register(subparsers: Subparsers) -> None:
    """Add `feedbot invite create|list|revoke`."""
    parser = subparsers.add_parser(
        "invite",
        help="create, list or revoke invite links",
        description="Invite links: create them for employees, partners, buyers and owners.",
    )
    actions = parser.add_subparsers(dest="invite_command", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create",
        help="create an invite link",
        description=(
            "Create an invite link and print it with its token. The token is shown only "
            "now: the database keeps only its keyed hash."
        ),
    )
    kinds = create.add_subparsers(dest="kind", metavar="KIND", required=True)
    employee = _kind_parser(kinds, InviteKind.EMPLOYEE, "an employee joins a department")
    employee.add_argument("--department", metavar="SLUG", help="the department (required)")
    partner = _kind_parser(
        kinds, InviteKind.PARTNER, "a contractor or supplier (no department) registers"
    )
    partner.add_argument(
        "--role", choices=[MemberRole.CONTRACTOR, MemberRole.SUPPLIER], help="(required)"
    )
    buyer = _kind_parser(kinds, InviteKind.BUYER, "a buyer rates a product")
    buyer.add_argument("--product", metavar="SLUG", help="the product (required)")
    owner = _kind_parser(kinds, InviteKind.OWNER, "someone becomes an owner and gets digests")
    which = owner.add_mutually_exclusive_group()
    which.add_argument("--department", metavar="SLUG")
    which.add_argument("--product", metavar="SLUG")

    listing = actions.add_parser(
        "list",
        help="list usable invites (all with --all)",
        description=(
            "One invite per line: token prefix, kind, department/product slug or role, "
            "uses/limit, expiry and state. Only usable ones unless --all."
        ),
    )
    listing.add_argument(
        "--all", action="store_true", help="include revoked, expired and used-up invites"
    )
    add_database_option(listing)
    listing.set_defaults(handler=list_command)

    revoke = actions.add_parser(
        "revoke",
        help="revoke an invite by its token or token prefix",
        description="Revoke an invite given its whole token or its first 4 to 8 characters.",
    )
    revoke.add_argument("token", metavar="TOKEN_OR_PREFIX")
    add_database_option(revoke)
    revoke.set_defaults(handler=revoke_command)


def _kind_parser(kinds: Subparsers, kind: InviteKind, what: str) -> argparse.ArgumentParser:
    parser = kinds.add_parser(kind.value, help=f"{what}", description=f"A link with which {what}.")
    uses = invite_rules.default_max_uses(kind)
    default = UNLIMITED if uses is None else str(uses)
    parser.add_argument(
        "--uses",
        metavar="N",
        help=f"how many times it can be used, or 'unlimited' (default: {default})",
    )
    parser.add_argument(
        "--expires",
        metavar="DURATION",
        help="valid for this long: e.g. 30m, 12h, 14d or 2w (default: never expires)",
    )
    parser.add_argument(
        "--qr",
        metavar="FILE",
        type=Path,
        help="also write the link as a QR code for printing: FILE.png or FILE.svg",
    )
    # Words after the kind are the chat's syntax (`/invite partner contractor`): taken
    # here only to say how the command line spells them (check_target), never used.
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    add_database_option(parser)
    parser.set_defaults(handler=create_command, invite_kind=kind)
    return parser


_FITTING = {
    InviteKind.BUYER: "feedbot invite create buyer --product {slug}",
    InviteKind.EMPLOYEE: "feedbot invite create employee --department {slug}",
}
_TARGET = {
    InviteKind.EMPLOYEE: "--department SLUG",
    InviteKind.PARTNER: "--role contractor|supplier",
    InviteKind.BUYER: "--product SLUG",
    InviteKind.OWNER: "--department SLUG or --product SLUG",
}


def check_target(args: argparse.Namespace) -> None:
    """The department, product or role an invite is for was given as its option; a
    CommandError showing the right spelling otherwise (e.g. for the chat's syntax)."""
    kind: InviteKind = args.invite_kind
    words: list[str] = args.words
    given = {
        InviteKind.EMPLOYEE: getattr(args, "department", None),
        InviteKind.PARTNER: getattr(args, "role", None),
        InviteKind.BUYER: getattr(args, "product", None),
        InviteKind.OWNER: getattr(args, "department", None) or getattr(args, "product", None),
    }[kind]
    command = f"invite create {kind.value}"
    what = "role" if kind is InviteKind.PARTNER else "subject"
    if words and given is not None:
        raise CommandError(
            f"{command}: unexpected {' '.join(words)!r}: the {what} is given already "
            f"({_TARGET[kind]}), and nothing else follows it"
        )
    if words:
        if kind is InviteKind.OWNER:
            spelled = (
                f"`feedbot {command} --product {words[0]}` or "
                f"`feedbot {command} --department {words[0]}`"
            )
        else:
            spelled = f"`feedbot {command} {_TARGET[kind].split()[0]} {words[0]}`"
        raise CommandError(
            f"{command}: {' '.join(words)!r} without an option is the chat's syntax "
            f"(/invite {kind.value} ...); on the command line the {what} goes after "
            f"{_TARGET[kind]}: {spelled}"
        )
    if given is None:
        raise CommandError(f"{command}: {_TARGET[kind]} is required")


# --- create -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Created:
    invite: Invite
    token: str
    subject: Subject | None


def create_command(args: argparse.Namespace) -> int:
    """Create an invite and print what it opens, its deep link and its token."""
    check_target(args)
    settings = settings_from(args)
    kind: InviteKind = args.invite_kind
    max_uses = parse_uses(args.uses, kind)
    expires_in = None if args.expires is None else parse_duration(args.expires)
    role = MemberRole(args.role) if kind is InviteKind.PARTNER else None
    qr_path: Path | None = getattr(args, "qr", None)
    if qr_path is not None and qr_path.suffix.lower() not in (".png", ".svg"):
        raise CommandError(f"--qr: {qr_path.name}: the file name must end in .png or .svg")
    department = getattr(args, "department", None)
    product = getattr(args, "product", None)
    secret = settings.secret_bytes()

    async def create() -> tuple[_Created, str | None]:
        async with open_database(settings) as db:
            subject: Subject | None = None
            await _check_kind(db, kind, department, product)
            if department is not None:
                subject = await find_subject(
                    db, SubjectKind.DEPARTMENT, department, allow_archived=False
                )
            elif product is not None:
                subject = await find_subject(db, SubjectKind.PRODUCT, product, allow_archived=False)
            now = datetime.now(UTC)
            async with db.transaction() as conn:
                invite, token = await create_invite(
                    conn,
                    secret,
                    kind=kind,
                    subject_id=None if subject is None else subject.id,
                    role=role,
                    max_uses=max_uses,
                    expires_at=None if expires_in is None else now + expires_in,
                    created_by=None,
                    now=now,
                )
            created = _Created(invite, token, subject)
        # Asked once the invite exists and the database is closed: the network may be
        # slow, and a failure only means a placeholder in the printed link.
        return created, await bot_username(settings)

    created, username = run_async(create)
    invite = created.invite
    print(f"{_describe(invite, created.subject)}: {_uses(invite)}, {_expiry(invite, settings)}")
    print(f"link:  {invite_link(username, created.token)}")
    print(f"token: {created.token}")
    qr_file: Path | None = getattr(args, "qr", None)
    if qr_file is not None:
        from bot.web import qr  # here: PIL and segno load only when a QR code is asked for

        caption = created.subject.name("pl") if created.subject else _describe(invite, None)
        qr.write(qr_file, invite_link(username, created.token), caption)
        print(f"QR code: {qr_file}")
    print(
        "The token is shown only now (the database keeps only its hash); "
        f"revoke it with `{revoke_hint(invite.prefix)}`."
    )
    return 0


async def _check_kind(
    db: Database, kind: InviteKind, department: str | None, product: str | None
) -> None:
    """A department given where a product belongs (or the reverse): say so, and which
    invite the subject takes, rather than only that no such department exists."""
    slug, wanted = (
        (department, SubjectKind.DEPARTMENT)
        if department is not None
        else (product, SubjectKind.PRODUCT)
    )
    if slug is None:
        return
    subject = await get_subject(db.conn, valid_slug(slug))
    # The option names the kind (an owner invite fits either, through its option).
    if subject is None or subject.kind is wanted:
        return
    option = "--department" if wanted is SubjectKind.DEPARTMENT else "--product"
    fitting = _FITTING[invite_rules.invite_for(subject.kind)].format(slug=slug)
    known = [s.slug for s in await list_subjects(db.conn, wanted)]
    listed = (
        f"{wanted.value}s: {', '.join(known[:10])}"
        if known
        else f"there are none yet: add one with `feedbot {wanted.value} add SLUG --name NAME`"
    )
    raise CommandError(
        f"{option}: {slug!r} is a {subject.kind.value}, not a {wanted.value}; "
        f"{'an' if kind.value[0] in 'aeiou' else 'a'} {kind.value} invite needs a "
        f"{wanted.value} ({listed}). "
        f"For the {subject.kind.value} itself: `{fitting}`"
    )


def revoke_hint(prefix: str) -> str:
    """The command revoking an invite; tokens may start with '-', which needs `--`."""
    separator = "-- " if prefix.startswith("-") else ""
    return f"feedbot invite revoke {separator}{prefix}"


def _describe(invite: Invite, subject: Subject | None) -> str:
    if invite.kind is InviteKind.PARTNER and invite.role is not None:
        return f"partner invite for a {invite.role.value}"
    if subject is None:
        return f"{invite.kind.value} invite"
    return f"{invite.kind.value} invite for {subject.kind.value} {subject.slug!r}"


def _uses(invite: Invite) -> str:
    if invite.max_uses is None:
        return "unlimited uses"
    return f"{invite.max_uses} use{'s' if invite.max_uses != 1 else ''}"


def _local(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M %Z")


def _expiry(invite: Invite, settings: Settings) -> str:
    if invite.expires_at is None:
        return "never expires"
    return f"expires {_local(invite.expires_at, settings)}"


# --- list and revoke ----------------------------------------------------------------------


def list_command(args: argparse.Namespace) -> int:
    """One invite per line: prefix, kind, subject or role, uses/limit, expiry, state."""
    settings = settings_from(args)

    async def fetch() -> tuple[list[Invite], dict[int, Subject], datetime]:
        async with open_database(settings) as db:
            now = datetime.now(UTC)
            invites = await list_invites(db.conn, include_inactive=args.all, now=now)
            subjects = await list_subjects(db.conn, include_archived=True)
        return invites, {s.id: s for s in subjects}, now

    invites, subjects, now = run_async(fetch)
    if not invites:
        which = "invites" if args.all else "usable invites"
        print(
            f"no {which}: create one with `feedbot invite create KIND ...` "
            "(see `feedbot invite create --help`)",
            file=sys.stderr,
        )
        return 0
    rows = [_row(invite, subjects, now, settings) for invite in invites]
    print_columns(rows)
    return 0


def _row(
    invite: Invite, subjects: dict[int, Subject], now: datetime, settings: Settings
) -> list[str]:
    subject = None if invite.subject_id is None else subjects.get(invite.subject_id)
    if subject is not None:
        target = subject.slug
    elif invite.role is not None:
        target = invite.role.value
    else:
        target = "-"
    limit = UNLIMITED if invite.max_uses is None else str(invite.max_uses)
    problem = invite.problem(now)
    if invite.revoked_at is not None:
        state = f"revoked {_local(invite.revoked_at, settings)}"
    elif subject is not None and subject.archived:
        state = f"{subject.kind.value} archived"
    elif problem is not None:
        state = problem.value.replace("_", " ")
    else:
        state = "active"
    return [
        invite.prefix,
        invite.kind.value,
        target,
        f"{invite.uses}/{limit}",
        _expiry(invite, settings),
        state,
    ]


def revoke_command(args: argparse.Namespace) -> int:
    """Revoke one invite by token or prefix."""
    settings = settings_from(args)
    text: str = args.token.strip()
    # A prefix is matched as stored; only a whole token is hashed with the secret.
    secret = settings.secret_bytes() if is_well_formed(text) else b""

    async def revoke() -> tuple[Invite, datetime]:
        async with open_database(settings) as db:
            now = datetime.now(UTC)
            try:
                async with db.transaction() as conn:
                    return await revoke_invite(conn, secret, text, now=now), now
            except (NotFound, AmbiguousPrefix) as exc:
                raise CommandError(str(exc)) from None

    invite, now = run_async(revoke)
    if invite.revoked_at is not None and invite.revoked_at != now:
        print(
            f"{invite.kind.value} invite {invite.prefix} was already revoked on "
            f"{_local(invite.revoked_at, settings)}"
        )
    else:
        print(f"revoked {invite.kind.value} invite {invite.prefix}")
    return 0
