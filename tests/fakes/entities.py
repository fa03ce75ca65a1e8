"""What Telegram's text parsers share: their error, UTF-16 offsets and link checking."""

from __future__ import annotations


class EntityParseError(ValueError):
    """Unparsable text; the message is Telegram's wording after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def byte_offset(text: str, index: int) -> int:
    """The UTF-8 byte offset of text[index], as Telegram's error messages count."""
    return len(text[:index].encode("utf-8"))


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
