"""Pydantic's validation errors on a survey file, told in words that name the question and field."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from surveys.problems import Found
from surveys.schema import (
    Audience,
    Choice,
    Condition,
    Period,
    Question,
    QuestionType,
    SurveyDefinition,
)

_TEXT_FIELDS = frozenset({"title", "intro", "thanks", "text", "low_label", "high_label"})
_UNION_TAGS = frozenset({"int", "bool", "str", "float", "none"})

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


def translate_errors(exc: ValidationError, data: dict[Any, Any], found: Found) -> None:
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
