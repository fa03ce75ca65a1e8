"""FakeRequest, PTB's network boundary answered in-process by a FakeTelegram, and deliver()."""

from __future__ import annotations

import json
from typing import Any

from telegram import Update
from telegram.error import TimedOut
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

from .records import ConnectionDropped, Upload
from .telegram_server import FakeTelegram


class FakeRequest(BaseRequest):
    """Answers every Bot API request PTB makes from a FakeTelegram, with no network.

    Error answers come back as Telegram's JSON with its HTTP status, so PTB raises
    its usual RetryAfter, Forbidden and BadRequest. Use one instance per role:

        ApplicationBuilder().token("123:ABC").request(FakeRequest(fake))
            .get_updates_request(FakeRequest(fake)).build()
    """

    def __init__(self, server: FakeTelegram, *, read_timeout: float | None = 5.0) -> None:
        self.server = server
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Dispatch `{base_url}{token}/{api_method}` to the fake; return (status, JSON bytes)."""
        prefix, _, api_method = url.rpartition("/")
        if not self.server.accepts_token(prefix.rpartition("/")[2]):
            status, body = self.server.reject_token(api_method)
        else:
            params = request_data.parameters if request_data else {}
            files = _uploads(request_data) if request_data and request_data.contains_files else None
            try:
                status, body = await self.server.call(api_method, params, files)
            except ConnectionDropped as exc:  # the fault mode's timeout: no answer
                raise TimedOut(str(exc)) from exc
        return status, json.dumps(body).encode()


def _uploads(request_data: RequestData) -> dict[str, Upload]:
    uploads = {}
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        data = content if isinstance(content, bytes) else content.read()
        uploads[name] = Upload(filename, data, mime_type)
    return uploads


async def deliver(app: Application[Any, Any, Any, Any, Any, Any], server: FakeTelegram) -> int:
    """Feed every queued update, in order, to app.process_update; return how many.

    Updates queued while it runs (by another thread) are delivered too. The app must
    be initialized (`async with app:` or `await app.initialize()`).
    """
    delivered = 0
    while batch := server.pending_updates():
        for data in batch:
            await app.process_update(Update.de_json(data, app.bot))
            delivered += 1
    return delivered
