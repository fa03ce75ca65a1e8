"""`feedbot digest preview|send`: print a subject's digest in the terminal, or send what is due."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.commands import digest_send
from bot.commands.common import (
    CommandError,
    add_database_option,
    add_lang_option,
    check_database,
    load_catalog,
    open_database,
    run_async,
    say,
    settings_from,
)
from bot.config import Settings
from storage.models import SubjectKind
from storage.subjects import get_subject
from surveys import periods
from surveys.loader import UnknownSurvey

_WEEK = re.compile(r"^\d{4}-W\d{2}$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `feedbot digest` with its actions `preview` and `send`."""
    parser = subparsers.add_parser(
        "digest",
        help="preview a digest in the terminal, or send the digests that are due",
        description="Owners' weekly digests: preview one in the terminal, or send what is due.",
    )
    actions = parser.add_subparsers(dest="digest_command", metavar="ACTION", required=True)
    register_preview(actions)
    register_send(actions)


def register_preview(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `feedbot digest preview`."""
    parser = actions.add_parser(
        "preview",
        help="print a subject's digest for a week (no token needed)",
        description=(
            "Print the digest of a department or product for one week as its owner would read "
            "it (formatting removed), and optionally write the trend chart as a PNG. Needs no "
            "bot token. Without --period, the last closed week (the one the Monday digest is "
            "about). A product's current week, when asked for, is shown as it stands so far; "
            "a department shows only closed weeks, under the same anonymity rules as the bot "
            "(the latest closed week instead of a running one), and deciding a closed week's "
            "disclosure records it in the database as the bot would."
        ),
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--department", metavar="SLUG", help="a department (internal customers)")
    which.add_argument("--product", metavar="SLUG", help="a product (external customers)")
    parser.add_argument(
        "--period",
        metavar="WEEK",
        help=(
            "an ISO week such as 2026-W48 (default: the last closed week in FEEDBOT_TIMEZONE, "
            "what the Monday digest says)"
        ),
    )
    add_lang_option(parser)
    parser.add_argument("--chart", metavar="FILE.png", help="also write the trend chart here")
    add_database_option(parser)
    parser.set_defaults(handler=preview)


def register_send(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `feedbot digest send` (bot/commands/digest_send.py does the work)."""
    parser = actions.add_parser(
        "send",
        help="send every digest that is due now",
        description="Send every digest that is due now through the outbox.",
    )
    digest_send.add_arguments(parser)
    parser.set_defaults(handler=digest_send.send_due)


def preview(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the digest (and write the chart when asked)."""
    settings = settings_from(args)
    lang: str = args.lang
    kind = SubjectKind.DEPARTMENT if args.department else SubjectKind.PRODUCT
    slug: str = args.department or args.product
    now = datetime.now(settings.tz)
    # What the Monday digest says: the last closed week, not the running one (empty early on).
    period = args.period or latest_closed_week(now)
    if not _WEEK.match(period):
        raise CommandError(say(lang, "period_format", value=period))
    try:
        periods.span(period)
    except ValueError:
        raise CommandError(say(lang, "period_unknown", value=period)) from None
    check_database(settings.database, create=False)
    text, chart, chart_caption = run_async(
        lambda: _preview(settings, kind, slug, period, lang, now, bool(args.chart))
    )
    stream = out if out is not None else sys.stdout
    stream.write(text + "\n")
    if args.chart:
        if chart is None:
            stream.write(f"\n{say(lang, 'no_chart')}\n")
        else:
            Path(args.chart).write_bytes(chart)
            stream.write(f"\n{say(lang, 'chart_written', path=args.chart)}\n{chart_caption}\n")
    return 0


def latest_closed_week(now: datetime) -> str:
    """The key of the last week that had ended by `now` (in `now`'s zone): as
    `bot.digest.compose.latest_closed_period`, without importing the digest machinery."""
    return periods.previous(periods.week_key(now.date()))


async def _preview(
    settings: Settings,
    kind: SubjectKind,
    slug: str,
    period: str,
    lang: str,
    now: datetime,
    want_chart: bool,
) -> tuple[str, bytes | None, str]:
    # Here, not at the top: `feedbot --help` must not load jinja2 and matplotlib.
    from bot.digest.chart import digest_chart
    from bot.digest.compose import compose_digest
    from bot.digest.render import caption, plain_text, render_digest, render_plain

    catalog = load_catalog(settings)
    async with open_database(settings) as db:
        subject = await get_subject(db.conn, slug)
        if subject is None or subject.kind is not kind:
            missing = "no_department" if kind is SubjectKind.DEPARTMENT else "no_product"
            raise CommandError(say(lang, missing, slug=slug))
        try:
            definition = catalog.latest(subject.survey_id)
        except UnknownSurvey:
            raise CommandError(
                say(lang, "unknown_survey", subject=subject.slug, survey=subject.survey_id)
            ) from None
        digest = await compose_digest(
            db,
            subject,
            definition,
            period,
            anonymity_min=settings.anonymity_min,
            comments_min=settings.comments_threshold,
            now=now,
            closed_only=False,
        )
    text = render_plain(render_digest(digest, lang))
    chart = digest_chart(digest, lang) if want_chart else None
    return text, chart, plain_text(caption(digest, lang)) if chart is not None else ""
