"""The demo's synthetic world: departments, products, what people write, and how each answers."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from surveys.schema import AnswerValue, Question, QuestionType

Answerer = Callable[[Question], AnswerValue]

OWNER_IDS_FROM = 9001
MEMBER_IDS_FROM = 100_001
BUYER_IDS_FROM = 5_000_001


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


# ---------------------------------------------------------------------- answering


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(high, max(low, round(value))))


def internal_answerer(rng: random.Random, department: Department, quality: float) -> Answerer:
    """Answers of one colleague about a department of the given quality."""
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
        return generic_answer(rng, question)

    return answer


def buyer_answerer(rng: random.Random, product: Product, mood: float) -> Answerer:
    """Answers of one buyer of a product with the given mean mood (0-10)."""
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
        return generic_answer(rng, question)

    return answer


def generic_answer(rng: random.Random, question: Question) -> AnswerValue:
    """An answer to a question type the bundled surveys do not use here (custom surveys)."""
    if question.scale is not None:
        return rng.randint(*question.scale)
    if question.type is QuestionType.SINGLE and question.choices:
        return rng.choice(question.choices).id
    if question.type is QuestionType.YES_NO:
        return rng.random() < 0.5
    return None if not question.required else "—"
