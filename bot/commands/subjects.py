"""`feedbot department|product add|list|remove|set-survey`, and the subject look-ups the
other admin commands share."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeAlias

from bot.commands.common import (
    CommandError,
    add_database_option,
    load_catalog,
    open_database,
    run_async,
    settings_from,
)
from storage.db import Database
from storage.errors import DuplicateSlug, HasResponses, InvalidSlug, NotFound
from storage.models import Subject, SubjectKind
from storage.subjects import (
    add_subject,
    check_slug,
    get_subject,
    list_subjects,
    remove_subject,
    set_survey,
)
from surveys.loader import SurveyCatalog, UnknownSurvey
from surveys.schema import SurveyDefinition

_KNOWN_SHOWN = 12  # slugs listed in "no department with slug ..." before "and N more"

# A string: argparse._SubParsersAction is generic only to type checkers.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


# --- shared by the admin commands ---------------------------------------------------------


def valid_slug(slug: str) -> str:
    """The slug when well-formed, else a one-line error saying what a slug may contain."""
    try:
        return check_slug(slug)
    except InvalidSlug as exc:
        raise CommandError(str(exc)) from None


async def find_subject(
    db: Database, kind: SubjectKind, slug: str, *, allow_archived: bool = True
) -> Subject:
    """The subject of this kind with this slug, or an error naming the known slugs."""
    valid_slug(slug)
    subject = await get_subject(db.conn, slug)
    noun = kind.value
    if subject is not None and subject.kind is kind:
        if subject.archived and not allow_archived:
            raise CommandError(f"{noun} {slug!r} is archived: it takes no new invites")
        return subject
    known = [s.slug for s in await list_subjects(db.conn, kind)]
    if not known:
        hint = f"there are none yet: add one with `feedbot {noun} add SLUG --name NAME`"
    else:
        more = len(known) - _KNOWN_SHOWN
        hint = (
            "known: " + ", ".join(known[:_KNOWN_SHOWN]) + (f" and {more} more" if more > 0 else "")
        )
    if subject is not None:
        hint = f"{slug!r} is a {subject.kind.value}; {hint}"
    raise CommandError(f"no {noun} with slug {slug!r} ({hint})")


def print_columns(rows: list[list[str]]) -> None:
    """Print rows as columns separated by two spaces, each as wide as its widest cell."""
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


# --- the commands -------------------------------------------------------------------------


def register(subparsers: Subparsers) -> None:
    """Add `feedbot department ...` and `feedbot product ...`."""
    for kind in SubjectKind:
        _register_kind(subparsers, kind)


def _register_kind(subparsers: Subparsers, kind: SubjectKind) -> None:
    noun = kind.value
    audience = kind.audience.value
    whom = "internal customers" if kind is SubjectKind.DEPARTMENT else "buyers"
    parser = subparsers.add_parser(
        noun,
        help=f"add, list, remove {noun}s or change their survey",
        description=f"Manage the {noun}s that {whom} evaluate.",
    )
    actions = parser.add_subparsers(dest=f"{noun}_command", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help=f"add a {noun}",
        description=(
            f"Add a {noun}. It uses the bundled '{audience}' survey unless --survey names "
            f"another survey for {audience} customers."
        ),
    )
    add.add_argument("slug", metavar="SLUG", help="short id: lowercase letters, digits and '-'")
    add.add_argument("--name", required=True, metavar="NAME", help="the name in Polish")
    add.add_argument("--name-en", metavar="NAME", help="the name in English (default: --name)")
    add.add_argument("--survey", metavar="ID", help=f"a survey id (default: {audience})")
    _finish(add, kind, add_command)

    listing = actions.add_parser(
        "list",
        help=f"list the {noun}s, one per line",
        description=f"List the {noun}s: slug, Polish name, English name and survey.",
    )
    listing.add_argument("--all", action="store_true", help="include archived ones")
    _finish(listing, kind, list_command)

    remove = actions.add_parser(
        "remove",
        help=f"delete a {noun} without responses (archive one with --force)",
        description=(
            f"Delete a {noun} with its invites and owners. One that has responses is kept "
            "unless --force is given, which archives it: hidden from lists, surveys and "
            "invites, its responses kept for exports."
        ),
    )
    remove.add_argument("slug", metavar="SLUG")
    remove.add_argument(
        "--force", action="store_true", help="archive it if it has responses instead of refusing"
    )
    _finish(remove, kind, remove_command)

    change = actions.add_parser(
        "set-survey",
        help=f"change the survey a {noun} uses for future responses",
        description=(
            f"Use another survey for the {noun}'s future responses; past responses keep "
            "the survey and version they were given with."
        ),
    )
    change.add_argument("slug", metavar="SLUG")
    change.add_argument("survey", metavar="ID", help=f"a survey id for {audience} customers")
    _finish(change, kind, set_survey_command)


def _finish(
    parser: argparse.ArgumentParser,
    kind: SubjectKind,
    handler: Callable[[argparse.Namespace], int],
) -> None:
    add_database_option(parser)
    parser.set_defaults(handler=handler, kind=kind)


def _survey_for(catalog: SurveyCatalog, kind: SubjectKind, survey_id: str | None) -> str:
    """The survey id a subject of `kind` should use: the bundled one of its audience, or
    `survey_id` when the catalog has it for the same audience."""
    audience = kind.audience
    try:
        definition: SurveyDefinition = catalog.latest(survey_id or audience.value)
    except UnknownSurvey as exc:
        raise CommandError(str(exc)) from None
    if definition.audience is not audience:
        raise CommandError(
            f"survey {definition.id!r} is for the {definition.audience.value} audience, "
            f"but a {kind.value} needs a survey for the {audience.value} audience"
        )
    return definition.id


def _names(subject: Subject) -> str:
    polish, english = subject.names.get("pl", ""), subject.names.get("en", "")
    return polish if english in ("", polish) else f"{polish} / {english}"


def add_command(args: argparse.Namespace) -> int:
    """Add a department or product and say what survey it uses."""
    settings = settings_from(args)
    kind: SubjectKind = args.kind
    slug = valid_slug(args.slug)
    polish = args.name.strip()
    if not polish:
        raise CommandError("--name must not be empty")
    english = (args.name_en or "").strip() or polish
    survey_id = _survey_for(load_catalog(settings), kind, args.survey)

    async def add() -> Subject:
        # The first department or product is usually added before the bot first runs.
        async with open_database(settings, create=True) as db:
            try:
                async with db.transaction() as conn:
                    return await add_subject(
                        conn,
                        slug=slug,
                        kind=kind,
                        names={"pl": polish, "en": english},
                        survey_id=survey_id,
                        now=datetime.now(UTC),
                    )
            except DuplicateSlug:
                other = await get_subject(db.conn, slug)
                what = "a subject" if other is None else f"a {other.kind.value}"
                archived = " (archived)" if other is not None and other.archived else ""
                raise CommandError(
                    f"{what} with slug {slug!r} already exists{archived}; choose another slug"
                ) from None

    subject = run_async(add)
    print(f"added {kind.value} {subject.slug!r} ({_names(subject)}), survey {subject.survey_id}")
    return 0


def list_command(args: argparse.Namespace) -> int:
    """One subject per line: slug, Polish name, English name, survey, archived flag."""
    settings = settings_from(args)
    kind: SubjectKind = args.kind

    async def fetch() -> list[Subject]:
        async with open_database(settings) as db:
            return await list_subjects(db.conn, kind, include_archived=args.all)

    subjects = run_async(fetch)
    if not subjects:
        print(
            f"no {kind.value}s yet: add one with `feedbot {kind.value} add SLUG --name NAME`",
            file=sys.stderr,
        )
        return 0
    rows = [
        [
            s.slug,
            s.names.get("pl", ""),
            s.names.get("en", ""),
            f"survey={s.survey_id}",
            "archived" if s.archived else "",
        ]
        for s in subjects
    ]
    print_columns(rows)
    return 0


def remove_command(args: argparse.Namespace) -> int:
    """Delete a subject, or archive one with responses when forced."""
    settings = settings_from(args)
    kind: SubjectKind = args.kind

    async def remove() -> str:
        async with open_database(settings) as db:
            subject = await find_subject(db, kind, args.slug)
            try:
                async with db.transaction() as conn:
                    return await remove_subject(conn, subject.slug, force=args.force)
            except HasResponses as exc:
                raise CommandError(
                    f"{kind.value} {subject.slug!r} has {_responses(exc.responses)}; add --force "
                    "to archive it instead (its responses are kept)"
                ) from None
            except NotFound:  # removed by someone else meanwhile
                return "deleted"

    outcome = run_async(remove)
    if outcome == "archived":
        print(
            f"archived {kind.value} {args.slug!r}: its responses are kept, it no longer appears "
            "in lists, surveys or invites"
        )
    else:
        print(f"removed {kind.value} {args.slug!r}")
    return 0


def _responses(count: int) -> str:
    return f"{count} response{'s' if count != 1 else ''}"


def set_survey_command(args: argparse.Namespace) -> int:
    """Point a subject at another survey of its audience."""
    settings = settings_from(args)
    kind: SubjectKind = args.kind
    valid_slug(args.slug)
    survey_id = _survey_for(load_catalog(settings), kind, args.survey)

    async def change() -> tuple[str, str]:
        async with open_database(settings) as db:
            subject = await find_subject(db, kind, args.slug)
            async with db.transaction() as conn:
                updated = await set_survey(conn, subject.slug, survey_id)
            return subject.survey_id, updated.survey_id

    before, after = run_async(change)
    if before == after:
        print(f"{kind.value} {args.slug!r} already uses survey {after}")
    else:
        print(
            f"{kind.value} {args.slug!r} now uses survey {after} (was {before}) for new responses"
        )
    return 0
