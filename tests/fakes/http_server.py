"""BotApiServer: the fake Bot API over real HTTP on 127.0.0.1, for end-to-end tests."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .records import ApiError, BotMessage, ConnectionDropped, JSONDict, Upload
from .telegram_server import FakeTelegram

_NOT_FOUND = ApiError(404, "Not Found")
_BAD_BODY = ApiError.bad_request("can't parse request body")


class BotApiServer:
    """Serves a FakeTelegram at http://127.0.0.1:PORT/bot<TOKEN>/<method>.

    Run the bot with TELEGRAM_API_BASE_URL=server.url (PTB appends token and method):

        with BotApiServer(fake) as server:
            start the bot with env={**os.environ, **server.env}
            server.wait_for_messages(chat_id, 2)
    """

    def __init__(self, fake: FakeTelegram | None = None, *, host: str = "127.0.0.1") -> None:
        self.fake = fake if fake is not None else FakeTelegram()
        self.host = host
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0  # ephemeral at first; a restart after stop() binds the same port

    def start(self) -> BotApiServer:
        """Bind an ephemeral port and serve from a background thread."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._port), self.fake)
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-bot-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and release waiting long polls (as an
        outage would: connections refused until start() serves the same port again)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        self.fake.wake_pollers()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BotApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The Bot API base URL, e.g. http://127.0.0.1:40123/bot (PTB adds token/method)."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a bot subprocess: the API URL, and no proxy for it."""
        return {
            "TELEGRAM_API_BASE_URL": self.url,
            "NO_PROXY": f"{self.host},localhost",
            "no_proxy": f"{self.host},localhost",
        }

    def wait_for(
        self,
        predicate: Callable[[], object],
        timeout: float = 5.0,
        what: str | Callable[[], str] = "",
    ) -> None:
        """Block until predicate() holds; AssertionError with recent calls after timeout."""
        self.fake.wait_for(predicate, timeout, what)

    def wait_for_messages(self, chat_id: int, count: int, timeout: float = 5.0) -> list[BotMessage]:
        """Block until the bot has sent count visible messages to chat_id; return them."""
        return self.fake.wait_for_messages(chat_id, count, timeout)

    def wait_until_confirmed(self, timeout: float = 5.0) -> None:
        """Block until the bot has confirmed (getUpdates offset) every queued update."""
        self.fake.wait_for(lambda: self.fake.pending_count == 0, timeout, "updates confirmed")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: bots opening their connections together
    # (two instances, 200 buyers at once) overflow it, and the kernel drops the
    # connections it cannot queue (httpx.ReadError in the bot). Telegram's servers queue
    # them; so does this one.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], fake: FakeTelegram) -> None:
        super().__init__(address, _Handler)
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A bot killed mid-request resets its connection: expected, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """End keep-alive connections, whose threads would otherwise serve on after stop."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:  # already closed by the client
                continue


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; Nagle would hold the body ~40 ms.
    disable_nagle_algorithm = True
    # An idle keep-alive connection gives up its thread after this many seconds.
    timeout = 30
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are recorded by the fake; the console stays quiet."""

    def _answer(self) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        parts = url.path.split("/")
        if len(parts) != 3 or not parts[1].startswith("bot") or not parts[2]:
            status, body = _NOT_FOUND.error_code, _NOT_FOUND.to_json()
            self._read_body()
        elif not fake.accepts_token(parts[1]):
            status, body = fake.reject_token(parts[2])
            self._read_body()
        else:
            try:
                params, files = self._parameters(url.query)
            except ValueError:
                status, body = _BAD_BODY.error_code, _BAD_BODY.to_json()
            else:
                try:
                    status, body = self._call(parts[2], params, files)
                except ConnectionDropped:
                    # The fault mode's timeout: hang up without an answer, as a
                    # connection lost mid-request does (the client cannot tell whether
                    # the call took effect).
                    self.close_connection = True
                    return
        self._send_json(status, body)

    def _call(
        self, method: str, params: dict[str, object], files: dict[str, Upload]
    ) -> tuple[int, JSONDict]:
        try:
            return self.server.fake.call_blocking(method, params, files)
        except ConnectionDropped:
            raise
        except Exception as error:  # a bug in the fake: tell the bot instead of hanging up
            description = f"Internal Server Error: the fake failed with {error!r}"
            return 500, {"ok": False, "error_code": 500, "description": description}

    def _send_json(self, status: int, body: JSONDict) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (a cancelled long poll): nothing to tell it
            self.close_connection = True

    def _parameters(self, query: str) -> tuple[dict[str, object], dict[str, Upload]]:
        """Parameters from the query string and a JSON, form or multipart body."""
        params: dict[str, object] = dict(parse_qsl(query, keep_blank_values=True))
        files: dict[str, Upload] = {}
        body = self._read_body()
        content_type = self.headers.get("Content-Type", "")
        kind = content_type.split(";", 1)[0].strip().lower()
        if not body:
            return params, files
        if kind == "application/json":
            decoded = json.loads(body)
            if not isinstance(decoded, dict):
                raise ValueError("a JSON body must be an object")
            params.update(decoded)
        elif kind == "multipart/form-data":
            _parse_multipart(content_type, body, params, files)
        else:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return params, files

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return _read_chunked(self.rfile)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


def _parse_multipart(
    content_type: str, body: bytes, params: dict[str, object], files: dict[str, Upload]
) -> None:
    envelope = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    message = BytesParser(policy=HTTP).parsebytes(envelope)
    if not message.is_multipart():
        raise ValueError("malformed multipart body")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        content = part.get_payload(decode=True)
        data = content if isinstance(content, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            params[name] = data.decode("utf-8")
        else:
            files[name] = Upload(filename, data, part.get_content_type())


def _read_chunked(stream: BufferedIOBase) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int(stream.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            stream.readline()
            return b"".join(chunks)
        chunks.append(stream.read(size))
        stream.readline()
