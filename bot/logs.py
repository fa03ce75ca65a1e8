"""Logging set-up: one stderr handler whose filter keeps secrets and survey data out of every line.

What python-telegram-bot 22.8 and httpx log at DEBUG, and what the filter does:

- `Bot` logs its base URL ("Set Bot API URL: .../bot<token>") and httpx logs every request
  line ("HTTP Request: POST .../bot<token>/sendMessage"): the token, and its URL-encoded
  form, is replaced by `[token]` in the message, its arguments, exception text and stacks.
- `Bot` logs every call's parameters ("Calling Bot API endpoint `sendMessage` with
  parameters `{chat_id, text, ...}`") and its raw JSON result; `Application` logs every
  whole `Update` ("Processing update Update(message=Message(from_user=User(id=...,
  first_name=...), text=...))"); `get_updates` logs the raw result when it cannot parse
  it; the request layer logs a body that is not JSON. Each such argument is replaced by
  a summary that holds no user id, name or text: the dict's keys, a list's length, an
  update's id and kind.
- a library that logs the calls it runs on a thread (aiosqlite did: "executing
  functools.partial(<execute>, 'INSERT ...', (parameters))") has the call replaced by the
  name of the method. Our own storage backends (storage/sqlite.py, storage/postgres.py)
  log no SQL and no parameters, and asyncpg logs no queries.

The filter cannot tell an internal respondent's update from a buyer's without the
database, so it summarizes every update and every payload: that is simpler than a
decision per update, and it keeps buyers' answers out of the log as well.

The filter sits on the handler, not on loggers, so that it applies to every record the
handler writes, whichever library logged it and at whatever level.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO
from urllib.parse import quote

from telegram import TelegramObject, Update

REDACTED_TOKEN = "[token]"
REDACTED_SECRET = "[secret]"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that say every request at INFO: quiet below DEBUG, fully heard at DEBUG.
NOISY_LOGGERS = ("httpx", "httpcore", "apscheduler")
# Templates whose string arguments are a request or response body (everything else a
# library logs as a string is a name, a URL or an error message).
BODY_TEMPLATES = ("Can not load invalid JSON data", "Webhook received data")


def _forms(value: str) -> set[str]:
    """`value` as it may appear in a log line: as is, URL-encoded, JSON- or repr-escaped."""
    return {
        value,
        quote(value, safe=""),
        quote(value, safe="").lower(),
        quote(value),
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
    }


class Redactor(logging.Filter):
    """Rewrites each record so that it carries no secret and no survey payload."""

    def __init__(self, token: str | None = None, secret: str | None = None) -> None:
        super().__init__()
        replacements: dict[str, str] = {}
        if secret:
            replacements.update(dict.fromkeys(_forms(secret), REDACTED_SECRET))
        if token:
            replacements.update(dict.fromkeys(_forms(token), REDACTED_TOKEN))
            # The part after the colon is the secret half; never print it even alone.
            _, _, key = token.partition(":")
            if len(key) >= 8:
                replacements.update(dict.fromkeys(_forms(key), REDACTED_TOKEN))
        # Longest first, so that a whole token goes before the half it contains.
        self._replacements = sorted(replacements.items(), key=lambda kv: -len(kv[0]))

    def redact(self, text: str) -> str:
        """`text` with every form of the token and the secret replaced."""
        for found, replacement in self._replacements:
            if found in text:
                text = text.replace(found, replacement)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message now, from summarized arguments, and redact everything."""
        args = record.args
        if isinstance(args, dict):
            record.args = {key: summarize(value) for key, value in args.items()}
        elif isinstance(args, tuple):
            body = isinstance(record.msg, str) and record.msg.startswith(BODY_TEMPLATES)
            record.args = tuple(_summarize_arg(value, body) for value in args)
        try:
            message = record.getMessage()
        except Exception:  # logging's own error report would print the raw arguments
            message = f"{record.msg} (arguments did not fit the message)"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        # The formatted text replaces the exception: no formatter can render it raw again.
        record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _summarize_arg(value: object, body: bool) -> object:
    if body and isinstance(value, str | bytes):
        return f"<{len(value)} characters>"
    return summarize(value)


def summarize(value: object) -> object:
    """A log argument without the user data it may carry (other values pass unchanged)."""
    if isinstance(value, Update):
        kinds = [key for key in value.to_dict() if key != "update_id"]
        return f"Update(update_id={value.update_id}, {', '.join(kinds) or 'empty'})"
    if isinstance(value, TelegramObject):
        return f"<{type(value).__name__}>"
    if isinstance(value, functools.partial):
        return f"<{getattr(value.func, '__name__', type(value.func).__name__)}>"
    if isinstance(value, dict):
        return "{" + ", ".join(str(key) for key in value) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return f"<{type(value).__name__} of {len(value)}>"
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    return value


def one_line_retries(record: logging.LogRecord) -> bool:
    """Keep PTB's network-retry messages to one line, and leave out its note that start-up
    gave up: `feedbot run` then explains the failure in its own one line."""
    if isinstance(record.msg, str) and record.msg.startswith("%s") and record.args:
        prefix = record.args[0] if isinstance(record.args, tuple) else None
        if isinstance(prefix, str) and prefix.startswith("Network Retry Loop"):
            if prefix.startswith("Network Retry Loop (Bootstrap") and "Abort" in record.msg:
                return False
            record.exc_info = None
            record.exc_text = None
    return True


def configure_logging(
    level: str,
    *,
    token: str | None = None,
    secret: str | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Log to `stream` (stderr) at `level` through one redacting handler; return it.

    Replaces the handler of an earlier call, so that calling it twice does not log twice."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "feedbot", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.feedbot = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(one_line_retries)
    handler.addFilter(Redactor(token, secret))
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.DEBUG if logging.getLevelName(level) == logging.DEBUG else logging.WARNING
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    return handler


@contextmanager
def logging_for_command(level: str, *, token: str | None, secret: str | None) -> Iterator[None]:
    """configure_logging for one CLI command that talks to Telegram, undone afterwards
    (so that `main()` called in-process leaves logging as it found it)."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *NOISY_LOGGERS)}
    handler = configure_logging(level, token=token, secret=secret)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for name, saved in levels.items():
            logging.getLogger(name).setLevel(saved)
