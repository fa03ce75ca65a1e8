"""What Telegram checks and derives from a message a bot sends: text, keyboard, image."""

from __future__ import annotations

from .entities import EntityParseError, link_target, utf16_len
from .html_parser import parse_html
from .records import ApiError, JSONDict

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
# Telegram trims these from both ends of every message text and caption.
_TRIMMED = " \t\r\n\x0b\x0c"
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "callback_game",
    "pay",
    "web_app",
    "copy_text",
)
_TEXT_BUTTON = (
    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
)


def formatted_text(
    params: JSONDict, key: str, entities_key: str, limit: int
) -> tuple[str, list[JSONDict]]:
    """The text (or caption) under key as the user will see it, or Telegram's 400."""
    raw = params.get(key)
    if raw is None:
        return "", []
    try:
        text, entities = parse_text(str(raw), params.get("parse_mode"), params.get(entities_key))
    except EntityParseError as error:
        raise ApiError.bad_request(f"can't parse entities: {error}") from None
    except ValueError:
        raise ApiError.bad_request("unsupported parse_mode") from None
    if len(text) > limit:
        raise ApiError.bad_request(
            "message is too long" if key == "text" else "message caption is too long"
        )
    return text, entities


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
        else:  # the bot sends HTML only: Markdown would be a regression to catch
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


def reply_markup(value: object) -> tuple[JSONDict | None, JSONDict | None]:
    """Split markup into (inline keyboard, other keyboard), validating like Telegram."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise ApiError.bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in value:
        count = _check_inline_keyboard(value["inline_keyboard"])
        # An empty inline keyboard is no keyboard at all.
        return (value if count else None), None
    if any(key in value for key in ("keyboard", "remove_keyboard", "force_reply")):
        return None, value
    raise ApiError.bad_request("can't parse reply keyboard markup JSON object")


def inline_markup(value: object) -> JSONDict | None:
    """The inline keyboard of an edit (None removes it); other keyboards are refused."""
    inline, other = reply_markup(value)
    if other is not None:
        raise ApiError.bad_request("inline keyboard expected")
    return inline


def _check_inline_keyboard(rows: object) -> int:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError.bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    count = 0
    for row in rows:
        for button in row:
            count += 1
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise ApiError.bad_request("can't parse inline keyboard button")
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                    raise ApiError.bad_request("BUTTON_DATA_INVALID")
            elif "url" in button:
                if link_target(str(button["url"])) is None:
                    raise ApiError.bad_request("BUTTON_URL_INVALID")
            elif not any(key in button for key in _BUTTON_ACTIONS):
                raise ApiError.bad_request(_TEXT_BUTTON)
    if count > 100:
        raise ApiError.bad_request("reply markup is too long")
    return count


def image_size(content: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG or GIF, (0, 0) for WebP; None if not an image."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    if content.startswith(b"GIF8") and len(content) >= 10:
        return int.from_bytes(content[6:8], "little"), int.from_bytes(content[8:10], "little")
    if content.startswith(b"RIFF") and content[8:12] == b"WEBP":
        return 0, 0
    if content.startswith(b"\xff\xd8"):
        return _jpeg_size(content)
    return None


def _jpeg_size(content: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 <= len(content) and content[i] == 0xFF:
        marker = content[i + 1]
        # Start-of-frame markers carry the dimensions; C4, C8 and CC are other segments.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(content[i + 5 : i + 7], "big")
            width = int.from_bytes(content[i + 7 : i + 9], "big")
            return width, height
        i += 2 + int.from_bytes(content[i + 2 : i + 4], "big")
    return None
