"""FakeTelegram: an in-memory model of the Bot API server for one bot, shared by all transports."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .bot_methods import BotMethods, Handler
from .faults import FaultMode
from .records import (
    ApiError,
    BotMessage,
    Button,
    Call,
    ChatState,
    ConnectionDropped,
    Failure,
    JSONDict,
    Revision,
    SentFile,
    Upload,
    normalize_params,
)
from .updates import Poll, UpdateQueue
from .users import FakeUser

__all__ = [
    "ApiError",
    "BotMessage",
    "Button",
    "Call",
    "ChatState",
    "Failure",
    "FakeTelegram",
    "FakeUser",
    "Revision",
    "SentFile",
    "Upload",
]

_NOT_FOUND = ApiError(404, "Not Found")
_UNAUTHORIZED = ApiError(401, "Unauthorized")


@dataclass(eq=False)
class _Injected:
    error: ApiError
    remaining: int | None
    chat_id: int | str | None


class FakeTelegram(UpdateQueue, BotMethods):
    """What Telegram's server knows and answers for one bot; thread-safe.

    Transports (FakeRequest in-process, BotApiServer over HTTP) call `call` or
    `call_blocking`; tests inject user activity through `user(...)` and read what
    users see through `messages`, `last_message`, `calls` and `calls_of`. The Bot
    API methods live in BotMethods, the update queue and waiting in UpdateQueue.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        username: str = "feedbot_test_bot",
        first_name: str = "Feedbot",
        latency: float = 0.0,
        max_poll_wait: float | None = None,
        record_calls: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        prefix = token.split(":", 1)[0] if token else ""
        self.token = token
        self.bot_user: JSONDict = {
            "id": int(prefix) if prefix.isdigit() else 123456789,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.latency = latency
        self.method_latency: dict[str, float] = {}
        # Caps every long poll (None: as long as the poller asks), e.g. for a poller
        # that is never cancelled.
        self.max_poll_wait = max_poll_wait
        self.record_calls = record_calls
        self.clock = clock
        self.calls: list[Call] = []
        self.failures: list[Failure] = []
        self._calls_by_method: dict[str, list[Call]] = {}
        self._lock = threading.RLock()
        self._chats: dict[int, ChatState] = {}
        self._users: dict[int, FakeUser] = {}
        self._webhook_url = ""
        self._injected: dict[str, list[_Injected]] = {}
        self.faults: FaultMode | None = None
        UpdateQueue.__init__(self)
        BotMethods.__init__(self)
        self._handlers: dict[str, Handler] = self.method_table()
        self._method_names = {name.lower(): name for name in self._handlers}
        self._method_names["getupdates"] = "getUpdates"

    @property
    def lock(self) -> threading.RLock:
        """The lock guarding all state; hold it to read or change several things at once."""
        return self._lock

    # ----------------------------------------------------------------- configuration

    def register(self, method: str, handler: Handler) -> None:
        """Answer `method` with handler(params); raise ApiError from it to fail."""
        with self._lock:
            self._handlers[method] = handler
            self._method_names[method.lower()] = method

    def fail_next(
        self,
        method: str,
        error: ApiError,
        *,
        times: int | None = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next `times` calls of method (None: all of them) with error.

        With chat_id, only calls addressed to that chat fail.
        """
        with self._lock:
            self._injected.setdefault(method, []).append(_Injected(error, times, chat_id))

    def set_faults(
        self,
        rate: float,
        *,
        seed: int = 0,
        retry_after: float = 0.2,
        kinds: tuple[str, ...] = ("429", "502", "timeout"),
        methods: frozenset[str] | None = None,
    ) -> FaultMode:
        """Fail a `rate` of message-changing calls with 429, 502 or a timeout (see
        FaultMode); rate 0 turns it off. Returns the mode, whose `injected` lists them."""
        with self._lock:
            mode = FaultMode(rate, seed, retry_after, kinds)
            if methods is not None:
                mode.methods = methods
            self.faults = mode if rate else None
            return mode

    def clear_failures(self) -> None:
        with self._lock:
            self._injected.clear()

    # ------------------------------------------------------------------ user activity

    def user(
        self,
        user_id: int,
        first_name: str = "Alice",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> FakeUser:
        """The user with this id: created, with a private chat, on first use; later calls
        return the same user."""
        with self._lock:
            existing = self._users.get(user_id)
            if existing is not None:
                return existing
            user = FakeUser(
                self,
                user_id,
                first_name,
                last_name=last_name,
                username=username,
                language_code=language_code,
            )
            self._users[user_id] = user
            self.chat_state(user.chat)
            return user

    def chat_state(self, chat: JSONDict) -> ChatState:
        """The state of chat (a Chat object), created on first use."""
        with self._lock:
            state = self._chats.get(chat["id"])
            if state is None:
                state = self._chats[chat["id"]] = ChatState(chat)
            return state

    def add_user_message(self, chat: JSONDict, sender: JSONDict, content: JSONDict) -> JSONDict:
        """Store a message a user sent to chat and return it as a Message object."""
        with self._lock:
            state = self.chat_state(chat)
            message = {
                "message_id": state.take_message_id(),
                "from": sender,
                "chat": chat,
                "date": self.now(),
                **content,
            }
            state.user_messages[message["message_id"]] = message
            return message

    def user_message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """A message a user sent, as stored (None if unknown or deleted)."""
        with self._lock:
            state = self._chats.get(chat_id)
            return state.user_messages.get(message_id) if state else None

    def set_blocked(self, chat_id: int, blocked: bool) -> None:
        """Make every send to chat_id fail with 403 "bot was blocked by the user" (or stop)."""
        with self._lock:
            if blocked:
                self._blocked.add(chat_id)
            else:
                self._blocked.discard(chat_id)

    # --------------------------------------------------------------------- read side

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[BotMessage]:
        """The bot's messages in chat_id in order, as they look now (live objects)."""
        with self._lock:
            state = self._chats.get(chat_id)
            if state is None:
                return []
            return [m for m in state.bot_messages.values() if include_deleted or not m.deleted]

    def last_message(self, chat_id: int) -> BotMessage:
        """The bot's latest visible message in chat_id; AssertionError if there is none."""
        with self._lock:
            state = self._chats.get(chat_id)
            for message in reversed((state.bot_messages if state else {}).values()):
                if not message.deleted:
                    return message
            raise AssertionError(
                f"the bot has sent nothing to chat {chat_id}:\n{self.transcript(chat_id)}"
            )

    def message(self, chat_id: int, message_id: int) -> BotMessage:
        """The bot's message message_id in chat_id (even if deleted)."""
        with self._lock:
            state = self._chats.get(chat_id)
            found = state.bot_messages.get(message_id) if state else None
            if found is None:
                raise AssertionError(f"the bot has no message #{message_id} in chat {chat_id}")
            return found

    def texts(self, chat_id: int) -> list[str]:
        """Text (or caption) of each visible bot message in chat_id."""
        return [m.caption if m.is_media else m.text for m in self.messages(chat_id)]

    def keyboard_message(self, chat_id: int, message_id: int | None = None) -> BotMessage:
        """The bot message a user would press a button on: message_id, else the latest one
        still carrying an inline keyboard."""
        with self._lock:
            if message_id is not None:
                found = self.message(chat_id, message_id)
                if found.deleted:
                    raise AssertionError(f"message #{message_id} in chat {chat_id} was deleted")
                return found
            for message in reversed(self.messages(chat_id)):
                if message.reply_markup is not None:
                    return message
            raise AssertionError(
                f"no bot message with an inline keyboard in chat {chat_id}:\n"
                + self.transcript(chat_id)
            )

    def transcript(self, chat_id: int) -> str:
        """The chat as the user sees it, one line per message, for failure messages."""
        with self._lock:
            state = self._chats.get(chat_id)
            if state is None:
                return f"(no chat {chat_id})"
            lines: dict[int, str] = {}
            for message_id, user_message in state.user_messages.items():
                lines[message_id] = f"  user #{message_id}: {_describe_user(user_message)}"
            for message_id, bot_message in state.bot_messages.items():
                gone = " (deleted)" if bot_message.deleted else ""
                lines[message_id] = f"  bot  {bot_message.describe()}{gone}"
            return "\n".join(lines[k] for k in sorted(lines)) or "  (empty)"

    def calls_of(self, method: str) -> list[Call]:
        """Recorded calls of one method, in order."""
        with self._lock:
            return list(self._calls_by_method.get(method, ()))

    def clear_calls(self) -> None:
        with self._lock:
            self.calls.clear()
            self._calls_by_method.clear()
            self.failures.clear()

    def wait_for_messages(self, chat_id: int, count: int, timeout: float = 5.0) -> list[BotMessage]:
        """Block until the bot has at least count visible messages in chat_id; return them."""
        self.wait_for(
            lambda: len(self.messages(chat_id)) >= count,
            timeout,
            lambda: f"{count} bot messages in chat {chat_id}; it has:\n{self.transcript(chat_id)}",
        )
        return self.messages(chat_id)

    async def async_wait_for_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - running out yields a diagnostic report
    ) -> list[BotMessage]:
        """Like wait_for_messages, on the event loop; woken only by this chat's activity."""
        await self.async_wait_for(
            lambda: len(self.messages(chat_id)) >= count,
            timeout,
            lambda: f"{count} bot messages in chat {chat_id}; it has:\n{self.transcript(chat_id)}",
            chat_id=chat_id,
        )
        return self.messages(chat_id)

    # -------------------------------------------------------------------- transport

    def accepts_token(self, path_segment: str) -> bool:
        """Whether the URL segment before the method (e.g. "bot123:ABC") names this bot."""
        return self.token is None or path_segment.endswith(self.token)

    async def call(
        self,
        method: str,
        params: Mapping[str, object],
        files: Mapping[str, Upload] | None = None,
    ) -> tuple[int, JSONDict]:
        """Answer one request from the running event loop: (HTTP status, JSON body)."""
        # Even a zero-latency network yields to the loop, and so should the fake.
        await asyncio.sleep(self.method_latency.get(method, self.latency))
        with self._lock:
            outcome = self._begin(method, params, files)
            if isinstance(outcome, ConnectionDropped):
                raise outcome
            if not isinstance(outcome, Poll):
                return outcome
            waiter = self.watch_updates()
        return await self.finish_poll(outcome, waiter)

    def call_blocking(
        self,
        method: str,
        params: Mapping[str, object],
        files: Mapping[str, Upload] | None = None,
    ) -> tuple[int, JSONDict]:
        """Answer one request from a plain thread (the HTTP server): (status, JSON body)."""
        delay = self.method_latency.get(method, self.latency)
        if delay:
            time.sleep(delay)
        with self._lock:
            outcome = self._begin(method, params, files)
            if isinstance(outcome, ConnectionDropped):
                raise outcome
            if not isinstance(outcome, Poll):
                return outcome
            return self.finish_poll_blocking(outcome)

    def _begin(
        self, method: str, raw: Mapping[str, object], files: Mapping[str, Upload] | None
    ) -> tuple[int, JSONDict] | Poll | ConnectionDropped:
        """Validate, record and answer a call; a long poll that has to wait gets a Poll,
        a call the fault mode times out a ConnectionDropped (to raise, lock released)."""
        name = self._method_names.get(method.lower(), method)
        try:
            params = normalize_params(raw, files)
        except ApiError as error:
            self._record(name, dict(raw))
            self._touched_chat = None
            return self._refuse(name, dict(raw), error)
        self._record(name, params)
        chat_id = params.get("chat_id")
        # Handlers that learn the chat another way (answerCallbackQuery) overwrite it.
        self._touched_chat = chat_id if isinstance(chat_id, int) else None
        fault = self.faults.draw(name, params) if self.faults is not None else None
        try:
            self._raise_injected(name, params)
            # A 429 or 502 raises in `before`; a timeout may leave the call unapplied.
            if fault is not None and self.faults and not self.faults.before(name, params, fault):
                self.failures.append(Failure(name, params, 0, "timed out, not applied"))
                return ConnectionDropped(name, applied=False)
            if name == "getUpdates":
                poll = self.start_poll(params)
                # Waiters may be watching for the poll itself (calls changed).
                self._notify_state(chat_id=None, chats=False)
                return self.poll_answer(poll) or poll
            handler = self._handlers.get(name)
            if handler is None:
                raise _NOT_FOUND
            result = handler(params)
        except ApiError as error:
            return self._refuse(name, params, error)
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            # Parameters of the wrong shape: Telegram answers 400, and so does the fake.
            return self._refuse(
                name, params, ApiError.bad_request(f"invalid parameters: {error!r}")
            )
        self._notify_state(self._touched_chat)
        if fault is not None:  # a timeout after the call took effect
            return ConnectionDropped(name, applied=True)
        return 200, {"ok": True, "result": result}

    def _refuse(self, name: str, params: JSONDict, error: ApiError) -> tuple[int, JSONDict]:
        self.failures.append(Failure(name, params, error.error_code, error.description))
        self._notify_state(self._touched_chat)
        return error.error_code, error.to_json()

    def _record(self, name: str, params: JSONDict) -> None:
        if self.record_calls:
            call = Call(name, params)
            self.calls.append(call)
            self._calls_by_method.setdefault(name, []).append(call)

    def _raise_injected(self, name: str, params: JSONDict) -> None:
        queued = self._injected.get(name)
        if not queued:
            return
        for injected in queued:
            if injected.chat_id is None or injected.chat_id == params.get("chat_id"):
                if injected.remaining is not None:
                    injected.remaining -= 1
                    if injected.remaining <= 0:
                        queued.remove(injected)
                raise injected.error

    def reject_token(self, method: str) -> tuple[int, JSONDict]:
        """The answer to a request with another bot's token."""
        with self._lock:
            self.failures.append(Failure(method, {}, 401, _UNAUTHORIZED.description))
        return 401, _UNAUTHORIZED.to_json()


def _describe_user(message: JSONDict) -> str:
    for kind in ("text", "sticker", "photo", "voice", "document"):
        if kind in message:
            return repr(message["text"]) if kind == "text" else f"[{kind}]"
    fields = [k for k in message if k not in ("message_id", "from", "chat", "date")]
    return "[" + ", ".join(fields) + "]"
