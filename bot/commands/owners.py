"""`feedbot owner list`: who owns which subject, and when their digests arrive."""

from __future__ import annotations

import argparse
import sys

from bot.commands.common import add_database_option, run_async, settings_from
from bot.commands.subjects import Subparsers, open_database, print_columns
from bot.i18n import plain
from storage.models import Owner, OwnerSettings, Subject
from storage.owners import get_owner_settings, list_owners


def register(subparsers: Subparsers) -> None:
    """Add `feedbot owner list`."""
    parser = subparsers.add_parser(
        "owner",
        help="list the owners of departments and products",
        description="Owners receive the weekly digest of the subjects they own.",
    )
    actions = parser.add_subparsers(dest="owner_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="list every owner and subject, with their digest schedule",
        description=(
            "One ownership per line: Telegram id, subject slug, kind, digest day, hour and "
            "time zone, then paused (digests paused by the owner), inactive (the owner "
            "blocked the bot) or archived (the subject was archived) when so."
        ),
    )
    add_database_option(listing)
    listing.set_defaults(handler=list_command)


def list_command(args: argparse.Namespace) -> int:
    """Print one line per (owner, subject)."""
    settings = settings_from(args)

    async def fetch() -> list[tuple[Owner, Subject, OwnerSettings]]:
        async with open_database(settings) as db:
            pairs = await list_owners(db.conn)
            known: dict[int, OwnerSettings] = {}
            for owner, _ in pairs:
                if owner.telegram_id not in known:
                    known[owner.telegram_id] = await get_owner_settings(
                        db.conn, owner.telegram_id, default_timezone=settings.timezone
                    )
        return [(owner, subject, known[owner.telegram_id]) for owner, subject in pairs]

    rows = [_row(*entry) for entry in run_async(fetch)]
    if not rows:
        print(
            "no owners yet: create a link with "
            "`feedbot invite create owner --department SLUG` (or --product SLUG)",
            file=sys.stderr,
        )
        return 0
    print_columns(rows)
    return 0


def _row(owner: Owner, subject: Subject, digest: OwnerSettings) -> list[str]:
    flags = [
        flag
        for flag, on in (
            ("paused", digest.paused),
            ("inactive", not digest.active),
            ("archived", subject.archived),
        )
        if on
    ]
    return [
        str(owner.telegram_id),
        subject.slug,
        subject.kind.value,
        f"{plain('en', f'delivery.settings.day_short_{digest.weekday}')} {digest.hour:02d}:00"
        f" {digest.timezone}",
        " ".join(flags),
    ]
