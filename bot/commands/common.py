"""Helpers shared by CLI sub-commands: errors, settings and the database."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from bot.config import Settings, load_settings
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, plain
from storage.connection import DatabaseUnavailable
from storage.db import MEMORY, Database, is_postgres_url
from surveys.loader import SurveyCatalog, SurveyFileError

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


def add_lang_option(parser: argparse.ArgumentParser) -> None:
    """`--lang pl|en`: the language of the command's output and of its error messages."""
    parser.add_argument(
        "--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE, help="language (default: en)"
    )


def say(lang: str, key: str, **params: object) -> str:
    """A message of the digest commands (`cli.digest.<key>`), in `lang`, as plain text."""
    return plain(lang, f"cli.digest.{key}", **params)


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine to completion for a CLI command."""

    async def runner() -> T:
        return await factory()

    return asyncio.run(runner())


# Commands that make a new database when the file is not there yet (in an existing folder);
# every other command refuses, so that a mistyped path is not taken for an empty database.
CREATING_COMMANDS = "`feedbot run` or `feedbot department add`"


def check_database(target: str | Path, *, create: bool) -> None:
    """A one-line CommandError when the SQLite database at `target` cannot be used as
    asked (a PostgreSQL URL is checked by connecting, in `open_checked`).

    Checked before SQLite opens the file, because SQLite would create a missing file, and
    as root it would write to a file or folder that has no write permission at all."""
    if str(target) == MEMORY or is_postgres_url(str(target)):
        return
    path = Path(target)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise CommandError(f"database {path} is a folder: give the path of a file", exit_code=2)
    if not path.exists():
        if not folder.is_dir():
            raise CommandError(
                f"database {path} does not exist, nor does its folder {folder}: "
                "check FEEDBOT_DATABASE or --database",
                exit_code=2,
            )
        if not create:
            raise CommandError(
                f"database {path} does not exist; {CREATING_COMMANDS} creates it "
                "(or check FEEDBOT_DATABASE and --database)",
                exit_code=2,
            )
    elif not _writable(path):
        raise CommandError(
            f"database {path} is read-only: feedbot needs to write to it", exit_code=2
        )
    if not _writable(folder):
        raise CommandError(
            f"the folder {folder} of database {path} is read-only: SQLite needs to write its "
            "journal files beside the database",
            exit_code=2,
        )


def _writable(path: Path) -> bool:
    # os.access alone says yes to root even without any write permission bit.
    return os.access(path, os.W_OK) and path.stat().st_mode & 0o222 != 0


def database_error(path: str | Path, exc: Exception) -> CommandError:
    """A one-line CommandError for a failure of the database at `path` (an SQLite error,
    or a PostgreSQL server that cannot be reached)."""
    if isinstance(exc, DatabaseUnavailable):
        return CommandError(str(exc), exit_code=2)
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        what = "is not a feedbot database or is damaged (file is not a database)"
        return CommandError(f"database {path} {what}: restore it from a backup", exit_code=2)
    return CommandError(f"database {path}: {exc}", exit_code=2)


async def open_checked(path: str | Path) -> Database:
    """`Database.open(path)`, an SQLite failure (damaged file, lock held) or an unreachable
    PostgreSQL server as one line."""
    try:
        return await Database.open(path)
    except (sqlite3.Error, DatabaseUnavailable) as exc:
        raise database_error(path, exc) from None


@asynccontextmanager
async def open_database(settings: Settings, *, create: bool = False) -> AsyncIterator[Database]:
    """The bot's database (migrated on opening), closed on the way out; missing, damaged
    or read-only databases and SQLite failures become one-line errors."""
    path = settings.database
    check_database(path, create=create)
    db = await open_checked(path)
    try:
        yield db
    except (sqlite3.Error, DatabaseUnavailable) as exc:
        raise database_error(path, exc) from None
    finally:
        await db.close()


def load_catalog(settings: Settings) -> SurveyCatalog:
    """The bundled surveys plus FEEDBOT_SURVEYS_DIR (one-line error when a file is invalid)."""
    folder = settings.surveys_dir
    if folder is not None and not folder.exists():
        raise CommandError(
            f"FEEDBOT_SURVEYS_DIR {folder} does not exist: create it, or unset it to use "
            "only the bundled surveys",
            exit_code=2,
        )
    try:
        return SurveyCatalog.from_folders(settings.surveys_dir)
    except SurveyFileError as exc:
        raise survey_error(exc, settings.surveys_dir) from None


def survey_error(exc: SurveyFileError, folder: Path | None) -> CommandError:
    """One line for invalid survey files: how many problems, the first, how to see all."""
    count = len(exc.problems)
    first = str(exc.problems[0]).replace("\n", " ") if exc.problems else "unknown problem"
    where = f"FEEDBOT_SURVEYS_DIR has {count}" if folder else f"{count}"
    see = f"; run `feedbot validate {folder}` to see them all" if folder else ""
    return CommandError(
        f"{where} invalid survey problem{'s' if count != 1 else ''} (first: {first}){see}",
        exit_code=2,
    )
