"""Every catalog text, filled with hostile parameters, still parses as Telegram HTML."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markupsafe import Markup

from bot import render
from bot.delivery.alerts import render_alert
from bot.i18n import LANGUAGES, catalog, join, markup, plain, t, visible
from storage.models import Subject, SubjectKind
from surveys import engine
from surveys.loader import SurveyCatalog
from surveys.schema import QuestionType, localize
from tests.fakes.entities import EntityParseError
from tests.fakes.html_parser import parse_html

LOCALES = Path(__file__).resolve().parents[2] / "bot" / "locales"

# Each breaks Telegram's parser, or shows wrongly, when put into HTML unescaped:
# a tag Telegram refuses, a stray "<", a bare "&", an entity that would be decoded,
# unbalanced tags, quotes that end an attribute.
HOSTILE = [
    "<b>&\"'</i>",
    "<",
    "&",
    "a<b",
    "Kawa & <b>herbata</b>",
    "<script>alert(1)</script>",
    "&amp;&lt;b&gt;",
    "</>",
    '"><a href="tg://x">',
]


def placeholders(text: str) -> list[str]:
    """The {names} a catalog text expects."""
    return sorted({name for _, name, _, _ in string.Formatter().parse(text) if name})


def every_key() -> list[tuple[str, str]]:
    return [(lang, key) for lang in LANGUAGES for key in sorted(catalog(lang))]


def test_every_locale_file_is_part_of_a_catalog() -> None:
    # The test below walks catalog(lang); a locale file it did not read would go unchecked.
    files = {path.name for path in LOCALES.glob("*.yaml")}
    assert files == {f"{lang}.yaml" for lang in LANGUAGES} | {
        path.name for lang in LANGUAGES for path in LOCALES.glob(f"{lang}.*.yaml")
    }
    assert len(files) >= 4  # en, pl and their delivery parts
    assert sum(len(catalog(lang)) for lang in LANGUAGES) > 300


@pytest.mark.parametrize(("lang", "key"), every_key())
def test_a_catalog_text_with_hostile_parameters_parses_and_shows_them_literally(
    lang: str, key: str
) -> None:
    names = placeholders(catalog(lang)[key])
    # What the text looks like with harmless markers: the shape every fill must keep.
    markers = {name: f"MARK{i}X" for i, name in enumerate(names)}
    shown, entities = parse_html(t(lang, key, **markers))
    kinds = [e["type"] for e in entities]
    # Numbers and dates where a key counts or dates something: no format spec breaks.
    parse_html(t(lang, key, **dict.fromkeys(names, 7)))
    for hostile in HOSTILE:
        text = t(lang, key, **dict.fromkeys(names, hostile))
        try:
            seen, found = parse_html(text)
        except EntityParseError as error:  # pragma: no cover - the failure message
            pytest.fail(f"{lang}:{key} with {hostile!r} does not parse: {error}\n{text}")
        expected = shown
        for marker in markers.values():
            expected = expected.replace(marker, hostile)
        assert seen == expected, f"{lang}:{key} with {hostile!r}"
        assert [e["type"] for e in found] == kinds  # no entity injected or lost
        assert plain(lang, key, **dict.fromkeys(names, hostile)) == expected


def test_a_catalog_text_without_tags_reads_the_same_with_and_without_html() -> None:
    # Toasts and buttons show a text raw; a text there is safe with `t` as with `plain`
    # as long as a text without tags holds no character reference either.
    for lang, key in every_key():
        text = catalog(lang)[key]
        if "<" not in text:
            assert visible(text) == text, f"{lang}:{key}"


def test_a_parameter_marked_as_our_markup_is_not_escaped_again() -> None:
    inner = t("en", "survey.progress", number="<1>", total=2)
    assert inner == "Question &lt;1&gt; of 2"
    outer = markup("<i>{}</i>", inner)
    assert outer == "<i>Question &lt;1&gt; of 2</i>"  # not &amp;lt;
    assert join("\n", [outer, "a&b"]) == "<i>Question &lt;1&gt; of 2</i>\na&amp;b"
    assert isinstance(t("en", "lang.name"), Markup)
    assert visible(outer) == "Question <1> of 2"


def _question_steps(lang: str) -> list[engine.QuestionStep]:
    """The first step of every question type in the bundled surveys."""
    steps: dict[QuestionType, engine.QuestionStep] = {}
    for survey_id in ("internal", "external"):
        definition = SurveyCatalog.load().latest(survey_id)
        for question in definition.questions:
            steps.setdefault(
                question.type,
                engine.QuestionStep(
                    question=question,
                    number=1,
                    total=len(definition.questions),
                    can_go_back=True,
                    can_skip=not question.required,
                    selected=(),
                ),
            )
    return list(steps.values())


@pytest.mark.parametrize("hostile", HOSTILE)
def test_question_and_answered_texts_show_a_hostile_subject_and_answer_literally(
    hostile: str,
) -> None:
    for lang in LANGUAGES:
        for step in _question_steps(lang):
            shown, _ = parse_html(render.question_text(step, lang, hostile))
            if "subject" in localize(step.question.text, lang):
                assert hostile in shown
            if step.question.type is not QuestionType.TEXT:
                continue  # only a text question takes words the user typed
            answered, found = parse_html(
                render.answered_text(step.question, hostile, lang, hostile)
            )
            assert answered.endswith(f"→ {hostile}")
            assert [e["type"] for e in found] == ["bold"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_detractor_alert_shows_a_hostile_product_name_and_comment_literally(
    hostile: str,
) -> None:
    subject = Subject(
        id=1,
        slug="coffee",
        kind=SubjectKind.PRODUCT,
        names={"pl": hostile, "en": hostile},
        survey_id="external",
        archived=False,
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
    )
    payload: dict[str, object] = {"nps": 2, "comments": [hostile], "contact_id": 42}
    for lang in LANGUAGES:
        shown, entities = parse_html(render_alert(payload, subject, lang))
        assert hostile in shown.split("\n")[0]
        opening = "„" if lang == "pl" else "“"  # the language's own quotation marks
        assert f"{opening}{hostile}”" in shown
        assert {"type": "text_link", "url": "tg://user?id=42"}.items() <= {
            k: v for e in entities if e["type"] == "text_link" for k, v in e.items()
        }.items()


class _Own:
    """Markup-like: an object with its own HTML."""

    def __html__(self) -> str:
        return "<b>own</b>"


# What a catalog parameter can be: text a user wrote, markup we built, numbers, dates...
FILLINGS: list[object] = [
    "<b>x</b> & {y}",
    Markup("<i>built</i>"),
    _Own(),
    7,
    2.5,
    True,
    None,
    datetime(2026, 11, 30, tzinfo=UTC).date(),
    SubjectKind.PRODUCT,
    "",
]


@pytest.mark.parametrize("filling", FILLINGS, ids=lambda f: type(f).__name__)
def test_t_fills_every_catalog_text_exactly_as_markup_format_does(filling: object) -> None:
    for lang in LANGUAGES:
        for key, text in catalog(lang).items():
            fields = {name for _, name, _, _ in string.Formatter().parse(text) if name}
            params = dict.fromkeys(fields, filling)
            filled = t(lang, key, **params)
            assert type(filled) is Markup
            assert filled == Markup(text).format(**params), (lang, key)


@pytest.mark.parametrize("separator", ["\n", " · ", "<br>"])
def test_join_reads_as_markup_join(separator: str) -> None:
    parts: list[object] = ["a < b", Markup("<b>kept</b>"), _Own(), 3, ""]
    joined = join(separator, parts)  # type: ignore[arg-type]
    assert type(joined) is Markup and joined == Markup(separator).join(parts)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["plain & <b>", "{{ subject }}", "a {{subject}} b {{ subject }}"])
def test_fill_reads_as_escaping_each_part(text: str) -> None:
    subject = "P&<1>"
    filled = render.fill(text, subject)
    pieces = re.split(r"{{\s*subject\s*}}", text)
    expected = Markup.escape(subject).join(pieces)
    assert type(filled) is Markup and filled == expected
