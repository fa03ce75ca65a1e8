"""The Bot API methods the fake server answers, with Telegram's validation and error texts."""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .records import (
    ApiError,
    BotMessage,
    ChatState,
    JSONDict,
    Revision,
    SentFile,
    Upload,
)
from .validation import (
    MAX_CAPTION,
    MAX_TEXT,
    formatted_text,
    image_size,
    inline_markup,
    reply_markup,
)

Handler = Callable[[JSONDict], object]
# Telegram's rule for setWebhook's secret_token.
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")

MAX_UPLOAD = 50 * 1024 * 1024

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


@dataclass(eq=False)
class CallbackQuery:
    """A button press the bot has to answer with answerCallbackQuery."""

    id: str
    chat_id: int
    message_id: int
    data: str
    answer: JSONDict | None = None


class BotMethods:
    """Handlers for the Bot API methods, mixed into FakeTelegram.

    Each runs with the server lock held, takes decoded parameters and returns the
    `result` of a successful response, or raises ApiError.
    """

    bot_user: JSONDict
    clock: Callable[[], float]
    _lock: threading.RLock
    _chats: dict[int, ChatState]
    _updates: deque[JSONDict]
    _webhook_url: str
    _allowed_updates: list[str] | None
    _notify_updates: Callable[[], None]

    def __init__(self) -> None:
        # What setWebhook registered (the poster sends the secret in its header).
        self.webhook_secret = ""
        self.webhook_max_connections = 40
        # The chat the call being answered concerns, for waking only its waiters.
        self._touched_chat: int | None = None
        self._blocked: set[int] = set()
        self._queries: dict[str, CallbackQuery] = {}
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._files: dict[str, SentFile] = {}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._bot_texts: dict[tuple[str, str], str] = {}
        self.menu_buttons: dict[int, JSONDict] = {}  # chat id -> its menu button

    def method_table(self) -> dict[str, Handler]:
        """Method name -> handler, for every method the fake answers."""
        return {
            "getMe": self.get_me,
            "logOut": _true,
            "close": _true,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setMyDescription": self._bot_text_setter("description"),
            "getMyDescription": self._bot_text_getter("description"),
            "setMyShortDescription": self._bot_text_setter("short_description"),
            "getMyShortDescription": self._bot_text_getter("short_description"),
            "setMyName": self._bot_text_setter("name"),
            "getMyName": self._bot_text_getter("name"),
            "setChatMenuButton": self.set_chat_menu_button,
            "getChat": self.get_chat,
            "sendMessage": self.send_message,
            "sendDocument": self.send_document,
            "sendPhoto": self.send_photo,
            "sendChatAction": self.send_chat_action,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "deleteMessages": self.delete_messages,
            "answerCallbackQuery": self.answer_callback_query,
        }

    def now(self) -> int:
        return int(self.clock())

    # --------------------------------------------------------------- bot settings

    def get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url") or "")
        secret = str(params.get("secret_token") or "")
        if secret and not _SECRET_TOKEN.fullmatch(secret):
            raise ApiError.bad_request("secret token contains unallowed characters")
        connections = int(params.get("max_connections") or 40)
        if not 1 <= connections <= 100:
            raise ApiError.bad_request("invalid max_connections specified")
        allowed = params.get("allowed_updates")
        if allowed is not None:
            self._allowed_updates = list(allowed) or None
        self._webhook_url = url
        self.webhook_secret = secret
        self.webhook_max_connections = connections
        self._notify_updates()  # the webhook poster starts or stops delivering
        return True

    def delete_webhook(self, params: JSONDict) -> bool:
        self._webhook_url = ""
        self.webhook_secret = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook_url:
            info["max_connections"] = self.webhook_max_connections
            if self._allowed_updates is not None:
                info["allowed_updates"] = list(self._allowed_updates)
        return info

    def set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError.bad_request('parameter "commands" is required')
        for entry in commands:
            if not isinstance(entry, dict):
                raise ApiError.bad_request("can't parse BotCommand JSON object")
            name = str(entry.get("command", "")).removeprefix("/")
            if (
                not 1 <= len(name) <= 32
                or not all(c.isascii() and (c.isalnum() or c == "_") for c in name)
                or name.lower() != name
            ):
                raise ApiError.bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(entry.get("description", ""))) <= 256:
                raise ApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        stored = [
            {"command": str(c["command"]).removeprefix("/"), "description": str(c["description"])}
            for c in commands
        ]
        self._commands[_commands_key(params)] = stored
        return True

    def set_chat_menu_button(self, params: JSONDict) -> bool:
        """Remember a chat's menu button (the dashboard's web_app button)."""
        button = params.get("menu_button")
        if isinstance(button, str):
            button = json.loads(button)
        if "chat_id" in params and isinstance(button, dict):
            self.menu_buttons[int(params["chat_id"])] = button
        return True

    def get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return [dict(c) for c in self._commands.get(_commands_key(params), [])]

    def delete_my_commands(self, params: JSONDict) -> bool:
        self._commands.pop(_commands_key(params), None)
        return True

    def commands(
        self, *, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[tuple[str, str]]:
        """The (command, description) pairs set for this scope and language."""
        key = _commands_key({"scope": scope, "language_code": language_code})
        with self._lock:
            return [(c["command"], c["description"]) for c in self._commands.get(key, [])]

    def _bot_text_setter(self, kind: str) -> Handler:
        def handler(params: JSONDict) -> bool:
            self._bot_texts[(kind, str(params.get("language_code") or ""))] = str(
                params.get(kind) or ""
            )
            return True

        return handler

    def _bot_text_getter(self, kind: str) -> Handler:
        def handler(params: JSONDict) -> JSONDict:
            return {kind: self._bot_texts.get((kind, str(params.get("language_code") or "")), "")}

        return handler

    def get_chat(self, params: JSONDict) -> JSONDict:
        state = self._chat(params)
        gifts = {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
        }
        return {
            **state.chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": gifts,
        }

    # ------------------------------------------------------------------- sending

    def send_message(self, params: JSONDict) -> JSONDict:
        state = self._target(params)
        text, entities = formatted_text(params, "text", "entities", MAX_TEXT)
        if not text:
            raise ApiError.bad_request("message text is empty")
        inline, keyboard = reply_markup(params.get("reply_markup"))
        message = self._new_message(state, params, inline, keyboard)
        message.text, message.entities = text, entities
        return self._store(state, message)

    def send_document(self, params: JSONDict) -> JSONDict:
        return self._send_media(params, "document")

    def send_photo(self, params: JSONDict) -> JSONDict:
        return self._send_media(params, "photo")

    def _send_media(self, params: JSONDict, kind: str) -> JSONDict:
        state = self._target(params)
        sent = self._file(params, kind)
        caption, caption_entities = formatted_text(
            params, "caption", "caption_entities", MAX_CAPTION
        )
        inline, keyboard = reply_markup(params.get("reply_markup"))
        message = self._new_message(state, params, inline, keyboard)
        message.caption = caption
        message.caption_entities = caption_entities
        if kind == "photo":
            message.photo = sent
        else:
            message.document = sent
        return self._store(state, message)

    def send_chat_action(self, params: JSONDict) -> bool:
        self._target(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        return True

    def _new_message(
        self,
        state: ChatState,
        params: JSONDict,
        inline: JSONDict | None,
        keyboard: JSONDict | None,
    ) -> BotMessage:
        reply_to = self._reply_to(state, params)  # may refuse: take no message id before
        return BotMessage(
            chat=state.chat,
            sender=self.bot_user,
            message_id=state.take_message_id(),
            date=self.now(),
            parse_mode=params.get("parse_mode"),
            reply_markup=inline,
            reply_keyboard=keyboard,
            reply_to=reply_to,
        )

    def _store(self, state: ChatState, message: BotMessage) -> JSONDict:
        message.history.append(
            Revision(message.text, message.caption, message.reply_markup, message.date)
        )
        state.bot_messages[message.message_id] = message
        return message.to_json()

    def _reply_to(self, state: ChatState, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        reply = reply if isinstance(reply, dict) else {}
        target = reply.get("message_id", params.get("reply_to_message_id"))
        if target is None:
            return None
        bot_message = state.bot_messages.get(int(target))
        if bot_message is not None and not bot_message.deleted:
            return bot_message.to_json(with_reply=False)
        user_message = state.user_messages.get(int(target))
        if user_message is not None:
            return user_message
        if reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
            return None
        raise ApiError.bad_request("message to be replied not found")

    def _file(self, params: JSONDict, kind: str) -> SentFile:
        value = params.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        if isinstance(value, Upload):
            return self._store_upload(value, kind)
        if isinstance(value, str) and value:
            if value in self._files:
                return self._files[value]
            if value.startswith(("http://", "https://")):
                return self._new_file(kind, None, url=value)
            raise ApiError.bad_request("wrong file identifier/HTTP URL specified")
        raise ApiError.bad_request(f"there is no {kind} in the request")

    def _store_upload(self, upload: Upload, kind: str) -> SentFile:
        if not upload.content:
            raise ApiError.bad_request("file must be non-empty")
        if len(upload.content) > MAX_UPLOAD:
            raise ApiError(413, "Request Entity Too Large")
        if kind != "photo":
            return self._new_file(kind, upload)
        size = image_size(upload.content)
        if size is None:
            raise ApiError.bad_request("IMAGE_PROCESS_FAILED")
        width, height = size
        if width + height > 10000 or (
            width and height and max(width, height) > 20 * min(width, height)
        ):
            raise ApiError.bad_request("PHOTO_INVALID_DIMENSIONS")
        return self._new_file(kind, upload, width=width, height=height)

    def _new_file(
        self,
        kind: str,
        upload: Upload | None,
        *,
        url: str | None = None,
        width: int = 0,
        height: int = 0,
    ) -> SentFile:
        number = next(self._file_ids)
        sent = SentFile(
            file_id=f"{'AgAC' if kind == 'photo' else 'BQAC'}-fake-{number}",
            file_unique_id=f"AQAD-fake-{number}",
            file_name=upload.filename if upload and kind != "photo" else None,
            mime_type=upload.mime_type if upload and kind != "photo" else None,
            content=upload.content if upload else None,
            url=url,
            width=width,
            height=height,
        )
        self._files[sent.file_id] = sent
        return sent

    # ------------------------------------------------------------------- editing

    def edit_message_text(self, params: JSONDict) -> JSONDict:
        message = self._edit_target(params)
        if message.is_media:
            raise ApiError.bad_request("there is no text in the message to edit")
        text, entities = formatted_text(params, "text", "entities", MAX_TEXT)
        if not text:
            raise ApiError.bad_request("message text is empty")
        # Telegram drops the inline keyboard of an edit that does not repeat it.
        inline = inline_markup(params.get("reply_markup"))
        if (text, entities, inline) == (message.text, message.entities, message.reply_markup):
            raise ApiError.not_modified()
        message.text, message.entities, message.reply_markup = text, entities, inline
        message.parse_mode = params.get("parse_mode")
        message.revise(self.now())
        return message.to_json()

    def edit_message_caption(self, params: JSONDict) -> JSONDict:
        message = self._edit_target(params)
        if not message.is_media:
            raise ApiError.bad_request("there is no caption in the message to edit")
        caption, entities = formatted_text(params, "caption", "caption_entities", MAX_CAPTION)
        inline = inline_markup(params.get("reply_markup"))
        current = (message.caption, message.caption_entities, message.reply_markup)
        if (caption, entities, inline) == current:
            raise ApiError.not_modified()
        message.caption, message.caption_entities = caption, entities
        message.reply_markup = inline
        message.revise(self.now())
        return message.to_json()

    def edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        message = self._edit_target(params)
        inline = inline_markup(params.get("reply_markup"))
        if inline == message.reply_markup:
            raise ApiError.not_modified()
        message.reply_markup = inline
        message.revise(self.now())
        return message.to_json()

    def delete_message(self, params: JSONDict) -> bool:
        state = self._chat(params)
        if not self._delete(state, params.get("message_id")):
            raise ApiError.bad_request("message to delete not found")
        return True

    def delete_messages(self, params: JSONDict) -> bool:
        state = self._chat(params)
        for message_id in params.get("message_ids") or []:
            self._delete(state, message_id)
        return True

    def _delete(self, state: ChatState, message_id: object) -> bool:
        if not isinstance(message_id, int):
            raise ApiError.bad_request("message identifier is not specified")
        bot_message = state.bot_messages.get(message_id)
        if bot_message is not None and not bot_message.deleted:
            bot_message.deleted = True
            return True
        return state.user_messages.pop(message_id, None) is not None

    def _edit_target(self, params: JSONDict) -> BotMessage:
        if params.get("inline_message_id"):
            raise ApiError.bad_request("MESSAGE_ID_INVALID")
        state = self._target(params)
        message_id = params.get("message_id")
        if message_id is None:
            raise ApiError.bad_request("message identifier is not specified")
        message = state.bot_messages.get(message_id)
        if message is None or message.deleted:
            if message_id in state.user_messages:
                raise ApiError.bad_request("message can't be edited")
            raise ApiError.bad_request("message to edit not found")
        return message

    # ----------------------------------------------------------- callback queries

    def open_callback_query(self, sender: JSONDict, message: BotMessage, data: str) -> JSONDict:
        """Register a press on message and return the CallbackQuery object for the update."""
        with self._lock:
            query_id = str(next(self._query_ids))
            self._queries[query_id] = CallbackQuery(
                query_id, message.chat_id, message.message_id, data
            )
            return {
                "id": query_id,
                "from": sender,
                "message": message.to_json(),
                "chat_instance": f"fake-{message.chat_id}",
                "data": data,
            }

    def answer_callback_query(self, params: JSONDict) -> bool:
        query = self._queries.get(str(params.get("callback_query_id") or ""))
        if query is None or query.answer is not None:
            raise ApiError.bad_request(_QUERY_INVALID)
        self._touched_chat = query.chat_id
        query.answer = params
        return True

    def callback_answer(self, query_id: str) -> JSONDict | None:
        """The answerCallbackQuery parameters for this query, or None while unanswered."""
        with self._lock:
            query = self._queries.get(query_id)
            if query is None:
                raise AssertionError(f"no callback query {query_id!r}")
            return query.answer

    def unanswered_callback_queries(self) -> list[CallbackQuery]:
        """Presses the bot never answered (the user's button keeps spinning)."""
        with self._lock:
            return [query for query in self._queries.values() if query.answer is None]

    # --------------------------------------------------------------------- chats

    def _chat(self, params: JSONDict) -> ChatState:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError.bad_request("chat_id is empty")
        state = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if state is None:
            raise ApiError.bad_request("chat not found")
        return state

    def _target(self, params: JSONDict) -> ChatState:
        """The chat a message goes to, refusing chats that blocked the bot."""
        state = self._chat(params)
        if state.chat["id"] in self._blocked:
            raise ApiError.blocked()
        return state


def _true(params: JSONDict) -> bool:
    return True


def _commands_key(params: JSONDict) -> tuple[str, str]:
    scope = params.get("scope")
    if not scope or (isinstance(scope, dict) and scope.get("type") == "default"):
        scope_key = "default"
    else:
        scope_key = json.dumps(scope, sort_keys=True)
    return scope_key, str(params.get("language_code") or "")
