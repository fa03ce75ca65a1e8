"""Telegram's server-side text parsing (HTML, MarkdownV2, Markdown) for the fake Bot API."""

from __future__ import annotations

from typing import Any

JSONDict = dict[str, Any]

# Telegram trims these from both ends of every message text and caption.
_TRIMMED = " \t\r\n\x0b\x0c"
_TAG_SPACES = frozenset(" \t\r\n\x0b\x0c")
_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_HTML_ENTITIES = {
    "i": "italic",
    "em": "italic",
    "b": "bold",
    "strong": "bold",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_CHARS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
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


class EntityParseError(ValueError):
    """Unparsable text; the message is Telegram's wording after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def parse_text(
    text: str, parse_mode: str | None, entities: list[JSONDict] | None = None
) -> tuple[str, list[JSONDict]]:
    """Turn what a bot sent into what the user sees: plain text plus entities, trimmed."""
    if entities:
        plain, found = text, [dict(entity) for entity in entities]
    elif parse_mode is None or parse_mode == "":
        plain, found = text, []
    else:
        mode = parse_mode.lower()
        if mode == "html":
            plain, found = parse_html(text)
        elif mode == "markdownv2":
            plain, found = parse_markdown_v2(text)
        elif mode == "markdown":
            plain, found = parse_markdown(text)
        else:
            raise ValueError(f"unsupported parse_mode {parse_mode!r}")
    return _trim(plain, found)


def _trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    stripped = text.strip(_TRIMMED)
    if stripped == text:
        entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIMMED))])
    total = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    kept.sort(key=lambda e: (e["offset"], -e["length"]))
    return stripped, kept


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_char_reference(text: str, pos: int) -> tuple[str, int] | None:
    """Decode `&lt;`, `&#60;` or `&#x3c;` at pos like Telegram: unknown names stay literal."""
    end = pos + 1
    size = len(text)
    if end < size and text[end] == "#":
        end += 1
        hexadecimal = end < size and text[end] == "x"
        if hexadecimal:
            end += 1
        digits_start = end
        allowed = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        while end < size and text[end] in allowed:
            end += 1
        digits = text[digits_start:end]
        code = int(digits, 16 if hexadecimal else 10) if digits else 0
        if code == 0 or code >= 0x10FFFF or end - pos >= 10 or 0xD800 <= code <= 0xDFFF:
            return None
        char = chr(code)
    else:
        while end < size and text[end].isascii() and text[end].isalpha():
            end += 1
        named = _NAMED_CHARS.get(text[pos + 1 : end])
        if named is None:
            return None
        char = named
    if end < size and text[end] == ";":
        end += 1
    return char, end


def link_target(url: str) -> str | None:
    """Telegram keeps only links it can open; a bare domain gets an http:// prefix."""
    url = url.strip()
    if not url or " " in url:
        return None
    lowered = url.lower()
    if lowered.startswith(("http://", "https://", "tg://", "ton://")):
        return url
    host = url.split("/", 1)[0]
    if "." in host and not host.startswith(".") and not host.endswith("."):
        return "http://" + url
    return None


def parse_html(text: str) -> tuple[str, list[JSONDict]]:
    """Parse parse_mode=HTML the way Telegram does (tdlib's parse_html), errors included."""
    out: list[str] = []
    entities: list[JSONDict] = []
    # (tag, argument, utf-16 offset where the tag opened, len(out) at that point)
    open_tags: list[tuple[str, str, int, int]] = []
    offset = 0
    size = len(text)
    i = 0
    while i < size:
        char = text[i]
        if char == "&":
            decoded = _decode_char_reference(text, i)
            if decoded is not None:
                out.append(decoded[0])
                offset += utf16_len(decoded[0])
                i = decoded[1]
                continue
        if char != "<":
            out.append(char)
            offset += 2 if ord(char) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        i += 1
        if i >= size or text[i] != "/":
            i = _parse_start_tag(text, begin, open_tags, offset, len(out))
        else:
            i = _parse_end_tag(text, begin, open_tags, offset, out, entities)
        i += 1
    if open_tags:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{open_tags[-1][0]}"'
        )
    return "".join(out), entities


def _parse_start_tag(
    text: str, begin: int, open_tags: list[tuple[str, str, int, int]], offset: int, out_len: int
) -> int:
    """Read `<tag attr=...>` starting at begin, push it, return the index of its `>`."""
    size = len(text)
    i = begin + 1
    while i < size and text[i] not in _TAG_SPACES and text[i] != ">":
        i += 1
    if i >= size:
        raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
    tag = text[begin + 1 : i].lower()
    if tag not in _HTML_TAGS:
        raise EntityParseError(
            f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
        )
    argument = ""
    while i < size and text[i] != ">":
        while i < size and text[i] in _TAG_SPACES:
            i += 1
        if i < size and text[i] == ">":
            break
        name_start = i
        while i < size and text[i] not in _TAG_SPACES and text[i] not in "=>":
            i += 1
        name = text[name_start:i]
        if not name:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        while i < size and text[i] in _TAG_SPACES:
            i += 1
        if tag == "blockquote" and name.lower() == "expandable" and text[i : i + 1] != "=":
            argument = "expandable"
            continue
        if i >= size or text[i] != "=":
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                f"at byte offset {_byte_offset(text, begin)}"
            )
        i += 1
        while i < size and text[i] in _TAG_SPACES:
            i += 1
        if i >= size:
            raise EntityParseError(
                f'Unclosed start tag "{tag}" at byte offset {_byte_offset(text, begin)}'
            )
        value, i = _read_attribute_value(text, i)
        if i >= size:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if tag == "a" and name == "href":
            argument = value
        elif tag == "code" and name == "class" and value.startswith("language-"):
            argument = value.removeprefix("language-")
        elif tag == "span" and name == "class" and value.startswith("tg-"):
            argument = value.removeprefix("tg-")
        elif tag == "tg-emoji" and name == "emoji-id":
            argument = value
        elif tag == "blockquote" and name == "expandable":
            argument = "expandable"
    if tag == "span" and argument != "spoiler":
        raise EntityParseError(
            f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}'
        )
    open_tags.append((tag, argument, offset, out_len))
    return i


def _read_attribute_value(text: str, i: int) -> tuple[str, int]:
    size = len(text)
    quote = text[i]
    if quote not in "'\"":
        start = i
        while i < size and (text[i].isascii() and (text[i].isalnum() or text[i] in ".-")):
            i += 1
        if i < size and text[i] not in _TAG_SPACES and text[i] != ">":
            raise EntityParseError(
                f"Unexpected end of name token at byte offset {_byte_offset(text, start)}"
            )
        return text[start:i].lower(), i
    i += 1
    value: list[str] = []
    while i < size and text[i] != quote:
        if text[i] == "&":
            decoded = _decode_char_reference(text, i)
            if decoded is not None:
                value.append(decoded[0])
                i = decoded[1]
                continue
        value.append(text[i])
        i += 1
    if i < size:
        i += 1
    return "".join(value), i


def _parse_end_tag(
    text: str,
    begin: int,
    open_tags: list[tuple[str, str, int, int]],
    offset: int,
    out: list[str],
    entities: list[JSONDict],
) -> int:
    """Read `</tag>` starting at begin, close the innermost tag, return the index of its `>`."""
    if not open_tags:
        raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
    size = len(text)
    i = begin + 2
    while i < size and text[i] not in _TAG_SPACES and text[i] != ">":
        i += 1
    name = text[begin + 2 : i].lower()
    while i < size and text[i] in _TAG_SPACES:
        i += 1
    if i >= size or text[i] != ">":
        raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
    tag, argument, start, out_start = open_tags.pop()
    # Telegram accepts the anonymous `</>` as "close whatever is open".
    if name and name != tag:
        raise EntityParseError(
            f"Unmatched end tag at byte offset {_byte_offset(text, begin)}, "
            f'expected "</{tag}>", found "</{name}>"'
        )
    length = offset - start
    if length <= 0:
        return i
    entity: JSONDict = {"type": "", "offset": start, "length": length}
    if tag in _SIMPLE_HTML_ENTITIES:
        entity["type"] = _SIMPLE_HTML_ENTITIES[tag]
    elif tag == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=argument)
    elif tag == "blockquote":
        entity["type"] = "expandable_blockquote" if argument else "blockquote"
    elif tag == "a":
        url = link_target(argument or "".join(out[out_start:]))
        if url is None:
            return i
        entity.update(type="text_link", url=url)
    elif tag in ("pre", "code"):
        _close_code_block(tag, argument, entity, entities)
        return i
    entities.append(entity)
    return i


def _close_code_block(tag: str, argument: str, entity: JSONDict, entities: list[JSONDict]) -> None:
    """`<pre><code class="language-x">` collapses into one pre entity with a language."""
    previous = entities[-1] if entities else None
    same_span = (
        previous is not None
        and previous["offset"] == entity["offset"]
        and previous["length"] == entity["length"]
    )
    if previous is not None and same_span:
        if tag == "pre" and previous["type"] == "code" and previous.get("language"):
            entities[-1] = {**entity, "type": "pre", "language": previous["language"]}
            return
        if tag == "code" and previous["type"] == "pre" and argument:
            entities[-1] = {**entity, "type": "pre", "language": argument}
            return
    if tag == "pre":
        entity["type"] = "pre"
    else:
        entity["type"] = "code"
    if argument:
        entity["language"] = argument
    entities.append(entity)


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
            f"Can't find end of {name} entity at byte offset {_byte_offset(text, begin)}"
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
        raise EntityParseError(
            f"Can't find end of a URL at byte offset {_byte_offset(text, begin)}"
        )
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
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
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
                        f"Can't find end of a URL at byte offset {_byte_offset(text, i + 1)}"
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
