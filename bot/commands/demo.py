"""`feedbot demo`: a fresh database with weeks of synthetic feedback, and each subject's digest.

Responses are produced the way the bot produces them: every answer goes through the
survey engine (new_state, apply_answer / skip, answer_records) and every session
through storage (start_session, then complete_session or abandon_session), so the
digests printed are computed by exactly the code owners' digests are.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.commands.common import CommandError, check_database
from bot.commands.demo_seed import Counts, seed_database
from bot.config import Settings, load_settings
from storage import subjects as subject_repo
from storage.db import Database
from storage.models import SubjectKind
from surveys import periods
from surveys.loader import SurveyCatalog

TEXTS = {
    "en": {
        "created": "Demo database: {path}",
        "history": "{weeks} weeks of synthetic feedback: {responses} responses ({partial} partial)"
        " from {members} colleagues and {buyers} buyers.",
        "header": "{name} · {kind}",
        "department": "department (internal customers)",
        "product": "product (external customers)",
        "chart": "Trend chart: {path}",
        "no_chart": "(no trend chart: no week has enough responses to draw)",
        "charts": "Charts written to {path}",
        "next": "Try next:",
        "took": "Done in {seconds} s.",
    },
    "pl": {
        "created": "Baza demonstracyjna: {path}",
        "history": "{weeks} tygodni syntetycznych opinii: {responses} odpowiedzi (w tym {partial}"
        " niepełnych) od {members} współpracowników i {buyers} kupujących.",
        "header": "{name} · {kind}",
        "department": "dział (klienci wewnętrzni)",
        "product": "produkt (klienci zewnętrzni)",
        "chart": "Wykres trendu: {path}",
        "no_chart": "(bez wykresu: żaden tydzień nie ma dość odpowiedzi)",
        "charts": "Wykresy zapisano w {path}",
        "next": "Co dalej:",
        "took": "Gotowe w {seconds} s.",
    },
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `feedbot demo`."""
    parser = subparsers.add_parser(
        "demo",
        help="create a demo database with synthetic feedback and print its digests (no token)",
        description=(
            "Create a fresh demo database with three departments and two products, generate "
            "weeks of realistic synthetic responses through the survey engine, and print each "
            "subject's latest weekly digest and where its trend chart was written. Needs no "
            "bot token and no network."
        ),
    )
    parser.add_argument(
        "--database",
        metavar="PATH",
        help="create the demo database here (default: in a new temporary folder)",
    )
    parser.add_argument(
        "--weeks", type=int, default=12, help="weeks of history to generate (default: 12)"
    )
    parser.add_argument(
        "--seed", type=int, default=2026, help="random seed, for the same data again"
    )
    parser.add_argument("--lang", choices=("pl", "en"), default="en", help="language (default: en)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Create the database, fill it, print the digests."""
    stream = out if out is not None else sys.stdout
    if not 1 <= args.weeks <= 52:
        raise CommandError("--weeks: expected 1 to 52")
    if args.database:
        path = Path(args.database)
        if path.exists():
            raise CommandError(f"{path} already exists: the demo needs a new, empty database")
        check_database(path, create=True)
        folder = path.resolve().parent
    else:
        folder = Path(tempfile.mkdtemp(prefix="feedbot-demo-"))
        path = folder / "demo.sqlite3"
    # A demo secret: pseudonyms need one, and this database is not for real feedback.
    settings = load_settings(
        None, FEEDBOT_DATABASE=str(path), FEEDBOT_SECRET=secrets.token_urlsafe(24)
    )
    started = time.monotonic()
    result = asyncio.run(_demo(settings, args.weeks, args.seed, args.lang))
    _print(result, settings, folder / "charts", args.lang, stream)
    took = f"{time.monotonic() - started:.1f}"
    took = took.replace(".", ",") if args.lang == "pl" else took
    stream.write(TEXTS[args.lang]["took"].format(seconds=took) + "\n")
    return 0


@dataclass(frozen=True)
class SubjectDigest:
    """One subject's latest digest, rendered for the terminal, and its chart."""

    slug: str
    title: str
    text: str
    png: bytes | None


@dataclass(frozen=True)
class DemoResult:
    """What the demo generated and the digests to print."""

    period: str
    weeks: int
    counts: Counts
    members: int
    digests: list[SubjectDigest]


async def _demo(settings: Settings, weeks: int, seed: int, lang: str) -> DemoResult:
    """Fill a fresh database and compose every subject's digest of the last closed week."""
    # Here, not at the top: `feedbot --help` must not load jinja2, matplotlib and telegram.
    from bot.digest.chart import digest_chart
    from bot.digest.compose import compose_digest
    from bot.digest.render import render_digest, render_plain
    from bot.services import Services

    rng = random.Random(seed)
    words = TEXTS[lang]
    now = datetime.now(settings.tz)
    current = periods.week_key(now.date())
    history = [periods.shift(current, -back) for back in range(weeks, 0, -1)]
    latest = history[-1]
    catalog = SurveyCatalog.load()
    digests: list[SubjectDigest] = []
    db = await Database.open(settings.database)
    try:
        services = Services(settings=settings, db=db, surveys=catalog)
        members, counts = await seed_database(services, history, rng)
        subjects = await subject_repo.list_subjects(db.conn)
        subjects.sort(key=lambda s: (s.kind is not SubjectKind.DEPARTMENT, s.id))
        for subject in subjects:
            digest = await compose_digest(
                db,
                subject,
                catalog.latest(subject.survey_id),
                latest,
                anonymity_min=settings.anonymity_min,
                comments_min=settings.comments_threshold,
                now=now,
                closed_only=False,
            )
            kind = words["department" if subject.kind is SubjectKind.DEPARTMENT else "product"]
            digests.append(
                SubjectDigest(
                    subject.slug,
                    words["header"].format(name=subject.name(lang), kind=kind),
                    render_plain(render_digest(digest, lang)),
                    digest_chart(digest, lang),
                )
            )
    finally:
        await db.close()
    return DemoResult(latest, weeks, counts, members, digests)


def _print(result: DemoResult, settings: Settings, charts: Path, lang: str, out: TextIO) -> None:
    words = TEXTS[lang]
    counts = result.counts
    out.write(words["created"].format(path=settings.database) + "\n")
    out.write(
        words["history"].format(
            weeks=result.weeks,
            responses=counts.responses,
            partial=counts.partial,
            members=result.members,
            buyers=counts.buyers,
        )
        + "\n"
    )
    charts.mkdir(parents=True, exist_ok=True)
    for digest in result.digests:
        rule = "═" * 72
        out.write(f"\n{rule}\n{digest.title}\n{rule}\n\n{digest.text}\n\n")
        if digest.png is None:
            out.write(words["no_chart"] + "\n")
            continue
        chart = charts / f"{digest.slug}-{result.period}.png"
        chart.write_bytes(digest.png)
        out.write(words["chart"].format(path=chart) + "\n")
    database = shlex.quote(str(settings.database))
    feedbot = feedbot_command()
    out.write(
        f"\n{words['charts'].format(path=charts)}\n\n{words['next']}\n"
        f"  {feedbot} digest preview --department sales --period {result.period} --lang pl"
        f" --database {database}\n"
        f"  {feedbot} digest preview --product kettle --period {result.period}"
        f" --database {database}\n"
        f"  {feedbot} digest send --dry-run --database {database}\n"
    )


def feedbot_command(cwd: Path | None = None) -> str:
    """How to run this feedbot from `cwd` (default: the current folder), for lines to
    copy: `feedbot` when that is the one on PATH, else its path — `.venv/bin/feedbot`
    after the README's set-up, which puts nothing on PATH."""
    script = Path(sys.executable).parent / "feedbot"  # the console script of this install
    on_path = shutil.which("feedbot")
    if not script.exists():  # not run from an installed environment: the usual name
        return "feedbot"
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "feedbot"
    here = Path.cwd() if cwd is None else cwd
    try:
        return shlex.quote(str(script.absolute().relative_to(here.absolute())))
    except ValueError:  # not under this folder: the whole path
        return shlex.quote(str(script.absolute()))
