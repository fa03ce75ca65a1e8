"""Helpers shared by CLI sub-commands: errors, settings and the database."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.config import Settings, load_settings

T = TypeVar("T")


class CommandError(Exception):
    """A one-line error for the user; the CLI prints it and exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings, with `--database` (when the command has it) taking precedence."""
    overrides: dict[str, Any] = {}
    if getattr(args, "database", None):
        overrides["FEEDBOT_DATABASE"] = args.database
    return load_settings(**overrides)


def add_database_option(parser: argparse.ArgumentParser) -> None:
    """Add `--database PATH` overriding FEEDBOT_DATABASE."""
    parser.add_argument(
        "--database", metavar="PATH", help="database file (default: FEEDBOT_DATABASE)"
    )


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine to completion for a CLI command."""

    async def runner() -> T:
        return await factory()

    return asyncio.run(runner())
