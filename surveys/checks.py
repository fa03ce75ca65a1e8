"""The rules a survey file must follow beyond its schema; each broken one is a Problem."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from surveys.problems import Found, Problem
from surveys.schema import (
    MESSAGE_LIMIT,
    SCALES,
    Condition,
    Metric,
    Question,
    QuestionType,
    SurveyDefinition,
)
from surveys.schema_errors import translate_errors
from surveys.text_checks import check_question_texts, check_texts

# The metrics a digest scores with a fixed formula, and the question type each needs.
SCORED_METRICS: dict[str, QuestionType] = {
    Metric.NPS: QuestionType.NPS,
    Metric.CSAT: QuestionType.RATING,
    Metric.CES: QuestionType.CES,
}

_CHOICE_TYPES = (QuestionType.SINGLE, QuestionType.MULTI)
_PATCHED_ID = re.compile(r"^_\d*$")  # placeholders standing in for invalid ids while checking


def _question_label(raw: object, index: int) -> str:
    if isinstance(raw, dict):
        qid = raw.get("id")
        if isinstance(qid, str) and qid.strip():
            return qid
    return f"#{index + 1}"


def check_definition(
    data: object, file: str, strict: bool
) -> tuple[SurveyDefinition | None, list[Problem]]:
    """The survey in `data` (None when anything is wrong) and every problem found in it."""
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
    found = Found(file, [_question_label(q, i) for i, q in enumerate(questions_raw)])

    definition: SurveyDefinition | None = None
    try:
        definition = SurveyDefinition.model_validate(data)
    except ValidationError as exc:
        translate_errors(exc, data, found)

    for key in ("title", "intro", "thanks"):
        rendered = key != "title"
        check_texts(found, None, key, data.get(key), strict, MESSAGE_LIMIT, placeholders=rendered)

    parsed: list[Question | None] = []
    for index, raw in enumerate(questions_raw):
        parsed.append(_best_effort_question(raw))
        if isinstance(raw, dict):
            check_question_texts(found, index, raw, strict)

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


def _check_questions(
    found: Found, questions_raw: list[object], parsed: list[Question | None]
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


def _check_choices(found: Found, index: int, q: Question, raw: dict[Any, Any]) -> None:
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
    found: Found,
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
