"""Telegram Mini App `initData`: checked exactly as Telegram documents it, before anything is read.

secret_key = HMAC_SHA256(key="WebAppData", msg=bot_token); the data-check-string is every
received field but `hash`, as `key=value` sorted by key and joined with newlines; the
data is genuine when HMAC_SHA256(key=secret_key, msg=data_check_string) in hex equals
`hash`. Data signed with another bot's token fails the same comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

MAX_AGE = timedelta(days=1)
MAX_LENGTH = 8192


class InitDataError(Exception):
    """initData that must not sign anyone in (the message says why, for logs only)."""


@dataclass(frozen=True, slots=True)
class WebAppUser:
    """Who opened the Mini App, as Telegram signed it."""

    id: int
    language_code: str | None
    auth_date: datetime


def secret_key(bot_token: str) -> bytes:
    """The key initData is signed with: HMAC-SHA256 of the bot token keyed by "WebAppData"."""
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def data_check_string(fields: dict[str, str]) -> str:
    """Every field but `hash`, sorted by key, as `key=value` lines."""
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")


def sign(fields: dict[str, str], bot_token: str) -> str:
    """The `hash` Telegram would send with these fields (also what tests sign with)."""
    message = data_check_string(fields).encode()
    return hmac.new(secret_key(bot_token), message, hashlib.sha256).hexdigest()


def verify(
    init_data: str, bot_token: str, *, now: datetime, max_age: timedelta = MAX_AGE
) -> WebAppUser:
    """The signed user of `init_data` (the query string Telegram hands the Mini App), or
    InitDataError: malformed, a bad hash (forged, or signed for another bot), too old,
    or dated in the future beyond a minute of clock skew."""
    if not init_data or len(init_data) > MAX_LENGTH:
        raise InitDataError("missing or oversized initData")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InitDataError("malformed initData") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataError("a field given twice")
    received = fields.get("hash", "")
    expected = sign(fields, bot_token)
    if not hmac.compare_digest(received.encode(), expected.encode()):
        raise InitDataError("bad hash")
    try:
        auth_date = datetime.fromtimestamp(int(fields["auth_date"]), UTC)
        user = json.loads(fields["user"])
        user_id = int(user["id"])
    except (KeyError, ValueError, TypeError, OverflowError):
        raise InitDataError("no auth_date or user") from None
    if now - auth_date > max_age:
        raise InitDataError("auth_date too old")
    if auth_date - now > timedelta(minutes=1):
        raise InitDataError("auth_date in the future")
    lang = user.get("language_code")
    return WebAppUser(user_id, lang if isinstance(lang, str) else None, auth_date)
