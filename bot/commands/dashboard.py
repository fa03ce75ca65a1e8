"""`feedbot dashboard link --owner ID`: a one-time login link to the dashboard for a browser."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.commands.common import CommandError, add_database_option, run_async, settings_from
from bot.commands.subjects import Subparsers, open_database
from bot.web.links import login_link
from storage.owners import list_owned_subjects


def register(subparsers: Subparsers) -> None:
    """Add `feedbot dashboard link`."""
    parser = subparsers.add_parser(
        "dashboard",
        help="one-time login links to the owners' dashboard",
        description="The dashboard is on when FEEDBOT_PUBLIC_URL is set.",
    )
    actions = parser.add_subparsers(dest="dashboard_command", metavar="ACTION", required=True)
    link = actions.add_parser(
        "link",
        help="print a one-time login link (valid 10 minutes) for an owner or admin",
        description=(
            "Print a login link for a browser outside Telegram: it works once, within 10 "
            "minutes, and opens a session that shows what this user may see in the bot."
        ),
    )
    link.add_argument("--owner", required=True, type=int, metavar="TELEGRAM_ID")
    add_database_option(link)
    link.set_defaults(handler=link_command)


def link_command(args: argparse.Namespace) -> int:
    """Print the link; an error when the dashboard is off or the user may see nothing."""
    settings = settings_from(args)
    if settings.public_url is None:
        raise CommandError("FEEDBOT_PUBLIC_URL is not set: the dashboard is off")
    secret = settings.secret_bytes()
    telegram_id: int = args.owner

    async def make() -> str | None:
        async with open_database(settings) as db:
            owned = await list_owned_subjects(db.conn, telegram_id)
            if not owned and telegram_id not in settings.admins:
                raise CommandError(
                    f"{telegram_id} owns no department or product and is not in FEEDBOT_ADMINS"
                )
            return await login_link(db, settings, secret, telegram_id, now=datetime.now(UTC))

    print(run_async(make))
    return 0
