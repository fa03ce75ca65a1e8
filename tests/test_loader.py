"""Survey files: the bundled surveys validate, and broken files get clear, complete messages."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from surveys.loader import (
    BUNDLED_DIR,
    Problem,
    SurveyCatalog,
    SurveyFileError,
    UnknownSurvey,
    bundled_definitions,
    load_definition,
    load_definitions,
)
from surveys.schema import LANGS, Audience, QuestionType, SurveyDefinition, Texts

# ---------------------------------------------------------------- the bundled surveys


def all_texts(definition: SurveyDefinition) -> list[tuple[str, Texts]]:
    """Every per-language text of a survey, named for assertion messages."""
    texts = [("title", definition.title), ("intro", definition.intro)]
    texts.append(("thanks", definition.thanks))
    for q in definition.questions:
        texts.append((q.id, q.text))
        texts += [(f"{q.id} label", label) for label in (q.low_label, q.high_label) if label]
        texts += [(f"{q.id} {c.id}", c.text) for c in q.choices]
    return texts


@pytest.mark.parametrize("path", sorted(BUNDLED_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_bundled_survey_validates_strictly(path: Path) -> None:
    definition = load_definition(path, strict=True)
    assert definition.id == path.stem
    assert definition.version >= 1


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("definition", bundled_definitions(), ids=lambda d: d.id)
def test_every_bundled_text_exists_in_both_languages(
    definition: SurveyDefinition, lang: str
) -> None:
    for name, texts in all_texts(definition):
        assert texts.get(lang, "").strip(), f"{definition.id}: {name} has no {lang} text"
        for placeholder in re.findall(r"\{\{(.*?)\}\}", texts[lang]):
            assert placeholder.strip() == "subject", name


def test_polish_texts_are_written_with_diacritics() -> None:
    polish = " ".join(t["pl"] for d in bundled_definitions() for _, t in all_texts(d))
    assert set("ąęłóśżć") <= set(polish)


def test_the_internal_survey_asks_servqual_dimensions_then_nps_then_comments() -> None:
    internal = SurveyCatalog.from_paths([]).latest("internal")
    assert internal.audience is Audience.INTERNAL
    assert [(q.id, q.type.value, q.metric, q.required) for q in internal.questions] == [
        ("overall", "rating", "overall", True),
        ("reliability", "rating", "reliability", True),
        ("responsiveness", "rating", "responsiveness", True),
        ("communication", "rating", "communication", True),
        ("quality", "rating", "quality", True),
        ("recommend", "nps", "nps", True),
        ("works_well", "text", "comment_positive", False),
        ("should_change", "text", "comment", False),
    ]
    assert "anonim" in internal.intro["pl"] and "anonymous" in internal.intro["en"]
    # The threshold is configurable, so the intro promises "enough people", not a number.
    assert "odpowiednio wiele" in internal.intro["pl"] and "enough people" in internal.intro["en"]
    assert all("{{ subject }}" in q.text["en"] for q in internal.questions)


def test_the_external_survey_branches_on_nps() -> None:
    external = SurveyCatalog.from_paths([]).latest("external")
    assert external.audience is Audience.EXTERNAL
    assert [(q.id, q.type.value, q.metric) for q in external.questions] == [
        ("nps", "nps", "nps"),
        ("nps_detractor", "text", "comment"),
        ("nps_passive", "text", "comment"),
        ("nps_promoter", "text", "comment"),
        ("csat", "rating", "csat"),
        ("effort", "ces", "ces"),
        ("improve", "multi", "improve"),
        ("comment", "text", "comment"),
        ("contact_consent", "yes_no", "consent"),
    ]
    conditions = {q.id: q.show_if for q in external.questions if q.show_if}
    assert {k: c.model_dump(exclude_none=True) for k, c in conditions.items()} == {
        "nps_detractor": {"question": "nps", "less_than": 7},
        "nps_passive": {"question": "nps", "one_of": [7, 8]},
        "nps_promoter": {"question": "nps", "greater_than": 8},
    }
    improve = external.question("improve")
    assert [c.id for c in improve.choices] == ["price", "quality", "delivery", "support", "other"]
    assert not improve.required
    # Who the feedback goes to is said once, by the bot (survey.goes_to_owner), not here too.
    assert "team" not in external.thanks["en"] and "zespoł" not in external.thanks["pl"]


@pytest.mark.parametrize("definition", bundled_definitions(), ids=lambda d: d.id)
def test_every_scale_question_has_a_legend(definition: SurveyDefinition) -> None:
    for q in definition.questions:
        if q.type in (QuestionType.RATING, QuestionType.NPS, QuestionType.CES):
            assert q.low_label and q.high_label, q.id


# ---------------------------------------------------------------- broken files

HEADER = """\
id: broken
version: 1
audience: external
title: {pl: Tytuł, en: Title}
intro: {pl: Wstęp, en: Intro}
thanks: {pl: Dzięki, en: Thanks}
"""

NPS = """\
  - id: score
    type: nps
    text: {pl: Ocena, en: Score}
"""


def write(tmp_path: Path, questions: str, header: str = HEADER) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(header + "questions:\n" + textwrap.dedent(questions), encoding="utf-8")
    return path


def problems_of(path: Path, *, strict: bool = True) -> list[Problem]:
    with pytest.raises(SurveyFileError) as caught:
        load_definition(path, strict=strict)
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return caught.value.problems


BROKEN = [
    pytest.param(
        NPS + "  - {id: odd, type: stars, text: {pl: x, en: x}}\n",
        "odd",
        "unknown type 'stars' (allowed: rating, nps, ces, single, multi, text, yes_no)",
        id="unknown type",
    ),
    pytest.param(
        NPS + NPS,
        "score",
        "duplicate question id (question 1 has it too)",
        id="duplicate id",
    ),
    pytest.param(
        NPS + "  - {id: why, type: text, text: {pl: x, en: x}, show_if: {question: nope, "
        "less_than: 7}}\n",
        "why",
        "show_if refers to unknown question 'nope'",
        id="show_if unknown",
    ),
    pytest.param(
        "  - {id: why, type: text, text: {pl: x, en: x}, show_if: {question: score, "
        "less_than: 7}}\n" + NPS,
        "why",
        "show_if refers to question 'score', which comes later",
        id="show_if later",
    ),
    pytest.param(
        NPS + "  - {id: why, type: text, text: {pl: x, en: x}, show_if: {question: why, "
        "equals: x}}\n",
        "why",
        "show_if refers to the question itself",
        id="show_if itself",
    ),
    pytest.param(
        "  - {id: pick, type: single, text: {pl: x, en: x}, choices: [{id: a, text: {pl: a, "
        "en: a}}, {id: b, text: {pl: b, en: b}}]}\n"
        "  - {id: why, type: text, text: {pl: x, en: x}, show_if: {question: pick, "
        "greater_than: 2}}\n",
        "why",
        "show_if on 'pick' (single) compares a number, but only rating, nps and ces answers "
        "are numbers",
        id="show_if number on choices",
    ),
    pytest.param(
        "  - {id: pick, type: single, text: {pl: x, en: x}, choices: [{id: a, text: {pl: a, "
        "en: a}}, {id: b, text: {pl: b, en: b}}]}\n"
        "  - {id: why, type: text, text: {pl: x, en: x}, show_if: {question: pick, "
        "equals: c}}\n",
        "why",
        "show_if on 'pick' (single): 'pick' has no choice 'c' (choices: a, b)",
        id="show_if unknown choice",
    ),
    pytest.param(
        NPS + "  - {id: why, type: text, text: {pl: x, en: x}, show_if: {question: score, "
        "one_of: [9, 11]}}\n",
        "why",
        "show_if on 'score' (nps): 11 is outside the scale 0-10",
        id="show_if outside scale",
    ),
    pytest.param(
        NPS + "  - {id: why, type: text, text: {pl: x, en: x}, show_if: {question: score, "
        "less_than: 3, greater_than: 5}}\n",
        "why",
        "show_if needs exactly one of equals, one_of, less_than, greater_than",
        id="show_if two tests",
    ),
    pytest.param(
        "  - {id: pick, type: multi, text: {pl: x, en: x}}\n",
        "pick",
        "a question of type multi needs choices",
        id="choices missing",
    ),
    pytest.param(
        "  - {id: score, type: rating, text: {pl: x, en: x}, choices: [{id: a, text: {pl: a, "
        "en: a}}]}\n",
        "score",
        "choices are only for single and multi questions, not rating",
        id="choices on rating",
    ),
    pytest.param(
        """\
  - id: pick
    type: multi
    text: {pl: x, en: x}
    min_choices: 3
    max_choices: 2
    choices: [{id: a, text: {pl: a, en: a}}, {id: b, text: {pl: b, en: b}}]
""",
        "pick",
        "min_choices (3) is greater than max_choices (2)",
        id="min over max",
    ),
    pytest.param(
        """\
  - id: pick
    type: multi
    text: {pl: x, en: x}
    max_choices: 3
    choices: [{id: a, text: {pl: a, en: a}}, {id: b, text: {pl: b, en: b}}]
""",
        "pick",
        "max_choices (3) is more than the 2 choices",
        id="max over count",
    ),
    pytest.param(
        """\
  - id: pick
    type: single
    text: {pl: x, en: x}
    choices: [{id: a, text: {pl: a, en: a}}, {id: a, text: {pl: b, en: b}}]
""",
        "pick",
        "duplicate choice id 'a'",
        id="duplicate choice",
    ),
    pytest.param(
        "  - {id: score, type: nps, text: {en: Score}}\n",
        "score",
        "text has no Polish translation (pl)",
        id="missing translation",
    ),
    pytest.param(
        """\
  - id: pick
    type: single
    text: {pl: x, en: x}
    choices: [{id: a, text: {pl: a}}, {id: b, text: {pl: b, en: b}}]
""",
        "pick",
        "choice 'a' text has no English translation (en)",
        id="missing choice translation",
    ),
    pytest.param(
        "  - {id: score, type: nps, text: {pl: x, en: x}, low_label: {pl: nisko}, "
        "high_label: {pl: wysoko, en: high}}\n",
        "score",
        "low_label has no English translation (en)",
        id="missing label translation",
    ),
    pytest.param(
        "  - {id: score, type: nps, text: {pl: x, en: '" + "x" * 4097 + "'}}\n",
        "score",
        "text (en) is 4097 characters long; at most 4096 fit",
        id="text too long",
    ),
    pytest.param(
        """\
  - id: pick
    type: single
    text: {pl: x, en: x}
    choices:
      - {id: a, text: {pl: 'Zażółć gęślą jaźń, zażółć gęślą jaźń, zażółć gęślą', en: a}}
      - {id: b, text: {pl: b, en: b}}
""",
        "pick",
        "choice 'a' text (pl) is 75 bytes in UTF-8; a button carries at most 64",
        id="button too long",
    ),
    pytest.param(
        NPS.replace("type: nps", "type: nps\n    colour: red"),
        "score",
        "unknown key 'colour'",
        id="unknown key",
    ),
    pytest.param(
        NPS + "    shwo_if: {question: score, equals: 1}\n",
        "score",
        "unknown key 'shwo_if' (did you mean 'show_if'?)",
        id="misspelt key",
    ),
    pytest.param(
        "  - {id: score, type: rating, metric: nps, text: {pl: x, en: x}}\n",
        "score",
        "metric nps must be on a question of type nps, not rating",
        id="nps metric on rating",
    ),
    pytest.param(
        "  - {id: score, type: nps, metric: csat, text: {pl: x, en: x}}\n",
        "score",
        "metric csat must be on a question of type rating, not nps",
        id="csat metric on nps",
    ),
    pytest.param(
        "  - {id: score, type: rating, metric: ces, text: {pl: x, en: x}}\n",
        "score",
        "metric ces must be on a question of type ces, not rating",
        id="ces metric on rating",
    ),
    pytest.param(
        "  - {id: score, type: nps, text: Score}\n",
        "score",
        "text must give the text per language, e.g. {pl: ..., en: ...}",
        id="text not per language",
    ),
    pytest.param(
        "  - {type: nps, text: {pl: x, en: x}}\n",
        "#1",
        "id is missing",
        id="id missing",
    ),
    pytest.param(
        "  - {id: Score, type: nps, text: {pl: x, en: x}}\n",
        "Score",
        "id 'Score' may only contain lowercase letters a-z, digits and _",
        id="bad id",
    ),
    pytest.param(
        """\
  - id: pick
    type: single
    text: {pl: x, en: x}
    choices: [{id: no, text: {pl: nie, en: no}}, {id: b, text: {pl: b, en: b}}]
""",
        "pick",
        "choice 1 id must be text (YAML reads yes/no/on/off as true/false: put the text in quotes)",
        id="yaml boolean",
    ),
    pytest.param(
        "  - {id: score, type: nps, text: {pl: 'Jak {{ product }}?', en: x}}\n",
        "score",
        "text (pl) uses an unknown placeholder {{ product }}; only {{ subject }} is available",
        id="unknown placeholder",
    ),
    pytest.param(
        "  - {id: score, type: nps, text: {pl: x, en: x}, low_label: {pl: x, en: x}, "
        "high_label: {pl: x, en: 'love {{ subject }}'}}\n",
        "score",
        "high_label (en) cannot use placeholders such as {{ subject }}",
        id="placeholder on a label",
    ),
    pytest.param(
        "  - {id: score, type: nps, text: {pl: x, en: '{% if subject %}x{% endif %}'}}\n",
        "score",
        "text (en) uses a template tag ({% %} or {# #}); only {{ subject }} is available",
        id="template tag",
    ),
    pytest.param(
        "  - {id: comment, type: text, max_length: 5000, text: {pl: x, en: x}}\n",
        "comment",
        "max_length must be at most 4096",
        id="max_length over limit",
    ),
]


@pytest.mark.parametrize(("questions", "question_id", "message"), BROKEN)
def test_a_broken_question_is_reported_with_file_and_question_id(
    tmp_path: Path, questions: str, question_id: str, message: str
) -> None:
    path = write(tmp_path, questions)
    problems = problems_of(path)
    lines = [str(p) for p in problems]
    expected = f"{path}: question {question_id}: {message}"
    assert any(line.startswith(expected) for line in lines), "\n".join(lines)
    for line in lines:  # people never see pydantic's own paths or wording
        assert "questions." not in line and "Input should" not in line, line


SURVEY_LEVEL = [
    pytest.param(
        HEADER.replace("intro: {pl: Wstęp, en: Intro}", "intro: {pl: Wstęp}"),
        "intro has no English translation (en)",
        id="missing intro translation",
    ),
    pytest.param(
        HEADER.replace("audience: external", "audience: buyers"),
        "unknown audience 'buyers' (allowed: internal, external)",
        id="unknown audience",
    ),
    pytest.param(
        HEADER.replace("version: 1", "version: 0"),
        "version must be at least 1",
        id="version zero",
    ),
    pytest.param(HEADER + "owner: me\n", "unknown key 'owner'", id="unknown survey key"),
    pytest.param(
        HEADER.replace("title: {pl: Tytuł, en: Title}\n", ""), "title is missing", id="no title"
    ),
]


@pytest.mark.parametrize(("header", "message"), SURVEY_LEVEL)
def test_a_broken_survey_field_is_reported_with_the_file(
    tmp_path: Path, header: str, message: str
) -> None:
    path = write(tmp_path, NPS, header=header)
    assert any(str(p).startswith(f"{path}: {message}") for p in problems_of(path))


def test_a_survey_without_questions_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(HEADER + "questions: []\n", encoding="utf-8")
    assert [str(p) for p in problems_of(path)] == [f"{path}: the survey has no questions"]


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, NPS + "  - {id: x, type: nps\n")
    (problem,) = problems_of(path)
    assert problem.question_id is None
    assert re.match(
        rf"{re.escape(str(path))}: line \d+, column \d+: YAML syntax error: ", str(problem)
    )


def test_an_unquoted_placeholder_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "  - {id: score, type: nps, text: {pl: x, en: Rate {{ subject }}}}\n")
    (problem,) = problems_of(path)
    assert str(problem).endswith("(put a text that uses {{ subject }} in quotes)")


def test_a_key_given_twice_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, NPS + "    type: rating\n")
    assert f"{path}: line 11: key 'type' is given twice" in [str(p) for p in problems_of(path)]


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "the file is empty"), ("- a\n- b\n", "expected a survey")],
)
def test_a_file_that_is_not_a_survey_says_so(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(content, encoding="utf-8")
    (problem,) = problems_of(path)
    assert str(problem).startswith(f"{path}: {message}")


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
  - {id: score, type: nps, metric: csat, text: {pl: x}}
  - {id: score, type: stars, text: {pl: x, en: x}}
  - id: pick
    type: multi
    text: {pl: x, en: x}
    min_choices: 3
    choices: [{id: a, text: {pl: a, en: a}}, {id: a, text: {pl: b, en: b}}]
  - {id: why, type: text, text: {pl: x, en: x}, show_if: {question: pick, equals: zz}}
""",
    )
    found = {(p.question_id, p.message.split(" (")[0]) for p in problems_of(path)}
    assert found >= {
        ("score", "text has no English translation"),
        ("score", "metric csat must be on a question of type rating, not nps"),
        ("score", "unknown type 'stars'"),
        ("score", "duplicate question id"),
        ("pick", "duplicate choice id 'a'"),
        ("pick", "min_choices"),
        ("why", "show_if on 'pick'"),
    }


def test_problems_in_several_files_are_all_reported(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text(HEADER.replace("id: broken", "id: a") + "questions: []\n", encoding="utf-8")
    second = tmp_path / "b.yaml"
    second.write_text("id: [\n", encoding="utf-8")
    with pytest.raises(SurveyFileError) as caught:
        load_definitions([tmp_path])
    assert {p.file for p in caught.value.problems} == {str(first), str(second)}


def test_a_lenient_load_accepts_a_single_language(tmp_path: Path) -> None:
    path = tmp_path / "english.yaml"
    english = {"en": "Text"}
    data = {"id": "english", "version": 1, "audience": "internal", "title": english}
    data |= {"intro": english, "thanks": english}
    data["questions"] = [{"id": "score", "type": "nps", "text": english}]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert "text has no Polish translation (pl)" in [p.message for p in problems_of(path)]
    assert load_definition(path, strict=False).question("score").text == english


# ---------------------------------------------------------------- the catalog


def survey_file(folder: Path, survey_id: str, version: int, text: str = "Score") -> Path:
    data = yaml.safe_load(HEADER.replace("id: broken", f"id: {survey_id}"))
    data["version"] = version
    data["questions"] = [{"id": "score", "type": "nps", "text": {"pl": text, "en": text}}]
    path = folder / f"{survey_id}-v{version}.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_catalog_keeps_every_version_and_serves_the_latest(tmp_path: Path) -> None:
    survey_file(tmp_path, "internal", 2, "New")
    survey_file(tmp_path, "pulse", 1)
    catalog = SurveyCatalog.from_folders(tmp_path)
    assert catalog.ids() == ["external", "internal", "pulse"]
    assert catalog.versions("internal") == [1, 2]
    assert catalog.latest("internal").version == 2
    assert catalog.get("internal").version == 2
    assert catalog.get("internal", 1).question("overall")  # old responses stay readable
    assert [d.id for d in catalog.for_audience(Audience.INTERNAL)] == []
    assert [d.id for d in catalog.for_audience("external")] == ["external", "internal", "pulse"]
    assert "pulse" in catalog and len(catalog) == 3
    assert [(d.id, d.version) for d in catalog][:3] == [
        ("external", 1),
        ("internal", 1),
        ("internal", 2),
    ]


def test_the_catalog_without_an_extra_folder_is_the_bundled_surveys() -> None:
    catalog = SurveyCatalog.load()
    assert catalog.ids() == ["external", "internal"]
    assert SurveyCatalog.from_folders(None).ids() == ["external", "internal"]
    assert [d.id for d in catalog.for_audience(Audience.INTERNAL)] == ["internal"]


def test_an_unknown_survey_or_version_is_a_clear_error() -> None:
    catalog = SurveyCatalog.load()
    with pytest.raises(
        UnknownSurvey, match="unknown survey 'nope' \\(known: external, internal\\)"
    ):
        catalog.get("nope")
    with pytest.raises(KeyError, match="survey 'internal' has no version 7 \\(has: 1\\)"):
        catalog.get("internal", 7)


def test_the_same_version_defined_twice_differently_is_a_problem(tmp_path: Path) -> None:
    survey_file(tmp_path, "internal", 1, "Changed")
    with pytest.raises(SurveyFileError, match="survey 'internal' version 1 is already defined"):
        SurveyCatalog.load(tmp_path)


def test_a_missing_extra_folder_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(SurveyFileError, match="no such file or folder"):
        SurveyCatalog.load(tmp_path / "missing")


def test_user_survey_files_are_checked_strictly(tmp_path: Path) -> None:
    path = survey_file(tmp_path, "pulse", 1)
    path.write_text(path.read_text(encoding="utf-8").replace("pl: Score", "de: Score"), "utf-8")
    with pytest.raises(SurveyFileError) as caught:
        SurveyCatalog.load(tmp_path)
    messages = [p.message for p in caught.value.problems]
    assert "text has no Polish translation (pl)" in messages
    assert "text has an unknown language 'de' (use pl, en)" in messages
