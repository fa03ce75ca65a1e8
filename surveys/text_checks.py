"""Checks of a survey's per-language texts: translations, emptiness, length and placeholders."""

from __future__ import annotations

import re
from typing import Any

from surveys.problems import Found
from surveys.schema import BUTTON_TEXT_LIMIT, LANGS, MESSAGE_LIMIT

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_PLACEHOLDERS = frozenset({"subject"})
_TEMPLATE_TAG = re.compile(r"\{%|\{#")  # the bot renders texts with Jinja2


def check_texts(
    found: Found,
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


def check_question_texts(found: Found, index: int, raw: dict[Any, Any], strict: bool) -> None:
    check_texts(found, index, "text", raw.get("text"), strict, MESSAGE_LIMIT)
    for key in ("low_label", "high_label"):
        if raw.get(key) is not None:
            check_texts(found, index, key, raw.get(key), strict, MESSAGE_LIMIT, placeholders=False)
    choices = raw.get("choices")
    if isinstance(choices, list):
        for number, choice in enumerate(choices, start=1):
            if isinstance(choice, dict):
                choice_id = choice.get("id")
                name = f"choice '{choice_id}'" if isinstance(choice_id, str) else f"choice {number}"
                check_texts(
                    found,
                    index,
                    f"{name} text",
                    choice.get("text"),
                    strict,
                    MESSAGE_LIMIT,
                    button=True,
                    placeholders=False,
                )
