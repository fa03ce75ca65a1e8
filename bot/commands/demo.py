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
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.commands.common import CommandError
from bot.config import Settings, load_settings

if TYPE_CHECKING:  # imported lazily at run time: `feedbot --help` stays fast
    import aiosqlite

    from bot.services import Services
    from storage.models import Subject
    from surveys.schema import AnswerValue, Question, SurveyDefinition

    Answerer = Callable[[Question], AnswerValue]

OWNER_IDS_FROM = 9001
MEMBER_IDS_FROM = 100_001
BUYER_IDS_FROM = 5_000_001

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


@dataclass(frozen=True)
class Department:
    """A demo department: its names, staff and how its service quality moves (1-5)."""

    slug: str
    names: dict[str, str]
    staff: int
    quality_from: float
    quality_to: float
    # Per service dimension: better or worse than the department's overall quality.
    strengths: dict[str, float]
    answer_rate: float


@dataclass(frozen=True)
class Product:
    """A demo product: its names, buyers per week and how happy they are (NPS 0-10 mean)."""

    slug: str
    names: dict[str, str]
    buyers: tuple[int, int]
    mood_from: float
    mood_to: float
    complaints: tuple[str, ...]


DEPARTMENTS = (
    Department(
        "sales",
        {"pl": "Sprzedaż", "en": "Sales"},
        staff=14,
        quality_from=3.1,
        quality_to=4.1,
        strengths={"communication": -0.4, "responsiveness": 0.3},
        answer_rate=0.4,
    ),
    Department(
        "support",
        {"pl": "Obsługa klienta", "en": "Customer service"},
        staff=12,
        quality_from=4.2,
        quality_to=3.4,
        strengths={"reliability": 0.2, "responsiveness": -0.5},
        answer_rate=0.42,
    ),
    Department(
        "marketing",
        {"pl": "Marketing", "en": "Marketing"},
        staff=8,
        quality_from=3.6,
        quality_to=3.8,
        strengths={"quality": 0.3, "reliability": -0.3},
        answer_rate=0.3,
    ),
)
PRODUCTS = (
    Product(
        "coffee",
        {"pl": "Kawa Poranna", "en": "Morning Coffee"},
        buyers=(14, 24),
        mood_from=7.7,
        mood_to=8.7,
        complaints=("price", "delivery"),
    ),
    Product(
        "kettle",
        {"pl": "Czajnik Smart", "en": "Smart Kettle"},
        buyers=(9, 16),
        mood_from=7.6,
        mood_to=5.6,
        complaints=("quality", "support", "delivery"),
    ),
)
CONTRACTORS = 4
SUPPLIERS = 3

# Comments people leave, kind and unkind, in both languages (some with & and <...>).
INTERNAL_PRAISE = (
    "Zawsze szybko odpowiadają na maile i pomagają bez zbędnych formalności.",
    "Świetna współpraca przy ostatniej kampanii — wszystko na czas.",
    "They explain the numbers clearly & keep us in the loop.",
    "Very reliable: when they promise a date, they deliver on that date.",
    "Konkretni ludzie, dobrze się z nimi pracuje.",
    "Quick turnaround on quotes, which helps us close deals.",
)
INTERNAL_CRITICISM = (
    "Zgłoszenia potrafią czekać kilka dni bez żadnej odpowiedzi.",
    "Informacje o zmianach w ofercie docierają do nas za późno.",
    "Handover notes are often incomplete, so we redo the <b>same</b> checks.",
    "Too many priorities at once; our requests get lost between people.",
    "Brakuje jednej osoby kontaktowej — każdy odsyła do kogoś innego.",
    "Reports arrive late on Mondays & the figures do not match the CRM.",
)
BUYER_PRAISE = (
    "Smakuje świetnie, zamawiam co miesiąc.",
    "Great value and it arrived a day early.",
    "Bardzo wygodne, polecam znajomym.",
    "Does exactly what it says. Love it!",
)
BUYER_CRITICISM = (
    "Dostawa trwała ponad tydzień, a paczka była uszkodzona.",
    "The lid broke after two weeks & support never answered my email.",
    "Za drogo w porównaniu z konkurencją.",
    "Stopped working after a month. Disappointed.",
    "Instrukcja tylko po angielsku, trudno było zacząć.",
)
BUYER_SUGGESTIONS = (
    "Więcej wariantów smakowych byłoby super.",
    "A cheaper refill pack would make it a 10.",
    "Faster delivery, please.",
)


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


# ---------------------------------------------------------------------- answering


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(high, max(low, round(value))))


@dataclass
class Counts:
    """How much the demo generated."""

    responses: int = 0
    partial: int = 0
    buyers: int = 0


def _internal_answerer(rng: random.Random, department: Department, quality: float) -> Answerer:
    """Answers of one colleague about a department of the given quality."""
    from surveys.schema import QuestionType

    mood = rng.gauss(0, 0.45)  # some people are more generous than others
    given: list[int] = []

    def answer(question: Question) -> AnswerValue:
        if question.type is QuestionType.RATING:
            bias = department.strengths.get(question.metric or "", 0.0)
            value = _clamp(quality + bias + mood + rng.gauss(0, 0.6), 1, 5)
            given.append(value)
            return value
        if question.type is QuestionType.NPS:
            mean = sum(given) / len(given) if given else quality
            return _clamp((mean - 1) * 2.5 + 1 + rng.gauss(0, 1.2), 0, 10)
        if question.type is QuestionType.TEXT:
            mean = sum(given) / len(given) if given else quality
            praise = question.metric == "comment_positive"
            if rng.random() > (0.3 if praise == (mean >= 3.5) else 0.08):
                return None
            return rng.choice(INTERNAL_PRAISE if praise else INTERNAL_CRITICISM)
        return _generic(rng, question)

    return answer


def _buyer_answerer(rng: random.Random, product: Product, mood: float) -> Answerer:
    """Answers of one buyer of a product with the given mean mood (0-10)."""
    from surveys.schema import QuestionType

    feeling = min(10.0, max(0.0, rng.gauss(mood, 1.8)))

    def answer(question: Question) -> AnswerValue:
        if question.type is QuestionType.NPS:
            return _clamp(feeling, 0, 10)
        if question.type is QuestionType.RATING:
            return _clamp(1 + feeling * 0.42 + rng.gauss(0, 0.5), 1, 5)
        if question.type is QuestionType.CES:
            return _clamp(1.5 + feeling * 0.5 + rng.gauss(0, 0.8), 1, 7)
        if question.type is QuestionType.MULTI:
            if feeling >= 8.5 or rng.random() < 0.3:
                return None
            picks = rng.sample(product.complaints, k=rng.randint(1, len(product.complaints)))
            return [c for c in picks if question.choice(c) is not None] or None
        if question.type is QuestionType.TEXT:
            if question.id == "comment":
                return rng.choice(BUYER_SUGGESTIONS) if rng.random() < 0.12 else None
            if rng.random() > 0.45:
                return None
            if feeling >= 8.5:
                return rng.choice(BUYER_PRAISE)
            return rng.choice(BUYER_CRITICISM if feeling < 7 else BUYER_SUGGESTIONS)
        if question.type is QuestionType.YES_NO:
            return rng.random() < (0.45 if feeling < 7 else 0.2)
        return _generic(rng, question)

    return answer


def _generic(rng: random.Random, question: Question) -> AnswerValue:
    """An answer to a question type the bundled surveys do not use here (custom surveys)."""
    from surveys.schema import QuestionType

    if question.scale is not None:
        return rng.randint(*question.scale)
    if question.type is QuestionType.SINGLE and question.choices:
        return rng.choice(question.choices).id
    if question.type is QuestionType.YES_NO:
        return rng.random() < 0.5
    return None if not question.required else "—"


# ---------------------------------------------------------------------- generating


@dataclass(frozen=True)
class Respondent:
    """Who answers, as the bot's session would hold it."""

    telegram_id: int
    role: str | None


async def _respond(
    services: Services,
    conn: aiosqlite.Connection,
    definition: SurveyDefinition,
    subject: Subject,
    who: Respondent,
    answer: Answerer,
    *,
    started: datetime,
    week: str,
    rng: random.Random,
    counts: Counts,
) -> None:
    """One session through the engine and storage: completed, or abandoned part-way."""
    from bot.delivery.alerts import consented
    from storage import sessions as session_repo
    from surveys import engine, periods
    from surveys.schema import Audience

    state = engine.new_state()
    session = await session_repo.start_session(
        conn,
        respondent_id=who.telegram_id,
        chat_id=who.telegram_id,
        survey_id=definition.id,
        survey_version=definition.version,
        subject_id=subject.id,
        audience=definition.audience,
        role=who.role,
        state_json=state.to_json(),
        now=started,
        week_key=week,
    )
    # About one in ten stops part-way (sometimes before answering anything).
    stop_after = rng.randint(0, 4) if rng.random() < 0.1 else None
    answered = 0
    while True:
        step = engine.next_step(definition, state)
        if isinstance(step, engine.Done) or answered == stop_after:
            break
        value = answer(step.question)
        if value is None and step.question.required:
            value = _generic(rng, step.question)
        result = engine.apply_answer(definition, state, step.question.id, value)
        if isinstance(result, engine.Rejection):
            result = engine.skip(definition, state, step.question.id)
        assert not isinstance(result, engine.Rejection), result
        state = result
        answered += 1
    finished = started + timedelta(minutes=rng.randint(1, 6))
    day = finished.astimezone(services.settings.tz).date()
    unique = periods.period_key(day, definition.period)
    records = engine.answer_records(definition, state.answers)
    pseudonym = services.pseudonym(who.telegram_id, subject.id, unique)
    if stop_after is not None and not isinstance(engine.next_step(definition, state), engine.Done):
        response = await session_repo.abandon_session(
            conn,
            session,
            records=records,
            pseudonym=pseudonym,
            unique_key=unique,
            now=finished + timedelta(days=1),
            week_key=week,
        )
        if response is not None:
            counts.partial += 1
            counts.responses += 1
        return
    external = definition.audience is Audience.EXTERNAL
    await session_repo.complete_session(
        conn,
        session,
        records=records,
        pseudonym=pseudonym,
        unique_key=unique,
        next_possible=periods.span(unique).next_start,
        contact_id=who.telegram_id if external and consented(definition, state.answers) else None,
        now=finished,
        week_key=week,
    )
    counts.responses += 1


def _moment_in(week: str, rng: random.Random, settings: Settings) -> datetime:
    """A working-hours moment in a week, in UTC."""
    from surveys import periods

    day = periods.span(week).start + timedelta(days=rng.randint(0, 4))
    local = datetime.combine(
        day, clock_time(rng.randint(8, 16), rng.randint(0, 59)), tzinfo=settings.tz
    )
    return local.astimezone(UTC)


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


async def _seed(services: Services, history: list[str], rng: random.Random) -> tuple[int, Counts]:
    """Subjects, owners, members and every week's responses; returns (members, counts)."""
    from storage import members as member_repo
    from storage import owners as owner_repo
    from storage import subjects as subject_repo
    from storage import users as user_repo
    from storage.models import MemberRole, SubjectKind
    from surveys import periods

    settings, db, catalog = services.settings, services.db, services.surveys
    internal, external = catalog.latest("internal"), catalog.latest("external")
    joined = _moment_in(periods.shift(history[0], -1), rng, settings)
    members: list[tuple[int, MemberRole, int | None]] = []
    async with db.transaction() as conn:
        departments = [
            await subject_repo.add_subject(
                conn,
                slug=d.slug,
                kind=SubjectKind.DEPARTMENT,
                names=d.names,
                survey_id=internal.id,
                now=joined,
            )
            for d in DEPARTMENTS
        ]
        products = [
            await subject_repo.add_subject(
                conn,
                slug=p.slug,
                kind=SubjectKind.PRODUCT,
                names=p.names,
                survey_id=external.id,
                now=joined,
            )
            for p in PRODUCTS
        ]
        next_id = MEMBER_IDS_FROM
        for department_spec, department in zip(DEPARTMENTS, departments, strict=True):
            for _ in range(department_spec.staff):
                members.append((next_id, MemberRole.EMPLOYEE, department.id))
                next_id += 1
        for role, count in ((MemberRole.CONTRACTOR, CONTRACTORS), (MemberRole.SUPPLIER, SUPPLIERS)):
            for _ in range(count):
                members.append((next_id, role, None))
                next_id += 1
        for telegram_id, role, department_id in members:
            await user_repo.touch_user(
                conn, telegram_id, lang_hint=rng.choice(("pl", "pl", "en")), now=joined
            )
            await member_repo.register_member(
                conn, telegram_id, role=role, department_id=department_id, now=joined
            )
        for offset, subject in enumerate([*departments, *products]):
            await owner_repo.add_owner(conn, OWNER_IDS_FROM + offset, subject.id, now=joined)

    counts = Counts()
    buyer_id = BUYER_IDS_FROM
    for index, week in enumerate(history):
        progress = index / max(len(history) - 1, 1)
        # One transaction per week: the demo stays fast, and a week is all or nothing.
        async with db.transaction() as conn:
            for telegram_id, _, _ in members:
                # Weekly pulses in the demo: every member is invited every week.
                await member_repo.record_invitation(
                    conn, telegram_id, week_key=week, source="pulse"
                )
            for department_spec, department in zip(DEPARTMENTS, departments, strict=True):
                start, end = department_spec.quality_from, department_spec.quality_to
                quality = start + (end - start) * progress + rng.gauss(0, 0.12)
                for telegram_id, role, department_id in members:
                    if department_id == department.id:
                        continue  # never one's own department
                    if rng.random() > department_spec.answer_rate:
                        continue
                    await _respond(
                        services,
                        conn,
                        internal,
                        department,
                        Respondent(telegram_id, role.value),
                        _internal_answerer(rng, department_spec, quality),
                        started=_moment_in(week, rng, settings),
                        week=week,
                        rng=rng,
                        counts=counts,
                    )
            for product_spec, product in zip(PRODUCTS, products, strict=True):
                start, end = product_spec.mood_from, product_spec.mood_to
                mood = start + (end - start) * progress
                for _ in range(rng.randint(*product_spec.buyers)):
                    await _respond(
                        services,
                        conn,
                        external,
                        product,
                        Respondent(buyer_id, None),
                        _buyer_answerer(rng, product_spec, mood),
                        started=_moment_in(week, rng, settings),
                        week=week,
                        rng=rng,
                        counts=counts,
                    )
                    buyer_id += 1
    counts.buyers = buyer_id - BUYER_IDS_FROM
    return len(members), counts


async def _demo(settings: Settings, weeks: int, seed: int, lang: str) -> DemoResult:
    """Fill a fresh database and compose every subject's digest of the last closed week."""
    from bot.digest.chart import digest_chart
    from bot.digest.compose import compose_digest
    from bot.digest.render import render_digest, render_plain
    from bot.services import Services
    from storage import subjects as subject_repo
    from storage.db import Database
    from storage.models import SubjectKind
    from surveys import periods
    from surveys.loader import SurveyCatalog

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
        members, counts = await _seed(services, history, rng)
        subjects = await subject_repo.list_subjects(db.conn)
        subjects.sort(key=lambda s: (s.kind is not SubjectKind.DEPARTMENT, s.id))
        for subject in subjects:
            digest = await compose_digest(
                db.conn,
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
    database = settings.database
    out.write(
        f"\n{words['charts'].format(path=charts)}\n\n{words['next']}\n"
        f"  feedbot digest preview --department sales --period {result.period} --lang pl"
        f" --database {database}\n"
        f"  feedbot digest preview --product kettle --period {result.period}"
        f" --database {database}\n"
        f"  feedbot digest send --dry-run --database {database}\n"
    )
