"""The update queue of the fake Bot API: getUpdates semantics, long polls and waiting."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from .records import ApiError, Call, JSONDict

_POLL_CONFLICT = ApiError(
    409,
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
)
_WEBHOOK_CONFLICT = ApiError(
    409,
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first",
)


@dataclass(eq=False)
class Poll:
    """A getUpdates request waiting for updates until its deadline."""

    generation: int
    wake_epoch: int
    limit: int
    deadline: float


@dataclass(eq=False)
class _AsyncWaiter:
    """An event-loop task waiting for a change announced from any thread."""

    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    thread_id: int = field(default_factory=threading.get_ident)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        if threading.get_ident() == self.thread_id:
            self.event.set()
            return
        # A closed loop raises RuntimeError: nobody is left there to wake.
        with suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.event.set)


class UpdateQueue:
    """Updates waiting for the bot, confirmed by getUpdates offsets; mixed into FakeTelegram.

    Waiters are woken on two signals: the queue changed (long polls) and anything
    changed (wait_for); an async waiter for one chat is woken only by what touches
    that chat, so a thousand of them cost nothing per call. Every method takes the
    shared lock.
    """

    calls: list[Call]
    max_poll_wait: float | None
    _lock: threading.RLock
    _webhook_url: str

    def __init__(self) -> None:
        self._updates: deque[JSONDict] = deque()
        self._update_ids = itertools.count(1)
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._wake_epoch = 0
        self._updates_changed = threading.Condition(self._lock)
        self._state_changed = threading.Condition(self._lock)
        self._update_waiters: set[_AsyncWaiter] = set()
        self._state_waiters: set[_AsyncWaiter] = set()
        self._chat_waiters: dict[int, set[_AsyncWaiter]] = {}

    def enqueue_update(self, kind: str, payload: JSONDict) -> JSONDict:
        """Queue an update of this kind ("message", "callback_query", ...) and return it."""
        with self._lock:
            update = {"update_id": next(self._update_ids), kind: payload}
            # Telegram does not even store the kinds the poller asked not to receive.
            if self._allowed_updates is None or kind in self._allowed_updates:
                self._updates.append(update)
                self._notify_updates()
                self._notify_state(_chat_of(payload))
            return update

    def requeue(self, update: JSONDict) -> None:
        """Queue an update already handed out, unchanged, as Telegram redelivers updates a
        bot fetched but never confirmed (e.g. it crashed before its next getUpdates)."""
        with self._lock:
            self._updates.append(update)
            self._notify_updates()
            self._notify_state(chat_id=None, chats=False)

    def pending_updates(self) -> list[JSONDict]:
        """Hand over every queued update, oldest first, and confirm them (they are gone)."""
        with self._lock:
            updates = list(self._updates)
            self._updates.clear()
            self._notify_state(chat_id=None, chats=False)
            return updates

    @property
    def pending_count(self) -> int:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        with self._lock:
            return len(self._updates)

    def next_for_webhook(self, timeout: float) -> tuple[str, JSONDict] | None:
        """(webhook URL, oldest queued update) once a webhook is set and an update waits;
        None after `timeout`. The update stays queued until `delivered`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not (self._webhook_url and self._updates):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._updates_changed.wait(remaining)
            return self._webhook_url, self._updates[0]

    def delivered(self, update_id: int) -> None:
        """The webhook answered 200 for `update_id`: Telegram forgets it."""
        with self._lock:
            if self._updates and self._updates[0]["update_id"] == update_id:
                self._updates.popleft()
                self._notify_state(chat_id=None, chats=False)

    def wake_pollers(self) -> None:
        """Make the getUpdates requests waiting right now return (empty) immediately."""
        with self._lock:
            self._wake_epoch += 1
            self._notify_updates()

    # ---------------------------------------------------------------- long polling

    def start_poll(self, params: JSONDict) -> Poll:
        """Begin a getUpdates: confirm by offset, note its limit and how long it may wait."""
        if self._webhook_url:
            raise _WEBHOOK_CONFLICT
        allowed = params.get("allowed_updates")
        if allowed is not None:
            self._allowed_updates = list(allowed) or None
        offset = params.get("offset")
        if offset is not None:
            self._confirm(int(offset))
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        wait = max(float(params.get("timeout") or 0), 0.0)
        if self.max_poll_wait is not None:
            wait = min(wait, self.max_poll_wait)
        # A newer getUpdates ends an older one still waiting, as on Telegram.
        self._poll_generation += 1
        self._notify_updates()
        return Poll(self._poll_generation, self._wake_epoch, limit, time.monotonic() + wait)

    def poll_answer(self, poll: Poll, *, final: bool = False) -> tuple[int, JSONDict] | None:
        """The response for poll, or None while it should keep waiting."""
        if poll.generation != self._poll_generation:
            return _POLL_CONFLICT.error_code, _POLL_CONFLICT.to_json()
        expired = final or poll.deadline <= time.monotonic()
        if self._updates or expired or poll.wake_epoch != self._wake_epoch:
            updates = list(itertools.islice(self._updates, poll.limit))
            return 200, {"ok": True, "result": updates}
        return None

    def watch_updates(self) -> _AsyncWaiter:
        """Register the running task for queue changes; call with the lock held, in the
        same hold that saw no update, so none can slip in before the wait."""
        waiter = _AsyncWaiter()
        self._update_waiters.add(waiter)
        return waiter

    async def finish_poll(self, poll: Poll, waiter: _AsyncWaiter) -> tuple[int, JSONDict]:
        """Wait on the event loop until poll has its response."""
        try:
            while True:
                remaining = poll.deadline - time.monotonic()
                if remaining > 0:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(waiter.event.wait(), remaining)
                with self._lock:
                    waiter.event.clear()
                    answer = self.poll_answer(poll, final=remaining <= 0)
                if answer is not None:
                    return answer
        finally:
            with self._lock:
                self._update_waiters.discard(waiter)

    def finish_poll_blocking(self, poll: Poll) -> tuple[int, JSONDict]:
        """Block this thread until poll has its response."""
        with self._lock:
            while True:
                remaining = poll.deadline - time.monotonic()
                if remaining > 0:
                    self._updates_changed.wait(remaining)
                answer = self.poll_answer(poll, final=remaining <= 0)
                if answer is not None:
                    return answer

    def _confirm(self, offset: int) -> None:
        before = len(self._updates)
        if offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()
        else:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        if len(self._updates) != before:
            self._notify_state(chat_id=None, chats=False)

    # ---------------------------------------------------------------------- waiting

    def wait_for(
        self,
        predicate: Callable[[], object],
        timeout: float = 5.0,
        what: str | Callable[[], str] = "",
    ) -> None:
        """Block until predicate() is true (checked after every change); AssertionError
        after timeout. Not on the event loop the bot runs on: use async_wait_for there."""
        deadline = time.monotonic() + timeout
        with self._state_changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_report(what or repr(predicate), timeout))
                self._state_changed.wait(remaining)

    async def async_wait_for(
        self,
        predicate: Callable[[], object],
        timeout: float = 5.0,  # noqa: ASYNC109 - running out yields a diagnostic report
        what: str | Callable[[], str] = "",
        *,
        chat_id: int | None = None,
    ) -> None:
        """Like wait_for, without blocking the running event loop. With chat_id,
        predicate is re-checked only after calls or updates concerning that chat."""
        deadline = time.monotonic() + timeout
        with self._waiting(chat_id) as waiter:
            while True:
                with self._lock:
                    waiter.event.clear()
                    if predicate():
                        return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._timeout_report(what or repr(predicate), timeout))
                with suppress(TimeoutError):
                    await asyncio.wait_for(waiter.event.wait(), remaining)

    def _timeout_report(self, what: str | Callable[[], str], timeout: float) -> str:
        with self._lock:
            described = what() if callable(what) else what
            recent = "\n".join(f"  {c.method} {_short(c.params)}" for c in self.calls[-10:])
        return f"timed out after {timeout} s waiting for {described}; last calls:\n" + (
            recent or "  none"
        )

    @contextmanager
    def _waiting(self, chat_id: int | None) -> Iterator[_AsyncWaiter]:
        waiter = _AsyncWaiter()
        with self._lock:
            if chat_id is None:
                waiters = self._state_waiters
            else:
                waiters = self._chat_waiters.setdefault(chat_id, set())
            waiters.add(waiter)
        try:
            yield waiter
        finally:
            with self._lock:
                waiters.discard(waiter)
                if chat_id is not None and not waiters:
                    self._chat_waiters.pop(chat_id, None)

    def _notify_updates(self) -> None:
        self._updates_changed.notify_all()
        for waiter in self._update_waiters:
            waiter.wake()

    def _notify_state(self, chat_id: int | None = None, *, chats: bool = True) -> None:
        """Something changed, in chat_id if known (None: maybe any chat); chats=False:
        nothing any chat shows."""
        self._state_changed.notify_all()
        for waiter in self._state_waiters:
            waiter.wake()
        if not chats or not self._chat_waiters:
            return
        if chat_id is not None:
            for waiter in self._chat_waiters.get(chat_id, ()):
                waiter.wake()
            return
        for waiters in self._chat_waiters.values():
            for waiter in waiters:
                waiter.wake()


def _chat_of(payload: JSONDict) -> int | None:
    """The chat an update's payload (a Message, CallbackQuery, ...) happens in."""
    chat = payload.get("chat") or payload.get("message", {}).get("chat")
    return chat.get("id") if isinstance(chat, dict) else None


def _short(params: JSONDict) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return text if len(text) < 160 else text[:157] + "..."
