"""Telegram's parse_mode=HTML parser (after tdlib's parse_html), errors included."""

from __future__ import annotations

from typing import Any

from .entities import EntityParseError, byte_offset, link_target, utf16_len

JSONDict = dict[str, Any]

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
        raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(text, begin)}")
    tag = text[begin + 1 : i].lower()
    if tag not in _HTML_TAGS:
        raise EntityParseError(
            f'Unsupported start tag "{tag}" at byte offset {byte_offset(text, begin)}'
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
                f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(text, begin)}'
            )
        while i < size and text[i] in _TAG_SPACES:
            i += 1
        if tag == "blockquote" and name.lower() == "expandable" and text[i : i + 1] != "=":
            argument = "expandable"
            continue
        if i >= size or text[i] != "=":
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                f"at byte offset {byte_offset(text, begin)}"
            )
        i += 1
        while i < size and text[i] in _TAG_SPACES:
            i += 1
        if i >= size:
            raise EntityParseError(
                f'Unclosed start tag "{tag}" at byte offset {byte_offset(text, begin)}'
            )
        value, i = _read_attribute_value(text, i)
        if i >= size:
            raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(text, begin)}")
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
            f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(text, begin)}'
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
                f"Unexpected end of name token at byte offset {byte_offset(text, start)}"
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
        raise EntityParseError(f"Unexpected end tag at byte offset {byte_offset(text, begin)}")
    size = len(text)
    i = begin + 2
    while i < size and text[i] not in _TAG_SPACES and text[i] != ">":
        i += 1
    name = text[begin + 2 : i].lower()
    while i < size and text[i] in _TAG_SPACES:
        i += 1
    if i >= size or text[i] != ">":
        raise EntityParseError(f"Unclosed end tag at byte offset {byte_offset(text, begin)}")
    tag, argument, start, out_start = open_tags.pop()
    # Telegram accepts the anonymous `</>` as "close whatever is open".
    if name and name != tag:
        raise EntityParseError(
            f"Unmatched end tag at byte offset {byte_offset(text, begin)}, "
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
