"""User-facing text: one catalog per language (bot/locales/*.yaml) and the lookups `t`, `plain`.

Catalog texts are Telegram HTML that we wrote; whatever is put into them is not. `t`
therefore escapes every parameter, as Jinja's autoescape does, unless it is `Markup`
(markup we built ourselves, e.g. another `t` or `markup` result). Callers never escape.
"""

from __future__ import annotations

import html as _html
import re
import string
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from markupsafe import Markup, escape

LANGUAGES = ("pl", "en")
DEFAULT_LANGUAGE = "en"
_LOCALES = Path(__file__).parent / "locales"
_FORMATTER = string.Formatter()


def normalize_language(code: str | None) -> str:
    """Our language for a Telegram language code ("pl-PL" -> "pl"; anything else -> "en")."""
    if code and code.split("-")[0].lower() in LANGUAGES:
        return code.split("-")[0].lower()
    return DEFAULT_LANGUAGE


@cache
def catalog(lang: str) -> dict[str, str]:
    """Every text of one language, flattened to dotted keys ("error.out_of_range").

    A language's texts are `<lang>.yaml` plus any `<lang>.<part>.yaml` beside it
    (one part per feature area); a key defined twice is an error.
    """
    flat: dict[str, str] = {}
    files = [_LOCALES / f"{lang}.yaml", *sorted(_LOCALES.glob(f"{lang}.*.yaml"))]
    for path in files:
        with path.open(encoding="utf-8") as fh:
            tree = yaml.safe_load(fh) or {}
            keys = _flatten(tree)
            clash = set(keys) & set(flat)
            if clash:
                raise ValueError(f"{path.name}: keys defined twice: {sorted(clash)}")
            flat.update(keys)
    return flat


def _flatten(tree: Any) -> dict[str, str]:
    flat: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            flat[prefix] = str(node).rstrip("\n")

    walk("", tree)
    return flat


def t(lang: str, key: str, **params: object) -> Markup:
    """Telegram HTML for `key` in `lang` with {placeholders} filled, each parameter escaped
    unless it is `Markup`; KeyError for an unknown key."""
    text = catalog(normalize_language(lang))[key]
    if not params:
        return Markup(text)
    fields = _fields(text)
    if fields is None:
        return Markup(text).format(**params)
    # What Markup.format does for a plain {name}, without a string.Formatter per call
    # (questions and their progress line are rendered for every answer).
    return Markup(
        "".join([literal + _escaped(params[name]) if name else literal for literal, name in fields])
    )


@lru_cache(maxsize=1024)
def _fields(text: str) -> tuple[tuple[str, str], ...] | None:
    """(literal text, field name or "" after the last field) pairs of a catalog text; None
    if a field is anything but a plain {name} (a conversion, a format spec, an index:
    left to Markup.format)."""
    pairs: list[tuple[str, str]] = []
    for literal, name, spec, conversion in _FORMATTER.parse(text):
        if name is not None and (spec or conversion or not name.isidentifier()):
            return None
        pairs.append((literal, name or ""))
    return tuple(pairs)


def _escaped(value: object) -> str:
    """A parameter as markupsafe's EscapeFormatter renders it with no format spec."""
    if hasattr(value, "__html_format__"):
        rendered = value.__html_format__("")
    elif hasattr(value, "__html__"):
        rendered = value.__html__()
    else:
        rendered = format(value, "")
    return str(escape(rendered))


def plain(lang: str, key: str, **params: object) -> str:
    """The text for `key` as Telegram shows it where it reads no HTML: button labels,
    callback-query toasts, the command menu (parameters appear exactly as given)."""
    return visible(t(lang, key, **params))


def markup(template: str, *args: object, **kwargs: object) -> Markup:
    """Our own HTML snippet (`template`, trusted) with `{}` fields filled and escaped, as `t`."""
    return Markup(template).format(*args, **kwargs)


def join(separator: str, parts: Iterable[str]) -> Markup:
    """Parts joined into one HTML text; parts that are not `Markup` are escaped (what
    `Markup(separator).join(parts)` does, without copying the parts that are)."""
    return Markup(separator.join([p if type(p) is Markup else escape(p) for p in parts]))


_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^>]*)?>")


def visible(text: str) -> str:
    """Telegram HTML as the user reads it: tags dropped, character references decoded."""
    return _html.unescape(_TAG.sub("", text))
