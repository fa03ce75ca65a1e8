"""Plain records the fake Bot API keeps and hands to tests: errors, calls, files, bot messages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

JSONDict = dict[str, Any]

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Telegram error response: raise it from a method handler or queue it with fail_next."""

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def to_json(self) -> JSONDict:
        """The response body Telegram sends for this error."""
        body: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body

    @classmethod
    def bad_request(cls, reason: str) -> ApiError:
        """400, e.g. bad_request("chat not found")."""
        return cls(400, f"Bad Request: {reason}")

    @classmethod
    def flood(cls, retry_after: float = 1) -> ApiError:
        """429 flood control; PTB raises RetryAfter (a fraction of a second keeps tests
        quick: Telegram sends whole seconds, PTB takes either)."""
        return cls(
            429, f"Too Many Requests: retry after {retry_after:g}", {"retry_after": retry_after}
        )

    @classmethod
    def blocked(cls) -> ApiError:
        """403 for a user who blocked the bot; PTB raises Forbidden."""
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def not_modified(cls) -> ApiError:
        """400 for an edit that changes nothing."""
        return cls(400, NOT_MODIFIED)

    @classmethod
    def server_error(cls) -> ApiError:
        """502 as during Telegram outages; PTB raises NetworkError."""
        return cls(502, "Bad Gateway")


class ConnectionDropped(Exception):
    """A simulated timeout: the transport answers nothing (the in-process one raises
    PTB's TimedOut, the HTTP one closes the connection). `applied`: whether the call
    took effect before the answer was lost."""

    def __init__(self, method: str, applied: bool) -> None:
        super().__init__(f"{method}: connection dropped ({'applied' if applied else 'lost'})")
        self.method = method
        self.applied = applied


class Fault(NamedTuple):
    """A fault the fault mode injected: 429, 502, or a timeout (applied or not)."""

    method: str
    kind: str  # "429", "502", "timeout"
    applied: bool
    params: JSONDict


class Call(NamedTuple):
    """One Bot API request as the fake received it; uploads appear as Upload values."""

    method: str
    params: JSONDict


class Failure(NamedTuple):
    """A request the fake answered with an error (simulated or from validation)."""

    method: str
    params: JSONDict
    error_code: int
    description: str


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class SentFile:
    """A document or photo the bot sent: uploaded bytes, or a URL Telegram would fetch."""

    file_id: str
    file_unique_id: str
    file_name: str | None
    mime_type: str | None
    content: bytes | None = None
    url: str | None = None
    width: int = 0
    height: int = 0

    @property
    def size(self) -> int:
        return len(self.content) if self.content is not None else 0


class Button(NamedTuple):
    """An inline button: its label and its callback_data (or URL for a link button)."""

    text: str
    data: str


class Revision(NamedTuple):
    """One version of a bot message; BotMessage.history holds them oldest first."""

    text: str
    caption: str
    reply_markup: JSONDict | None
    date: int


@dataclass(eq=False)
class BotMessage:
    """A message the bot sent, as the user sees it now (edits applied, see history).

    text and caption are plain text after parse_mode, "" when absent (media messages
    have a caption, others a text); reply_markup holds only an inline keyboard.
    """

    chat: JSONDict
    sender: JSONDict
    message_id: int
    date: int
    text: str = ""
    entities: list[JSONDict] = field(default_factory=list)
    caption: str = ""
    caption_entities: list[JSONDict] = field(default_factory=list)
    parse_mode: str | None = None
    reply_markup: JSONDict | None = None
    reply_keyboard: JSONDict | None = None
    document: SentFile | None = None
    photo: SentFile | None = None
    reply_to: JSONDict | None = None
    edit_date: int | None = None
    deleted: bool = False
    history: list[Revision] = field(default_factory=list)

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def is_media(self) -> bool:
        """A document or photo: it has a caption, never a text."""
        return self.document is not None or self.photo is not None

    @property
    def edited(self) -> bool:
        return self.edit_date is not None

    @property
    def buttons(self) -> list[list[Button]]:
        """Inline keyboard rows; empty when the message has no inline keyboard."""
        if self.reply_markup is None:
            return []
        return [
            [Button(b["text"], str(b.get("callback_data", b.get("url", "")))) for b in row]
            for row in self.reply_markup["inline_keyboard"]
        ]

    @property
    def button_texts(self) -> list[str]:
        return [button.text for row in self.buttons for button in row]

    def find_button(self, text_or_data: str) -> Button | None:
        """The first button labelled text_or_data, else the first carrying it as data."""
        raw = self.raw_button(text_or_data)
        if raw is None:
            return None
        return Button(raw["text"], str(raw.get("callback_data", raw.get("url", ""))))

    def raw_button(self, text_or_data: str) -> JSONDict | None:
        """Like find_button, but the InlineKeyboardButton object as sent."""
        if self.reply_markup is None:
            return None
        flat: list[JSONDict] = [b for row in self.reply_markup["inline_keyboard"] for b in row]
        for button in flat:
            if button["text"] == text_or_data:
                return button
        for button in flat:
            if text_or_data in (button.get("callback_data"), button.get("url")):
                return button
        return None

    def revise(self, date: int) -> None:
        """Mark an edit: the caller has already applied the new content."""
        self.edit_date = date
        self.history.append(Revision(self.text, self.caption, self.reply_markup, date))

    def to_json(self, *, with_reply: bool = True) -> JSONDict:
        """The Message object Telegram returns for this message."""
        body: JSONDict = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if not self.is_media:
            body["text"] = self.text
            if self.entities:
                body["entities"] = self.entities
        if self.document is not None:
            body["document"] = _document_json(self.document)
        if self.photo is not None:
            body["photo"] = [_photo_size_json(self.photo)]
        if self.caption:
            body["caption"] = self.caption
            if self.caption_entities:
                body["caption_entities"] = self.caption_entities
        if self.reply_markup is not None:
            body["reply_markup"] = self.reply_markup
        if self.edit_date is not None:
            body["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None:
            body["reply_to_message"] = self.reply_to
        return body

    def describe(self) -> str:
        """One line for failure messages: text and buttons."""
        content = f"[{self._media()}] {self.caption}" if self.is_media else self.text
        rows = " / ".join(" | ".join(f"{b.text}={b.data}" for b in row) for row in self.buttons)
        return f"#{self.message_id} {content!r}" + (f" [{rows}]" if rows else "")

    def _media(self) -> str:
        if self.document is not None:
            return f"document {self.document.file_name}"
        return "photo" if self.photo is not None else "message"


@dataclass(eq=False)
class ChatState:
    """One chat: its Chat object, its message id counter and its messages by id."""

    chat: JSONDict
    next_message_id: int = 1
    bot_messages: dict[int, BotMessage] = field(default_factory=dict)
    user_messages: dict[int, JSONDict] = field(default_factory=dict)

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


def _document_json(sent: SentFile) -> JSONDict:
    body: JSONDict = {"file_id": sent.file_id, "file_unique_id": sent.file_unique_id}
    if sent.file_name is not None:
        body["file_name"] = sent.file_name
    if sent.mime_type is not None:
        body["mime_type"] = sent.mime_type
    if sent.content is not None:
        body["file_size"] = sent.size
    return body


def _photo_size_json(sent: SentFile) -> JSONDict:
    return {
        "file_id": sent.file_id,
        "file_unique_id": sent.file_unique_id,
        "width": sent.width,
        "height": sent.height,
        "file_size": sent.size,
    }


# Over HTTP every value arrives as a string; Telegram reads them by the parameter's type.
_INT_PARAMS = frozenset(
    {
        "message_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "reply_to_message_id",
        "message_thread_id",
        "user_id",
        "from_chat_id",
        "duration",
        "width",
        "height",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "show_alert",
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "has_spoiler",
        "disable_content_type_detection",
        "show_caption_above_media",
    }
)
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "scope",
        "allowed_updates",
        "commands",
        "entities",
        "caption_entities",
        "reply_parameters",
        "link_preview_options",
        "media",
        "message_ids",
    }
)


def normalize_params(raw: Mapping[str, object], files: Mapping[str, Upload] | None) -> JSONDict:
    """Decode request parameters the way Telegram does, whatever the transport sent."""
    params: JSONDict = {}
    for key, value in raw.items():
        _require_utf8(value)
        if isinstance(value, str):
            if key == "chat_id":
                value = _chat_id(value)
            elif key in _INT_PARAMS:
                value = _integer(key, value)
            elif key in _BOOL_PARAMS:
                value = value.lower() in ("true", "1")
            elif key in _JSON_PARAMS:
                value = _json_value(key, value)
        elif isinstance(value, float) and key in _INT_PARAMS:
            value = int(value)
        params[key] = value
    if files:
        for name, upload in files.items():
            params.setdefault(name, upload)
    return params


def _require_utf8(value: object) -> None:
    """Telegram refuses text with lone surrogates (not encodable as UTF-8), as a bot
    that echoes unchecked input would send it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError.bad_request("strings must be encoded in UTF-8") from None
    elif isinstance(value, dict):
        for item in value.values():
            _require_utf8(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _require_utf8(item)


def _chat_id(value: str) -> int | str:
    stripped = value.strip()
    if stripped.lstrip("-").isdigit():
        return int(stripped)
    return stripped


def _integer(key: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ApiError.bad_request(f"invalid {key} specified") from None


def _json_value(key: str, value: str) -> object:
    try:
        return json.loads(value)
    except ValueError:
        if key == "reply_markup":
            raise ApiError.bad_request("can't parse reply keyboard markup JSON object") from None
        raise ApiError.bad_request(f"can't parse {key} JSON object") from None
