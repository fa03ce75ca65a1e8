"""WebhookPoster: the fake Bot API delivering updates to the bot's webhook, as Telegram does."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass

from .telegram_server import FakeTelegram


@dataclass(frozen=True)
class Delivery:
    """One POST of an update: the HTTP status, or None when the connection failed."""

    update_id: int
    status: int | None


class WebhookPoster:
    """Posts queued updates to the URL given to setWebhook, oldest first, one at a time,
    with the registered secret in X-Telegram-Bot-Api-Secret-Token. An update leaves the
    queue only when the bot answers 200; a failed connection or another status is tried
    again after `retry_delay` (Telegram backs off longer; tests need not wait that long).

    Every attempt is recorded in `deliveries`, in order."""

    def __init__(
        self, fake: FakeTelegram, *, retry_delay: float = 0.1, timeout: float = 10.0
    ) -> None:
        self.fake = fake
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._stop = threading.Event()
        # Straight to the bot: no proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._thread: threading.Thread | None = None

    def start(self) -> WebhookPoster:
        self._thread = threading.Thread(target=self._run, name="fake-webhook", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.fake.wake_pollers()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
            self._thread = None

    def delivered(self, update_id: int) -> bool:
        """Whether the bot answered 200 for this update."""
        with self.fake.lock:
            return any(d.update_id == update_id and d.status == 200 for d in self.deliveries)

    def _run(self) -> None:
        while not self._stop.is_set():
            found = self.fake.next_for_webhook(timeout=0.1)
            if found is None:
                continue
            url, update = found
            with self.fake.lock:
                secret = self.fake.webhook_secret
            status = self._post(url, secret, update)
            with self.fake.lock:
                self.deliveries.append(Delivery(update["update_id"], status))
            if status == 200:
                self.fake.delivered(update["update_id"])
            else:
                self._stop.wait(self.retry_delay)

    def _post(self, url: str, secret: str, update: dict[str, object]) -> int | None:
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(
            url, data=json.dumps(update).encode(), headers=headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (urllib.error.URLError, OSError):
            return None
