"""`feedbot digest send [--dry-run]`: queue what is due now and send the outbox through the Bot API.

The same tick the running bot does every minute (bot.delivery.scheduler.tick), once.
The dry run plans inside a transaction that is rolled back, so it shows exactly what
the real run would queue and send, and leaves the database untouched.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from bot.commands.common import (
    CommandError,
    add_database_option,
    add_lang_option,
    check_database,
    load_catalog,
    open_checked,
    run_async,
    say,
    settings_from,
)
from bot.config import Settings
from storage import outbox as outbox_repo
from storage.connection import Connection
from storage.subjects import get_subject_by_id
from surveys.loader import SurveyCatalog

if TYPE_CHECKING:  # imported lazily at run time: `feedbot --help` must not load telegram
    from telegram import Bot

DRY_RUN_SECRET = b"dry-run: pulses are only counted, never sent"
DUE_LIMIT = 10_000


class _RollBack(Exception):
    """Raised to leave the dry run's transaction without committing."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--dry-run`, `--lang` and `--database`."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be sent (owner, subject, period, parts); send and change nothing",
    )
    add_lang_option(parser)
    add_database_option(parser)


def send_due(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Queue and send everything due now; 0 when nothing failed, 1 otherwise."""
    settings = settings_from(args)
    lang: str = args.lang
    check_database(settings.database, create=False)
    stream = out if out is not None else sys.stdout
    if args.dry_run:
        return run_async(lambda: _dry_run(settings, stream, lang))
    if settings.token is None:
        raise CommandError(say(lang, "no_token"))
    # Here, not at the top: bot.logs loads telegram, which `feedbot --help` must not load.
    from bot.logs import logging_for_command

    # Through the redacting handler: PTB and httpx log the token-bearing URL at DEBUG.
    with logging_for_command(
        settings.log_level,
        token=settings.token.get_secret_value(),
        secret=settings.secret.get_secret_value() if settings.secret else None,
    ):
        return run_async(lambda: _send(settings, stream, lang))


def _catalog(settings: Settings) -> SurveyCatalog:
    return load_catalog(settings)


def make_bot(settings: Settings) -> Bot:
    """A plain telegram.Bot for the token, at TELEGRAM_API_BASE_URL when set."""
    from telegram import Bot  # not at the top: `feedbot --help` must not load telegram

    assert settings.token is not None
    token = settings.token.get_secret_value()
    if settings.api_base_url:
        base = settings.api_base_url.rstrip("/")
        return Bot(token, base_url=base, base_file_url=base.removesuffix("/bot") + "/file/bot")
    return Bot(token)


async def _send(settings: Settings, out: TextIO, lang: str) -> int:
    # Here, not at the top: these load telegram, which `feedbot --help` must not load.
    from telegram.error import TelegramError

    from bot.delivery import scheduler
    from bot.delivery.sender import Pacer, Result
    from bot.services import Services

    db = await open_checked(settings.database)
    try:
        services = Services(settings=settings, db=db, surveys=_catalog(settings))
        async with make_bot(settings) as bot:
            report = await scheduler.tick(services, bot, pacer=Pacer())
    except TelegramError as exc:  # e.g. a wrong token (getMe fails) or no network
        raise CommandError(say(lang, "telegram", error=exc)) from None
    finally:
        await db.close()
    counts = {"digests": len(report.digests), "pulses": len(report.pulses)}
    out.write(say(lang, "sent", **counts, drained=report.drained) + "\n")
    return 1 if report.drained[Result.FAILED] else 0


async def _dry_run(settings: Settings, out: TextIO, lang: str) -> int:
    # Here, not at the top: these load telegram, which `feedbot --help` must not load.
    from bot.delivery import scheduler
    from bot.delivery.sender import describe, parts_for
    from bot.services import Services

    db = await open_checked(settings.database)
    lines: list[str] = []
    try:
        secret = settings.secret_bytes() if settings.secret is not None else DRY_RUN_SECRET
        services = Services(settings=settings, db=db, surveys=_catalog(settings), _secret=secret)
        now = services.now()
        try:
            async with db.transaction() as conn:
                queued = await scheduler.enqueue_due_digests(conn, settings, now)
                queued += await scheduler.enqueue_due_pulses(conn, settings, now)
                for item in await outbox_repo.due_items(conn, now=now, limit=DUE_LIMIT):
                    payload = json.loads(item.payload_json)
                    parts = await parts_for(services, item)
                    what = describe(parts) if parts is not None else "nothing (no longer wanted)"
                    state = "new" if item.dedup_key in queued else item.status.value
                    who = "member" if "member" in payload else "owner"
                    target = [f"{who} {item.chat_id}"]
                    if "subject_id" in payload:
                        target.append(await _slug(conn, payload["subject_id"]))
                    if "period" in payload:
                        target.append(payload["period"])
                    lines.append(f"{item.kind:<6}  {'  '.join(target)}  parts: {what}  [{state}]")
                raise _RollBack
        except _RollBack:
            pass
    finally:
        await db.close()
    if not lines:
        out.write(say(lang, "nothing_due") + "\n")
        return 0
    many = "would_send_one" if len(lines) == 1 else "would_send_many"
    out.write(say(lang, many, count=len(lines)) + "\n")
    out.write("".join(f"  {line}\n" for line in lines))
    return 0


async def _slug(conn: Connection, subject_id: int) -> str:
    subject = await get_subject_by_id(conn, subject_id)
    return subject.slug if subject is not None else f"subject {subject_id}"
