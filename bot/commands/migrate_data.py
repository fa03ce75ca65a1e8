"""`feedbot migrate-data`: move an SQLite deployment's rows into an empty PostgreSQL database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from bot.commands.common import CommandError, check_database, open_checked, run_async
from storage.db import is_postgres_url
from storage.transfer import TransferError, transfer


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `migrate-data` sub-command."""
    parser = subparsers.add_parser(
        "migrate-data",
        help="move an SQLite database's rows into an empty PostgreSQL database",
        description=(
            "Copy every row of an SQLite feedbot database into a new PostgreSQL database "
            "(its schema is created first), in one transaction, then check each table's row "
            "count and checksum on both sides. Refuses a target that holds any row. Stop "
            "the bot first: rows written meanwhile would not be moved."
        ),
    )
    parser.add_argument(
        "--from", dest="source", required=True, metavar="PATH", help="the SQLite file"
    )
    parser.add_argument(
        "--to", dest="target", required=True, metavar="URL", help="postgresql://user@host/db"
    )
    parser.set_defaults(handler=migrate_data)


def migrate_data(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Move the rows and print one line per table; 0 when every table arrived intact."""
    stream = out if out is not None else sys.stdout
    if is_postgres_url(args.source):
        raise CommandError("--from: give the path of the SQLite file to move from")
    if not is_postgres_url(args.target):
        raise CommandError("--to: give a postgresql:// URL of the new database")
    check_database(Path(args.source), create=False)
    return run_async(lambda: _move(args.source, args.target, stream))


async def _move(source_path: str, target_url: str, out: TextIO) -> int:
    source = await open_checked(source_path)
    try:
        target = await open_checked(target_url)
        try:
            reports = await transfer(source, target)
        except TransferError as exc:
            raise CommandError(f"migrate-data: {exc}", exit_code=2) from None
        finally:
            await target.close()
    finally:
        await source.close()
    width = max(len(r.table) for r in reports)
    for report in reports:
        out.write(
            f"{report.table:<{width}}  {report.target_rows:>9,} rows"
            f"  checksum {report.target_checksum[:16]}  ok\n"
        )
    total = sum(r.target_rows for r in reports)
    out.write(f"moved {total:,} rows in {len(reports)} tables to {target.path}\n")
    return 0
