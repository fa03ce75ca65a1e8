"""The `feedbot` command line: one sub-command module per concern under bot/commands."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from importlib import import_module

from bot.commands.common import CommandError
from bot.commands.terminal import safe_output
from bot.config import ConfigError
from storage.connection import DatabaseUnavailable

# Each module defines `register(subparsers)`; the order is the order in --help.
COMMAND_MODULES = (
    "bot.commands.run",
    "bot.commands.demo",
    "bot.commands.validate",
    "bot.commands.try_survey",
    "bot.commands.subjects",
    "bot.commands.invites",
    "bot.commands.owners",
    "bot.commands.export",
    "bot.commands.digest",
    "bot.commands.dashboard",
    "bot.commands.migrate_data",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="feedbot",
        description="Feedback from internal and external customers, in Telegram.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        import_module(name).register(subparsers)
    return parser


@safe_output()  # every line a command prints shows control characters escaped
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `feedbot` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except (ConfigError, CommandError) as exc:
        print(f"feedbot: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except sqlite3.Error as exc:
        # Commands name the database when they can; this catches what slips past them
        # (e.g. a lock held by another process for longer than the busy timeout).
        message = str(exc).replace("\n", " ")
        print(f"feedbot: database error: {message}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        # PostgreSQL went away during the command (stopped, restarted, connection killed).
        print(f"feedbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
