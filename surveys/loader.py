"""Reading survey definitions from YAML, checking them, and the catalog of every version."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from surveys.schema import (
    BUTTON_TEXT_LIMIT,
    LANGS,
    MESSAGE_LIMIT,
    SCALES,
    Audience,
    Choice,
    Condition,
    Period,
    Question,
    QuestionType,
    SurveyDefinition,
)

__all__ = [
    "BUNDLED_DIR",
    "SURVEY_SUFFIXES",
    "Problem",
    "SurveyCatalog",
    "SurveyFileError",
    "UnknownSurvey",
    "bundled_definitions",
    "load_definition",
    "load_definitions",
    "parse_definition",
    "survey_files",
]

BUNDLED_DIR = Path(__file__).parent / "definitions"
SURVEY_SUFFIXES = (".yaml", ".yml")

# The metrics a digest scores with a fixed formula, and the question type each needs.
SCORED_METRICS: dict[str, QuestionType] = {
    "nps": QuestionType.NPS,
    "csat": QuestionType.RATING,
    "ces": QuestionType.CES,
}

_TEXT_FIELDS = frozenset({"title", "intro", "thanks", "text", "low_label", "high_label"})
_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_PLACEHOLDERS = frozenset({"subject"})
_TEMPLATE_TAG = re.compile(r"\{%|\{#")  # the bot renders texts with Jinja2
_UNION_TAGS = frozenset({"int", "bool", "str", "float", "none"})
_CHOICE_TYPES = (QuestionType.SINGLE, QuestionType.MULTI)
_PATCHED_ID = re.compile(r"^_\d*$")  # placeholders standing in for invalid ids while checking


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a survey file; `question_id` is "#N" for a question without an id."""

    file: str
    question_id: str | None
    message: str

    def __str__(self) -> str:
        if self.question_id is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}: question {self.question_id}: {self.message}"


class SurveyFileError(Exception):
    """One or more survey files are invalid; `problems` lists every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnknownSurvey(KeyError):
    """The catalog has no survey (or no such version) with that id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown survey"


# ---------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """A safe loader that remembers keys given twice in one mapping (PyYAML keeps the last)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[tuple[object, int]] = []


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            if key in seen:
                loader.duplicate_keys.append((key, key_node.start_mark.line + 1))
            seen.add(key)
        except TypeError:  # an unhashable key; construct_mapping reports it
            pass
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path, file: str) -> tuple[object, list[Problem]]:
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(file, None, "no such file")]
    except UnicodeDecodeError:
        return None, [Problem(file, None, "not UTF-8 text")]
    except OSError as exc:
        return None, [Problem(file, None, f"cannot read the file: {exc.strerror or exc}")]
    loader = _Loader(source)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = exc.problem or exc.context or "invalid YAML"
        lines = source.splitlines()
        if mark and mark.line < len(lines) and "{{" in lines[mark.line]:
            what += " (put a text that uses {{ subject }} in quotes)"
        return None, [Problem(file, None, f"{where}YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, None, f"YAML syntax error: {exc}")]
    finally:
        loader.dispose()
    problems = [
        Problem(file, None, f"line {line}: key '{key}' is given twice")
        for key, line in loader.duplicate_keys
    ]
    return data, problems


# ---------------------------------------------------------------- loading


def survey_files(path: str | Path) -> list[Path]:
    """The survey files at `path`: the file itself, or every *.yaml / *.yml in a folder."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in SURVEY_SUFFIXES and p.is_file())
    return [path]


def _load(path: Path, strict: bool) -> tuple[SurveyDefinition | None, list[Problem]]:
    file = str(path)
    data, problems = _read_yaml(path, file)
    if problems and data is None:
        return None, problems
    definition, more = _parse(data, file, strict)
    problems += more
    return (definition if not problems else None), problems


def load_definition(path: str | Path, *, strict: bool = True) -> SurveyDefinition:
    """Read and check one survey file; SurveyFileError lists every problem in it.

    `strict` (the default, used for bundled and user surveys alike) requires every text in
    both Polish and English and rejects other languages."""
    definition, problems = _load(Path(path), strict)
    if definition is None:
        raise SurveyFileError(problems)
    return definition


def parse_definition(
    data: object, source: str = "<data>", *, strict: bool = True
) -> SurveyDefinition:
    """Check an already parsed YAML document (e.g. a dict); `source` names it in problems."""
    definition, problems = _parse(data, source, strict)
    if definition is None or problems:
        raise SurveyFileError(problems)
    return definition


def _load_sources(
    paths: Iterable[str | Path], strict: bool
) -> tuple[list[tuple[str, SurveyDefinition]], list[Problem]]:
    loaded: list[tuple[str, SurveyDefinition]] = []
    problems: list[Problem] = []
    for given in paths:
        given = Path(given)
        if not given.exists():
            problems.append(Problem(str(given), None, "no such file or folder"))
            continue
        files = survey_files(given)
        if given.is_dir() and not files:
            problems.append(Problem(str(given), None, "no *.yaml or *.yml files in this folder"))
        for path in files:
            definition, found = _load(path, strict)
            problems += found
            if definition is not None:
                loaded.append((str(path), definition))
    return loaded, problems


def load_definitions(paths: Iterable[str | Path], *, strict: bool = True) -> list[SurveyDefinition]:
    """Read every survey file at `paths` (files or folders); SurveyFileError lists every
    problem in every file at once."""
    loaded, problems = _load_sources(paths, strict)
    problems += _conflicts(loaded)
    if problems:
        raise SurveyFileError(problems)
    return [definition for _, definition in loaded]


@cache
def _bundled_sources() -> tuple[tuple[str, SurveyDefinition], ...]:
    loaded, problems = _load_sources([BUNDLED_DIR], strict=True)
    problems += _conflicts(loaded)
    if problems:
        raise SurveyFileError(problems)
    return tuple(loaded)


def bundled_definitions() -> list[SurveyDefinition]:
    """The surveys shipped in surveys/definitions (read once, then cached)."""
    return [definition for _, definition in _bundled_sources()]


def _conflicts(loaded: list[tuple[str, SurveyDefinition]]) -> list[Problem]:
    """Two different files giving the same survey id and version."""
    first: dict[tuple[str, int], tuple[str, SurveyDefinition]] = {}
    problems: list[Problem] = []
    for file, definition in loaded:
        key = (definition.id, definition.version)
        if key not in first:
            first[key] = (file, definition)
        elif first[key][1] != definition:
            problems.append(
                Problem(
                    file,
                    None,
                    f"survey '{definition.id}' version {definition.version} is already "
                    f"defined differently in {first[key][0]}; give this one a new version",
                )
            )
    return problems


# ---------------------------------------------------------------- catalog


class SurveyCatalog:
    """Every version of every known survey, so responses to an old version stay readable."""

    def __init__(self, definitions: Iterable[SurveyDefinition]) -> None:
        self._versions: dict[str, dict[int, SurveyDefinition]] = {}
        for definition in definitions:
            versions = self._versions.setdefault(definition.id, {})
            known = versions.get(definition.version)
            if known is not None and known != definition:
                raise ValueError(
                    f"survey {definition.id!r} version {definition.version} is given twice, "
                    "differently"
                )
            versions[definition.version] = definition

    @classmethod
    def load(cls, extra_dir: str | Path | None = None) -> SurveyCatalog:
        """The bundled surveys plus those in `extra_dir` (FEEDBOT_SURVEYS_DIR), all checked
        strictly; SurveyFileError lists every problem in every file."""
        return cls.from_paths([extra_dir] if extra_dir is not None else [])

    @classmethod
    def from_folders(cls, *folders: str | Path | None) -> SurveyCatalog:
        """The bundled surveys plus those in each given folder (None is ignored)."""
        return cls.from_paths([f for f in folders if f is not None])

    @classmethod
    def from_paths(
        cls, paths: Iterable[str | Path], *, include_bundled: bool = True, strict: bool = True
    ) -> SurveyCatalog:
        """A catalog of the surveys at `paths` (files or folders), after the bundled ones."""
        loaded = list(_bundled_sources()) if include_bundled else []
        more, problems = _load_sources(paths, strict)
        loaded += more
        problems += _conflicts(loaded)
        if problems:
            raise SurveyFileError(problems)
        return cls(definition for _, definition in loaded)

    def get(self, survey_id: str, version: int | None = None) -> SurveyDefinition:
        """A survey by id and version (the latest when `version` is None); UnknownSurvey
        when there is no such survey or version."""
        versions = self._versions.get(survey_id)
        if not versions:
            known = ", ".join(self.ids()) or "none"
            raise UnknownSurvey(f"unknown survey '{survey_id}' (known: {known})")
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            have = ", ".join(str(v) for v in sorted(versions))
            raise UnknownSurvey(f"survey '{survey_id}' has no version {version} (has: {have})")
        return versions[version]

    def latest(self, survey_id: str) -> SurveyDefinition:
        """The highest version of a survey."""
        return self.get(survey_id)

    def versions(self, survey_id: str) -> list[int]:
        """The known versions of a survey, ascending (empty when unknown)."""
        return sorted(self._versions.get(survey_id, {}))

    def ids(self) -> list[str]:
        """The survey ids, sorted."""
        return sorted(self._versions)

    def for_audience(self, audience: Audience | str) -> list[SurveyDefinition]:
        """The latest version of every survey for this audience, by id."""
        wanted = Audience(audience)
        latest = (self.latest(survey_id) for survey_id in self.ids())
        return [d for d in latest if d.audience is wanted]

    def __iter__(self) -> Iterator[SurveyDefinition]:
        """Every version of every survey, by id then version."""
        for survey_id in self.ids():
            versions = self._versions[survey_id]
            for version in sorted(versions):
                yield versions[version]

    def __contains__(self, survey_id: object) -> bool:
        return survey_id in self._versions

    def __len__(self) -> int:
        return len(self._versions)


# ---------------------------------------------------------------- checks


class _Found:
    """Problems collected while checking one file, each with the index of its question
    (-1 for the survey itself) so they can be listed in the file's order."""

    def __init__(self, file: str, labels: list[str]) -> None:
        self.file = file
        self.labels = labels
        self.items: list[tuple[int, int, Problem]] = []

    def add(self, index: int | None, message: str) -> None:
        label = self.labels[index] if index is not None else None
        problem = Problem(self.file, label, message)
        if all(p != problem for _, _, p in self.items):
            position = -1 if index is None else index
            self.items.append((position, len(self.items), problem))

    def sorted(self) -> list[Problem]:
        return [p for _, _, p in sorted(self.items, key=lambda item: item[:2])]


def _question_label(raw: object, index: int) -> str:
    if isinstance(raw, dict):
        qid = raw.get("id")
        if isinstance(qid, str) and qid.strip():
            return qid
    return f"#{index + 1}"


def _parse(data: object, file: str, strict: bool) -> tuple[SurveyDefinition | None, list[Problem]]:
    if data is None:
        return None, [Problem(file, None, "the file is empty")]
    if not isinstance(data, dict):
        return None, [
            Problem(
                file,
                None,
                "expected a survey: a mapping with id, version, audience, "
                "title, intro, thanks and questions",
            )
        ]
    raw_questions = data.get("questions")
    questions_raw: list[object] = raw_questions if isinstance(raw_questions, list) else []
    found = _Found(file, [_question_label(q, i) for i, q in enumerate(questions_raw)])

    definition: SurveyDefinition | None = None
    try:
        definition = SurveyDefinition.model_validate(data)
    except ValidationError as exc:
        _translate(exc, data, found)

    for key in ("title", "intro", "thanks"):
        rendered = key != "title"
        _check_texts(found, None, key, data.get(key), strict, MESSAGE_LIMIT, placeholders=rendered)

    parsed: list[Question | None] = []
    for index, raw in enumerate(questions_raw):
        parsed.append(_best_effort_question(raw))
        if isinstance(raw, dict):
            _check_question_texts(found, index, raw, strict)

    _check_questions(found, questions_raw, parsed)
    problems = found.sorted()
    return (definition if not problems else None), problems


_DROPPABLE = frozenset(
    {"required", "show_if", "metric", "min_choices", "max_choices", "max_length"}
    | {"low_label", "high_label"}
)


def _best_effort_question(raw: object) -> Question | None:
    """The question, with its invalid parts (already reported) patched or left out, so the
    checks that need a whole question still run; None when even its type is unusable."""
    if not isinstance(raw, dict):
        return None
    patched: dict[Any, Any] = dict(raw)
    for _ in range(4):
        try:
            return Question.model_validate(patched)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                if not _patch(patched, list(error["loc"])):
                    return None
    return None


def _patch(question: dict[Any, Any], loc: list[int | str]) -> bool:
    key = loc[0] if loc else None
    if key == "id":
        question["id"] = "_"  # matches _PATCHED_ID
    elif key == "text":
        question["text"] = {"en": "-"}
    elif key == "choices" and len(loc) >= 2 and isinstance(loc[1], int):
        choices = list(question["choices"])
        choice = choices[loc[1]]
        if not isinstance(choice, dict):
            return False
        # A placeholder id never matches a show_if, so a repaired choice may cause one
        # extra "no such choice" message at worst; its own problem is listed first.
        choices[loc[1]] = {"id": f"_{loc[1]}", "text": {"en": "-"}}
        question["choices"] = choices
    elif key in _DROPPABLE or key == "choices":
        question.pop(key, None)
    elif isinstance(key, str) and key not in Question.model_fields:
        question.pop(key, None)  # an unknown key
    else:
        return False  # the type (or the whole question) is unusable
    return True


def _check_texts(
    found: _Found,
    index: int | None,
    name: str,
    texts: object,
    strict: bool,
    limit: int,
    *,
    button: bool = False,
    placeholders: bool = True,
) -> None:
    """Translations, emptiness, length and placeholders of one per-language text.

    `{{ subject }}` is filled in only in rendered messages (intro, thanks, question text);
    titles, scale labels and buttons are shown as written, so they may not use it."""
    if not isinstance(texts, dict):
        return  # a wrong type is reported by the schema validation
    for lang in LANGS:
        if strict and lang not in texts:
            found.add(index, f"{name} has no {_LANG_NAMES[lang]} translation ({lang})")
    for lang, text in texts.items():
        if strict and lang not in LANGS:
            found.add(index, f"{name} has an unknown language '{lang}' (use {', '.join(LANGS)})")
        if not isinstance(text, str):
            continue
        if not text.strip():
            found.add(index, f"{name} ({lang}) is empty")
        elif button and len(text.encode()) > BUTTON_TEXT_LIMIT:
            found.add(
                index,
                f"{name} ({lang}) is {len(text.encode())} bytes in UTF-8; a button carries "
                f"at most {BUTTON_TEXT_LIMIT}",
            )
        elif len(text) > limit:
            found.add(index, f"{name} ({lang}) is {len(text)} characters long; at most {limit} fit")
        if _TEMPLATE_TAG.search(text):
            found.add(
                index,
                f"{name} ({lang}) uses a template tag ({{% %}} or {{# #}}); "
                "only {{ subject }} is available",
            )
        used = _PLACEHOLDER.findall(text)
        if used and not placeholders:
            found.add(
                index,
                f"{name} ({lang}) cannot use placeholders such as {{{{ subject }}}}; "
                "they are filled in only in the intro, the thanks and question texts",
            )
            continue
        for placeholder in used:
            if placeholder not in _PLACEHOLDERS:
                found.add(
                    index,
                    f"{name} ({lang}) uses an unknown placeholder {{{{ {placeholder} }}}}; "
                    "only {{ subject }} is available",
                )


_LANG_NAMES = {"pl": "Polish", "en": "English"}


def _check_question_texts(found: _Found, index: int, raw: dict[Any, Any], strict: bool) -> None:
    _check_texts(found, index, "text", raw.get("text"), strict, MESSAGE_LIMIT)
    for key in ("low_label", "high_label"):
        if raw.get(key) is not None:
            _check_texts(found, index, key, raw.get(key), strict, MESSAGE_LIMIT, placeholders=False)
    choices = raw.get("choices")
    if isinstance(choices, list):
        for number, choice in enumerate(choices, start=1):
            if isinstance(choice, dict):
                choice_id = choice.get("id")
                name = f"choice '{choice_id}'" if isinstance(choice_id, str) else f"choice {number}"
                _check_texts(
                    found,
                    index,
                    f"{name} text",
                    choice.get("text"),
                    strict,
                    MESSAGE_LIMIT,
                    button=True,
                    placeholders=False,
                )


def _check_questions(
    found: _Found, questions_raw: list[object], parsed: list[Question | None]
) -> None:
    """Everything the schema cannot see alone: ids, choices, show_if and metrics."""
    ids = [
        raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        for raw in questions_raw
    ]
    first_index: dict[str, int] = {}
    for index, qid in enumerate(ids):
        if qid is None:
            continue
        if qid in first_index:
            found.add(index, f"duplicate question id (question {first_index[qid] + 1} has it too)")
        else:
            first_index[qid] = index

    metric_owner: dict[str, str] = {}
    for index, question in enumerate(parsed):
        if question is None:
            continue
        raw = questions_raw[index]
        assert isinstance(raw, dict)
        _check_choices(found, index, question, raw)
        if question.show_if is not None:
            _check_condition(found, index, question, question.show_if, first_index, parsed)
        metric = question.metric
        if metric in SCORED_METRICS:
            needed = SCORED_METRICS[metric]
            if question.type is not needed:
                found.add(
                    index,
                    f"metric {metric} must be on a question of type {needed}, not {question.type}",
                )
            if metric in metric_owner:
                found.add(
                    index,
                    f"metric {metric} is already on question {metric_owner[metric]}; "
                    "a survey scores it from one question",
                )
            else:
                metric_owner[metric] = question.id


def _check_choices(found: _Found, index: int, q: Question, raw: dict[Any, Any]) -> None:
    kind = q.type
    if kind in _CHOICE_TYPES:
        if not q.choices:
            found.add(index, f"a question of type {kind} needs choices")
        elif len(q.choices) < 2:
            found.add(index, f"a question of type {kind} needs at least 2 choices")
        seen: set[str] = set()
        for choice in q.choices:
            if choice.id in seen:
                found.add(index, f"duplicate choice id '{choice.id}'")
            seen.add(choice.id)
    elif q.choices:
        found.add(index, f"choices are only for single and multi questions, not {kind}")

    if kind is not QuestionType.MULTI:
        for key in ("min_choices", "max_choices"):
            if getattr(q, key) is not None:
                found.add(index, f"{key} is only for multi questions, not {kind}")
    else:
        low, high, count = q.min_choices, q.max_choices, len(q.choices)
        if low is not None and high is not None and low > high:
            found.add(index, f"min_choices ({low}) is greater than max_choices ({high})")
        if count and low is not None and low > count:
            found.add(index, f"min_choices ({low}) is more than the {count} choices")
        if count and high is not None and high > count:
            found.add(index, f"max_choices ({high}) is more than the {count} choices")

    if kind is not QuestionType.TEXT and "max_length" in raw:
        found.add(index, f"max_length is only for text questions, not {kind}")
    if q.scale is None:
        for key in ("low_label", "high_label"):
            if getattr(q, key) is not None:
                found.add(index, f"{key} is only for rating, nps and ces questions, not {kind}")


def _check_condition(
    found: _Found,
    index: int,
    q: Question,
    cond: Condition,
    first_index: dict[str, int],
    parsed: list[Question | None],
) -> None:
    source_id = cond.question
    if source_id == q.id:
        found.add(
            index,
            "show_if refers to the question itself; it may only depend on an earlier question",
        )
        return
    source_index = first_index.get(source_id)
    if source_index is None:
        found.add(index, f"show_if refers to unknown question '{source_id}'")
        return
    if source_index > index:
        found.add(
            index,
            f"show_if refers to question '{source_id}', which comes later; it "
            "may only depend on an earlier question",
        )
        return
    source = parsed[source_index]
    if source is None:
        return  # its own problems are reported; its type is unknown
    kind = source.type
    prefix = f"show_if on '{source_id}' ({kind})"
    if kind is QuestionType.TEXT:
        found.add(index, f"show_if cannot depend on a text question ('{source_id}')")
        return
    values: list[object] = [cond.equals] if cond.equals is not None else list(cond.one_of or [])
    bounds = [b for b in (cond.less_than, cond.greater_than) if b is not None]
    scale = SCALES.get(kind)
    if scale is not None:
        low, high = scale
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int):
                found.add(index, f"{prefix} compares with {value!r}; use a number {low}-{high}")
            elif not low <= value <= high:
                found.add(index, f"{prefix}: {value} is outside the scale {low}-{high}")
        if cond.less_than is not None and cond.less_than <= low:
            found.add(
                index,
                f"{prefix}: less_than {cond.less_than:g} is never true on the scale {low}-{high}",
            )
        if cond.greater_than is not None and cond.greater_than >= high:
            found.add(
                index,
                f"{prefix}: greater_than {cond.greater_than:g} is never true "
                f"on the scale {low}-{high}",
            )
        return
    if bounds:
        found.add(
            index, f"{prefix} compares a number, but only rating, nps and ces answers are numbers"
        )
        return
    if kind is QuestionType.YES_NO:
        if not isinstance(cond.equals, bool):
            found.add(index, f"{prefix}: use equals: true or equals: false")
        return
    choice_ids = [c.id for c in source.choices]
    listed = ", ".join(dict.fromkeys(c for c in choice_ids if not _PATCHED_ID.match(c)))
    for value in values:
        if not isinstance(value, str) or isinstance(value, bool):
            found.add(
                index,
                f"{prefix} compares with {value!r}, but its answers are choice ids ({listed})",
            )
        elif value not in choice_ids:
            found.add(
                index,
                f"{prefix}: '{source_id}' has no choice '{value}' (choices: {listed})",
            )


# ---------------------------------------------------------------- pydantic errors


_MODELS_BY_CONTEXT: dict[str, type[BaseModel]] = {
    "survey": SurveyDefinition,
    "question": Question,
    "show_if": Condition,
    "choice": Choice,
}

_ALLOWED = {
    "type": ", ".join(t.value for t in QuestionType),
    "audience": ", ".join(a.value for a in Audience),
    "period": ", ".join(p.value for p in Period),
}


def _translate(exc: ValidationError, data: dict[Any, Any], found: _Found) -> None:
    """Turn pydantic's errors into problems that name the question and the field in words."""
    reported: set[tuple[int | None, str]] = set()
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        index: int | None = None
        raw_question: object = None
        if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
            index = loc[1]
            raw_question = data["questions"][index]
            loc = loc[2:]
        field, context, union = _describe(loc, raw_question, index is not None)
        if (index, field) in reported:
            continue
        reported.add((index, field))
        message = _message(error, field, context, union, loc)
        found.add(index, message)


def _describe(
    loc: list[int | str], raw_question: object, in_question: bool
) -> tuple[str, str, bool]:
    """(the field in words, the kind of object holding it, whether a union tag was seen)."""
    words: list[str] = []
    context = "question" if in_question else "survey"
    union = False
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            if previous == "choices":
                words[-1] = _choice_name(raw_question, part)
                context = "choice"
            else:
                words.append(f"item {part + 1}")
        elif part in _UNION_TAGS and previous not in (None, "choices"):
            union = True
        elif previous in _TEXT_FIELDS and part not in _TEXT_FIELDS:
            words[-1] = f"{words[-1]} ({part})"
        else:
            if part == "show_if":
                context = "show_if"
            words.append(part)
        previous = part
    return " ".join(words), context, union


def _choice_name(raw_question: object, index: int) -> str:
    if isinstance(raw_question, dict):
        choices = raw_question.get("choices")
        if isinstance(choices, list) and index < len(choices):
            choice = choices[index]
            if isinstance(choice, dict) and isinstance(choice.get("id"), str):
                return f"choice '{choice['id']}'"
    return f"choice {index + 1}"


def _message(error: Any, field: str, context: str, union: bool, loc: list[int | str]) -> str:
    kind: str = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    last = next((p for p in reversed(loc) if isinstance(p, str) and p not in _UNION_TAGS), "")
    if kind == "missing":
        return f"{field} is missing"
    if kind == "extra_forbidden":
        owner = field.rsplit(" ", 1)[0] if " " in field else ""
        where = f" in {owner}" if owner else ""
        allowed = list(_MODELS_BY_CONTEXT[context].model_fields)
        guess = difflib.get_close_matches(str(last), allowed, n=1)
        hint = f" (did you mean '{guess[0]}'?)" if guess else f" (allowed: {', '.join(allowed)})"
        return f"unknown key '{last}'{where}{hint}"
    if union:
        return f"{field} has a value of the wrong kind: {value!r}"
    if kind == "enum":
        allowed_values = _ALLOWED.get(str(last), str(ctx.get("expected", "")).replace("'", ""))
        noun = "type" if last == "type" else str(field)
        return f"unknown {noun} '{value}' (allowed: {allowed_values})"
    if kind == "string_pattern_mismatch":
        extra = ", _ and -" if "_-]" in str(ctx.get("pattern", "")) else " and _"
        return f"{field} '{value}' may only contain lowercase letters a-z, digits{extra}"
    if kind == "string_too_long":
        return f"{field} '{value}' is too long (at most {ctx.get('max_length')} characters)"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        if last in _TEXT_FIELDS:
            return f"{field} must give the text per language, e.g. {{pl: ..., en: ...}}"
        if not loc:
            return "each question must be a mapping with id, type and text"
        if context == "choice" and isinstance(loc[-1], int):
            return f"{field} must be a mapping with id and text"
        if last == "show_if":
            return "show_if must be a mapping, e.g. {question: nps, less_than: 7}"
        return f"{field} must be a mapping"
    if kind == "string_type":
        hint = ""
        if isinstance(value, bool):
            hint = " (YAML reads yes/no/on/off as true/false: put the text in quotes)"
        elif isinstance(value, int | float):
            hint = " (put it in quotes)"
        return f"{field} must be text{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{field} must be a whole number, not {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"{field} must be true or false, not {value!r}"
    if kind in ("float_type", "float_parsing"):
        return f"{field} must be a number, not {value!r}"
    if kind == "list_type":
        return f"{field} must be a list"
    if kind == "too_short":
        return "the survey has no questions" if field == "questions" else f"{field} is empty"
    if kind == "greater_than_equal":
        return f"{field} must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"{field} must be at most {ctx.get('le')}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{field}: {error['msg']}" if field else str(error["msg"])
