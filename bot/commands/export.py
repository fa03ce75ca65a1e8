"""`feedbot export`: a department's or product's responses as CSV for Excel."""

from __future__ import annotations

import argparse
import io
import re
import sys
from datetime import date
from pathlib import Path

from bot.commands.common import CommandError, add_database_option, run_async, settings_from
from bot.commands.subjects import Subparsers, find_subject, load_catalog, open_database
from storage.export import export_csv
from storage.models import Subject, SubjectKind
from surveys.loader import SurveyCatalog, UnknownSurvey
from surveys.schema import QuestionType

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def register(subparsers: Subparsers) -> None:
    """Add `feedbot export`."""
    parser = subparsers.add_parser(
        "export",
        help="export ALL of a department's or product's responses as CSV (admin only)",
        description=(
            "Write every response about a department or product as CSV (UTF-8 with a BOM, "
            "so Excel shows Polish letters): one row per response, one column per question "
            "of its survey, multi-choice answers as choice ids joined with ';'. Internal "
            "exports hold no identities. This export is COMPLETE and for the admin only "
            "(who holds the database anyway): it includes the running week, weeks too "
            "quiet to be shown, submission times and roles, which the anonymity rules "
            "keep from department owners. Do not pass it to an owner: their /export in "
            "the bot holds only what their digests may show."
        ),
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--department", metavar="SLUG", help="a department (internal customers)")
    which.add_argument("--product", metavar="SLUG", help="a product (external customers)")
    parser.add_argument(
        "--from", dest="start", metavar="DATE", help="first day, YYYY-MM-DD (UTC; default: all)"
    )
    parser.add_argument(
        "--to", dest="end", metavar="DATE", help="last day, YYYY-MM-DD (UTC, inclusive)"
    )
    parser.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    add_database_option(parser)
    parser.set_defaults(handler=export)


def parse_date(text: str | None, option: str) -> date | None:
    """An ISO date YYYY-MM-DD (CommandError for anything else)."""
    if text is None:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option}: expected a date as YYYY-MM-DD, not {text!r}") from None


def question_columns(catalog: SurveyCatalog, subject: Subject) -> tuple[list[str], set[str]]:
    """The question ids of the subject's survey, latest version first, then those only
    older versions asked (their responses keep them); and which of them are multi-choice."""
    try:
        catalog.latest(subject.survey_id)
    except UnknownSurvey:
        raise CommandError(
            f"{subject.kind.value} {subject.slug!r} uses survey {subject.survey_id!r}, which "
            "is neither bundled nor in FEEDBOT_SURVEYS_DIR",
            exit_code=2,
        ) from None
    ids: list[str] = []
    multi: set[str] = set()
    for version in sorted(catalog.versions(subject.survey_id), reverse=True):
        for question in catalog.get(subject.survey_id, version).questions:
            if question.id not in ids:
                ids.append(question.id)
            if question.type is QuestionType.MULTI:
                multi.add(question.id)
    return ids, multi


def export(args: argparse.Namespace) -> int:
    """Write the CSV to --out (and say how many rows) or to standard output."""
    settings = settings_from(args)
    kind = SubjectKind.DEPARTMENT if args.department else SubjectKind.PRODUCT
    slug: str = args.department or args.product
    start = parse_date(args.start, "--from")
    end = parse_date(args.end, "--to")
    if start is not None and end is not None and start > end:
        raise CommandError(f"--from {start} is after --to {end}")
    catalog = load_catalog(settings)

    async def write() -> tuple[bytes, int]:
        async with open_database(settings) as db:
            subject = await find_subject(db, kind, slug)
            question_ids, multi = question_columns(catalog, subject)
            buffer = io.StringIO(newline="")
            rows = await export_csv(
                db.conn,
                subject,
                question_ids,
                buffer,
                start=start,
                end=end,
                multi_question_ids=multi,
            )
        # utf-8-sig: the BOM tells Excel the file is UTF-8 (ą, ę, ł, ... stay readable).
        return buffer.getvalue().encode("utf-8-sig"), rows

    data, rows = run_async(write)
    if args.out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    try:
        Path(args.out).write_bytes(data)
    except OSError as exc:
        raise CommandError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    responses = f"{rows} response{'s' if rows != 1 else ''}"
    print(f"exported {responses} about {kind.value} {slug!r} to {args.out}")
    return 0
