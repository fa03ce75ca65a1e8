"""Balancer: Telegram's webhook delivery and a round-robin load balancer in one, for tests
that run several `feedbot run --webhook` instances."""

from __future__ import annotations

import json
import queue
import random
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from .records import JSONDict
from .telegram_server import FakeTelegram


@dataclass(frozen=True)
class Attempt:
    """One POST of an update: the instance's port and the HTTP status (None: the
    connection failed)."""

    update_id: int
    port: int
    status: int | None


class Balancer:
    """Takes every update the fake Telegram queues for the webhook and posts it, with the
    registered secret, to one of `ports` chosen at random (as nginx round robin spreads
    them), `connections` at a time (Telegram's max_connections). A failed connection or
    an answer other than 200 is tried again, after `retry_delay`, on a port chosen again:
    an update leaves only with a 200, as with Telegram behind a proxy that retries.

    Every attempt is in `attempts`; `acknowledged` holds the update ids answered 200."""

    def __init__(
        self,
        fake: FakeTelegram,
        ports: list[int],
        *,
        connections: int = 16,
        retry_delay: float = 0.05,
        timeout: float = 30.0,
    ) -> None:
        self.fake = fake
        self.ports = ports
        self.connections = connections
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.attempts: list[Attempt] = []
        self.acknowledged: set[int] = set()
        self._lock = threading.Lock()
        self._work: queue.Queue[JSONDict | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._path = "/"

    def start(self) -> Balancer:
        self._threads = [threading.Thread(target=self._take, name="balancer-take", daemon=True)]
        self._threads += [
            threading.Thread(target=self._post_loop, name=f"balancer-{n}", daemon=True)
            for n in range(self.connections)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for _ in range(self.connections):
            self._work.put(None)
        self.fake.wake_pollers()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        self._threads = []

    def _take(self) -> None:
        # Telegram hands the updates over; from here the balancer owns their delivery.
        while not self._stop.is_set():
            found = self.fake.next_for_webhook(timeout=0.1)
            if found is None:
                continue
            self._path = urlsplit(found[0]).path
            for update in self.fake.pending_updates():
                self._work.put(update)

    def _post_loop(self) -> None:
        while True:
            update = self._work.get()
            if update is None:
                return
            while not self._stop.is_set():
                port = random.choice(self.ports)
                status = self._post(port, update)
                with self._lock:
                    self.attempts.append(Attempt(int(update["update_id"]), port, status))
                    if status == 200:
                        self.acknowledged.add(int(update["update_id"]))
                if status == 200:
                    break
                self._stop.wait(self.retry_delay)

    def _post(self, port: int, update: JSONDict) -> int | None:
        with self.fake.lock:
            secret = self.fake.webhook_secret
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{self._path}",
            data=json.dumps(update).encode(),
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": secret,
            },
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (urllib.error.URLError, OSError):
            return None
