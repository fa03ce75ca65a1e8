"""The one encoder/decoder pair for inline-button callback data (versioned, validated)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from surveys.schema import CALLBACK_DATA_LIMIT

# Every button carries "f1:<action>:<args>"; "f1" is the format version so a
# future change can still recognise (and politely retire) buttons sent today.
VERSION = "f1"
MAX_BYTES = CALLBACK_DATA_LIMIT


class Action(StrEnum):
    """What a button does; the value is its short code in callback data."""

    ANSWER = "a"  # session, question, value
    TOGGLE = "t"  # session, question, choice
    CONFIRM = "d"  # session, question (multi-choice Done)
    BACK = "b"  # session, question
    SKIP = "s"  # session, question
    CANCEL = "x"  # session
    RESUME = "r"  # session
    RESTART = "rs"  # session
    EVALUATE = "ev"  # subject id: an internal member picks a department
    MENU = "m"  # show the member menu
    SWITCH_INVITE = "si"  # invite token: leave the open survey for a new invite
    SWITCH_EVALUATE = "se"  # subject id: leave the open survey to evaluate this department
    LANG = "l"  # language code
    MUTE_PULSE = "mp"  # 1 to mute, 0 to unmute
    SETTINGS = "st"  # setting name, value


_ARITY = {
    Action.ANSWER: 3,
    Action.TOGGLE: 3,
    Action.CONFIRM: 2,
    Action.BACK: 2,
    Action.SKIP: 2,
    Action.CANCEL: 1,
    Action.RESUME: 1,
    Action.RESTART: 1,
    Action.EVALUATE: 1,
    Action.MENU: 0,
    Action.SWITCH_INVITE: 1,
    Action.SWITCH_EVALUATE: 1,
    Action.LANG: 1,
    Action.MUTE_PULSE: 1,
    Action.SETTINGS: 2,
}
_SESSION_ACTIONS = {
    Action.ANSWER,
    Action.TOGGLE,
    Action.CONFIRM,
    Action.BACK,
    Action.SKIP,
    Action.CANCEL,
    Action.RESUME,
    Action.RESTART,
}
_ARG = re.compile(r"^[A-Za-z0-9_\-.+/]{1,48}$")
# Ids are database keys: 1 .. 2^63-1 fits both SQLite's INTEGER and PostgreSQL's BIGINT,
# so a forged "9"*40 is refused here instead of overflowing in a query.
MAX_ID = 2**63 - 1
_ID = re.compile(r"^[1-9][0-9]{0,18}$")
_ID_ACTIONS = _SESSION_ACTIONS | {Action.EVALUATE, Action.SWITCH_EVALUATE}
_FLAGS = ("0", "1")
_ACTIONS = {action.value: action for action in Action}


class CallbackDataError(ValueError):
    """Callback data that feedbot did not produce (forged, truncated or from an old format).

    `kind` names the class of the problem for the WARNING line and the fuzz suite's
    per-class counts; the message never repeats the data itself.
    """

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


def parse_id(text: str) -> int:
    """A database id carried in callback data, range-checked; CallbackDataError otherwise."""
    if not _ID.match(text) or int(text) > MAX_ID:
        raise CallbackDataError("id is not a number in 1 .. 2^63-1", "id_out_of_range")
    return int(text)


@dataclass(frozen=True)
class Callback:
    """A decoded button press."""

    action: Action
    args: tuple[str, ...]

    @property
    def session_id(self) -> int:
        """The session a survey button belongs to."""
        if self.action not in _SESSION_ACTIONS:
            raise CallbackDataError(f"{self.action} carries no session")
        return parse_id(self.args[0])

    @property
    def question_id(self) -> str:
        """The question a survey button belongs to."""
        return self.args[1]

    @property
    def value(self) -> str:
        """The last argument: an answer value, a choice id, a code."""
        return self.args[-1]


@lru_cache(maxsize=4096)
def _allowed(part: str) -> bool:
    """Whether one argument has only the allowed characters and length (the same few
    question and choice ids come up in every keyboard, and in every press)."""
    return _ARG.match(part) is not None


def encode(action: Action, *args: object) -> str:
    """Callback data for a button; raises ValueError if it would not fit Telegram's 64 bytes."""
    parts = [str(a) for a in args]
    if len(parts) != _ARITY[action]:
        raise ValueError(f"{action.name} takes {_ARITY[action]} arguments, got {len(parts)}")
    for arg, part in zip(args, parts, strict=True):
        # An int's digits (and sign) are all allowed characters: only its length can fail.
        ok = len(part) <= 48 if isinstance(arg, int) else _allowed(part)
        if not ok:
            raise ValueError(f"callback argument {part!r} has characters or length not allowed")
    # Action is a StrEnum: joined as its code.
    data = ":".join([VERSION, action, *parts])
    # Every part is ASCII (checked above), so its length in bytes is its length.
    if len(data) > MAX_BYTES:
        raise ValueError(f"callback data {data!r} is longer than {MAX_BYTES} bytes")
    return data


def decode(data: str | None) -> Callback:
    """Parse callback data produced by `encode`; CallbackDataError for anything else.

    A press is decoded by the guard, by its route and by its handler: the result of the
    same data is kept (it depends on nothing else), each failure is found anew."""
    if not data:
        raise CallbackDataError("empty callback data", "empty")
    return _decode(data)


@lru_cache(maxsize=1024)
def _decode(data: str) -> Callback:
    try:
        size = len(data.encode("utf-8"))
    except UnicodeEncodeError:
        # Lone surrogates: not UTF-8, so not anything Telegram relays from a button.
        raise CallbackDataError("callback data is not valid UTF-8", "not_utf8") from None
    if size > MAX_BYTES:
        raise CallbackDataError("oversized callback data", "oversized")
    version, _, rest = data.partition(":")
    if version != VERSION:
        raise CallbackDataError("unknown callback format", "unknown_format")
    code, *args = rest.split(":")
    action = _ACTIONS.get(code)
    if action is None:
        raise CallbackDataError("unknown action", "unknown_action")
    if len(args) != _ARITY[action] or not all(_allowed(a) for a in args):
        raise CallbackDataError(f"malformed arguments for {action.name}")
    if action in _ID_ACTIONS:
        parse_id(args[0])
    if action is Action.MUTE_PULSE and args[0] not in _FLAGS:
        raise CallbackDataError("mute flag is not 0 or 1", "bad_value")
    return Callback(action, tuple(args))


def routes_to(*actions: Action) -> Callable[[object], bool]:
    """A button route's pattern (PTB's CallbackQueryHandler): data that decodes to one of
    `actions`. Data that decodes to none of them is another route's, or refused."""
    wanted = frozenset(actions)

    def matches(data: object) -> bool:
        if not isinstance(data, str):
            return False
        try:
            return decode(data).action in wanted
        except CallbackDataError:
            return False

    return matches
