"""The fake Bot API in webhook mode: setWebhook/getWebhookInfo/deleteWebhook, and updates
posted to the webhook with the secret, retried until the bot answers 200."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fakes.records import ApiError
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.webhook import WebhookPoster

SECRET = "fake-webhook-secret_0123"


class _Bot(BaseHTTPRequestHandler):
    """A webhook answering 200 and remembering each update with its secret header."""

    received: list[tuple[int, str | None]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(  # type: ignore[attr-defined]
            (json.loads(body)["update_id"], self.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def poll_until(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    yield FakeTelegram(token="1:fake")


def test_set_get_and_delete_webhook(fake: FakeTelegram) -> None:
    status, _ = fake.call_blocking(
        "setWebhook",
        {"url": "https://bot.example.com/hook", "secret_token": SECRET, "max_connections": 7},
    )
    assert status == 200
    _, info = fake.call_blocking("getWebhookInfo", {})
    assert info["result"]["url"] == "https://bot.example.com/hook"
    assert info["result"]["max_connections"] == 7
    # A webhook and getUpdates exclude each other, as on Telegram.
    status, body = fake.call_blocking("getUpdates", {"timeout": 0})
    assert status == 409 and "webhook is active" in body["description"]
    assert fake.call_blocking("deleteWebhook", {})[0] == 200
    _, info = fake.call_blocking("getWebhookInfo", {})
    assert info["result"]["url"] == ""


@pytest.mark.parametrize(
    "params",
    [{"secret_token": "has spaces"}, {"max_connections": 101}],
)
def test_set_webhook_refuses_what_telegram_refuses(
    fake: FakeTelegram, params: dict[str, object]
) -> None:
    status, body = fake.call_blocking("setWebhook", {"url": "https://x.example/h", **params})
    assert status == ApiError.bad_request("").error_code
    assert not body["ok"]


def test_updates_are_posted_with_the_secret_and_retried_until_a_200(fake: FakeTelegram) -> None:
    port = free_port()
    fake.call_blocking(
        "setWebhook", {"url": f"http://127.0.0.1:{port}/hook", "secret_token": SECRET}
    )
    poster = WebhookPoster(fake, retry_delay=0.05).start()
    try:
        sent = fake.user(5).send_text("hello")
        # Nothing listens yet: the connection fails and the update stays queued.
        poll_until(lambda: len(poster.deliveries) >= 2)  # recorded without a notification
        assert {d.status for d in poster.deliveries} == {None}
        assert fake.pending_count == 1
        server = ThreadingHTTPServer(("127.0.0.1", port), _Bot)
        server.received = []  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            fake.wait_for(lambda: fake.pending_count == 0, 10, "the update delivered")
        finally:
            server.shutdown()
            server.server_close()
        assert server.received == [(sent["update_id"], SECRET)]  # type: ignore[attr-defined]
        assert poster.delivered(sent["update_id"])
    finally:
        poster.stop()
