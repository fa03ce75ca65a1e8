"""Telegram's MarkdownV2 and legacy Markdown parsers (after tdlib), errors included."""

from __future__ import annotations

from typing import Any

from .entities import EntityParseError, byte_offset, link_target, utf16_len

JSONDict = dict[str, Any]

_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_TYPE_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "code": "Code",
    "pre": "Pre",
}


def parse_markdown_v2(text: str) -> tuple[str, list[JSONDict]]:
    """Parse parse_mode=MarkdownV2 like Telegram, including its reserved-character errors."""
    out: list[str] = []
    entities: list[JSONDict] = []
    # (entity type, utf-16 offset, index in text where it opened, len(out), pre language)
    nested: list[tuple[str, int, int, int, str]] = []
    offset = 0
    quote_start: int | None = None
    size = len(text)
    i = 0
    while i < size:
        char = text[i]
        nxt = text[i + 1] if i + 1 < size else ""
        if char == "\\" and nxt and ord(nxt) <= 126:
            out.append(nxt)
            offset += 1
            i += 2
            continue
        in_code = bool(nested) and nested[-1][0] in ("code", "pre")
        if in_code and char != "`":
            out.append(char)
            offset += 2 if ord(char) > 0xFFFF else 1
            i += 1
            continue
        if char == ">" and not nested and (i == 0 or text[i - 1] == "\n"):
            # A quote runs over consecutive lines that start with ">".
            if quote_start is None:
                quote_start = offset
            i += 1
            continue
        if char == "\n" and quote_start is not None and not text.startswith(">", i + 1):
            if offset > quote_start:
                entities.append(
                    {"type": "blockquote", "offset": quote_start, "length": offset - quote_start}
                )
            quote_start = None
        if char not in _MD2_RESERVED:
            out.append(char)
            offset += 2 if ord(char) > 0xFFFF else 1
            i += 1
            continue
        if nested and _md2_closes(nested[-1][0], text, i):
            i = _md2_close(text, i, nested.pop(), offset, out, entities)
            continue
        i = _md2_open(text, i, nested, offset, len(out))
    if nested:
        kind, _, begin, _, language = nested[-1]
        name = "PreCode" if kind == "pre" and language else _MD2_TYPE_NAMES[kind]
        raise EntityParseError(
            f"Can't find end of {name} entity at byte offset {byte_offset(text, begin)}"
        )
    if quote_start is not None and offset > quote_start:
        entities.append(
            {"type": "blockquote", "offset": quote_start, "length": offset - quote_start}
        )
    return "".join(out), entities


def _md2_closes(kind: str, text: str, i: int) -> bool:
    char = text[i]
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if kind == "bold":
        return char == "*"
    if kind == "italic":
        return char == "_" and nxt != "_"
    if kind == "underline":
        return char == "_" and nxt == "_"
    if kind == "strikethrough":
        return char == "~"
    if kind == "spoiler":
        return char == "|" and nxt == "|"
    if kind == "code":
        return char == "`"
    if kind == "pre":
        return text.startswith("```", i)
    return kind == "text_link" and char == "]"


def _md2_open(
    text: str, i: int, nested: list[tuple[str, int, int, int, str]], offset: int, out_len: int
) -> int:
    """Open the entity whose marker is at i; return the index just past the marker."""
    char = text[i]
    nxt = text[i + 1] if i + 1 < len(text) else ""
    language = ""
    if char == "_" and nxt == "_":
        kind, end = "underline", i + 2
    elif char == "|" and nxt == "|":
        kind, end = "spoiler", i + 2
    elif char in "_*~[":
        kind = {"_": "italic", "*": "bold", "~": "strikethrough", "[": "text_link"}[char]
        end = i + 1
    elif char == "`" and text.startswith("```", i):
        kind, end = "pre", i + 3
        language_end = end
        while language_end < len(text) and text[language_end] not in " \t\r\n`":
            language_end += 1
        if language_end != end and language_end < len(text) and text[language_end] != "`":
            language = text[end:language_end]
            end = language_end
        if text.startswith(("\r\n", "\n\r"), end):
            end += 2
        elif text.startswith(("\n", "\r"), end):
            end += 1
    elif char == "`":
        kind, end = "code", i + 1
    else:
        raise EntityParseError(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )
    nested.append((kind, offset, i, out_len, language))
    return end


def _md2_close(
    text: str,
    i: int,
    opened: tuple[str, int, int, int, str],
    offset: int,
    out: list[str],
    entities: list[JSONDict],
) -> int:
    """Close the entity whose end marker is at i; return the index just past it."""
    kind, start, _, out_start, language = opened
    end = i + {"underline": 2, "spoiler": 2, "pre": 3}.get(kind, 1)
    entity: JSONDict = {"type": kind, "offset": start, "length": offset - start}
    if kind == "text_link":
        url, end = _md2_link_target(text, end, "".join(out[out_start:]))
        link = link_target(url)
        if link is None:
            return end
        entity["url"] = link
    if kind == "pre" and language:
        entity["language"] = language
    if entity["length"] > 0:
        entities.append(entity)
    return end


def _md2_link_target(text: str, i: int, label: str) -> tuple[str, int]:
    """Read `(url)` after `]`; without one the label itself is the link."""
    if i >= len(text) or text[i] != "(":
        return label, i
    begin = i + 1
    i = begin
    url: list[str] = []
    while i < len(text) and text[i] != ")":
        if text[i] == "\\" and i + 1 < len(text) and ord(text[i + 1]) <= 126:
            url.append(text[i + 1])
            i += 2
            continue
        url.append(text[i])
        i += 1
    if i >= len(text):
        raise EntityParseError(f"Can't find end of a URL at byte offset {byte_offset(text, begin)}")
    return "".join(url), i + 1


def parse_markdown(text: str) -> tuple[str, list[JSONDict]]:
    """Parse the legacy parse_mode=Markdown: no nesting, only `_*`[` can be escaped."""
    out: list[str] = []
    entities: list[JSONDict] = []
    offset = 0
    size = len(text)
    i = 0
    while i < size:
        char = text[i]
        if char == "\\" and i + 1 < size and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            offset += 1
            i += 2
            continue
        if char not in "_*`[":
            out.append(char)
            offset += 2 if ord(char) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        is_pre = text.startswith("```", i)
        i += 3 if is_pre else 1
        language = ""
        if is_pre:
            language_end = i
            while language_end < size and text[language_end] not in " \t\r\n`":
                language_end += 1
            if language_end != i and language_end < size and text[language_end] != "`":
                language, i = text[i:language_end], language_end
            if text.startswith(("\r\n", "\n\r"), i):
                i += 2
            elif text.startswith(("\n", "\r"), i):
                i += 1
        closing = "```" if is_pre else ("]" if char == "[" else char)
        end = text.find(closing, i)
        if end < 0:
            raise EntityParseError(
                f"Can't find end of the entity starting at byte offset {byte_offset(text, begin)}"
            )
        inner = text[i:end]
        start = offset
        out.append(inner)
        offset += utf16_len(inner)
        i = end + len(closing)
        entity: JSONDict = {"type": "", "offset": start, "length": offset - start}
        if char == "[":
            url = inner
            if text.startswith("(", i):
                close = text.find(")", i + 1)
                if close < 0:
                    raise EntityParseError(
                        f"Can't find end of a URL at byte offset {byte_offset(text, i + 1)}"
                    )
                url, i = text[i + 1 : close], close + 1
            link = link_target(url)
            if link is None:
                continue
            entity.update(type="text_link", url=link)
        elif is_pre:
            entity["type"] = "pre"
            if language:
                entity["language"] = language
        else:
            entity["type"] = {"_": "italic", "*": "bold", "`": "code"}[char]
        if entity["length"] > 0:
            entities.append(entity)
    return "".join(out), entities
