"""POST /<webhook path>: Telegram's updates, checked and stored in the inbox before 200."""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram import Update

from bot.processor import update_key
from storage.connection import DatabaseUnavailable

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are a few kilobytes; a message's text is at most 4096 characters.
# Anything near a megabyte is not from Telegram.
MAX_BODY = 1 << 20


class Receiver(Protocol):
    """Where a checked update goes: `accept` returns once it is durable."""

    async def accept(self, update_id: int, user_key: int | None, body: str) -> bool: ...


class BadUpdate(ValueError):
    """The body is not an update (the reason is logged, the body never)."""


def webhook_routes(
    path: str, secret: str, receiver: Receiver, *, max_body: int = MAX_BODY
) -> list[BaseRoute]:
    """The webhook route at `path`, accepting only requests carrying `secret`."""
    expected = secret.encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            # Who called, never what they sent: the body is not even read.
            client = request.client.host if request.client else "unknown"
            log.warning("webhook: request from %s without the right secret token: 403", client)
            return Response(status_code=403)
        try:
            body = await _read_body(request, max_body)
            update_id, user = _parse(body)
        except BadUpdate as exc:
            log.warning("webhook: refused a request: %s: 400", exc)
            return Response(status_code=400)
        try:
            stored = await receiver.accept(update_id, user, body)
        except (sqlite3.Error, DatabaseUnavailable) as exc:
            # No 200: Telegram (or the proxy, at another instance) delivers it again.
            log.warning("webhook: update %s not stored (%s): 503", update_id, exc)
            return Response(status_code=503)
        if not stored:
            log.info("webhook: update %s was already stored (a redelivery)", update_id)
        return Response(status_code=200)

    return [Route(path, receive, methods=["POST"])]


async def _read_body(request: Request, max_body: int) -> str:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_body):
        raise BadUpdate(f"body over {max_body} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body:  # a chunked body declares no length
            raise BadUpdate(f"body over {max_body} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadUpdate("body is not UTF-8") from None


def _parse(body: str) -> tuple[int, int | None]:
    """(update id, user key) of a JSON update; BadUpdate when it is none."""
    try:
        data = json.loads(body)
    except ValueError:
        raise BadUpdate("body is not JSON") from None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        raise BadUpdate("no update_id")
    try:
        update = Update.de_json(data, None)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise BadUpdate(f"not an update ({type(exc).__name__})") from None
    return update_id, update_key(update)
