"""FakeUser: a Telegram user who talks to the bot by queuing updates on a FakeTelegram."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from .entities import utf16_len
from .records import BotMessage, JSONDict

if TYPE_CHECKING:
    from .telegram_server import FakeTelegram

DEFAULT_GROUP_ID = -4000000001


class FakeUser:
    """One user and their private chat with the bot.

    Every action queues an update (ids increase) and returns it as a JSON dict; the
    bot sees it once the test delivers it (deliver(app, fake)) or the bot polls.
    """

    def __init__(
        self,
        server: FakeTelegram,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> None:
        self.server = server
        self.id = user_id
        names: JSONDict = {"first_name": first_name}
        if last_name is not None:
            names["last_name"] = last_name
        if username is not None:
            names["username"] = username
        self.json: JSONDict = {"id": user_id, "is_bot": False, **names}
        if language_code is not None:
            self.json["language_code"] = language_code
        self.chat: JSONDict = {"id": user_id, "type": "private", **names}
        self._file_numbers = itertools.count(1)

    def __repr__(self) -> str:
        return f"FakeUser({self.id}, {self.json['first_name']!r})"

    # ----------------------------------------------------------------- messages

    def send_text(self, text: str) -> JSONDict:
        """A text message; a leading /command gets its bot_command entity as in the apps."""
        return self._send(_text_content(text))

    def send_command(self, command: str, payload: str | None = None) -> JSONDict:
        """`/start` or `/start <payload>` (what a t.me/bot?start=payload link sends)."""
        command = command if command.startswith("/") else f"/{command}"
        text = f"{command} {payload}" if payload else command
        return self._send(_text_content(text))

    def send_sticker(self, emoji: str = "👍") -> JSONDict:
        file_id, unique_id = self._file_ids("CAAC")
        sticker = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._send({"sticker": sticker})

    def send_photo(self, caption: str | None = None) -> JSONDict:
        file_id, unique_id = self._file_ids("AgAC")
        sizes = [
            {
                "file_id": f"{file_id}-s",
                "file_unique_id": f"{unique_id}-s",
                "width": 90,
                "height": 90,
                "file_size": 1200,
            },
            {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "width": 800,
                "height": 800,
                "file_size": 48000,
            },
        ]
        content: JSONDict = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return self._send(content)

    def send_voice(self, duration: int = 3) -> JSONDict:
        file_id, unique_id = self._file_ids("AwAC")
        voice = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": 4000 * duration,
        }
        return self._send({"voice": voice})

    def send_document(
        self, file_name: str = "notes.pdf", mime_type: str = "application/pdf"
    ) -> JSONDict:
        file_id, unique_id = self._file_ids("BQAC")
        document = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": 2048,
        }
        return self._send({"document": document})

    def send_raw(self, content: JSONDict) -> JSONDict:
        """A message with arbitrary content fields, e.g. {"location": {...}}."""
        return self._send(dict(content))

    def edit_message(self, message_id: int, text: str) -> JSONDict:
        """Edit one of the user's own text messages (an edited_message update)."""
        with self.server.lock:
            original = self.server.user_message(self.id, message_id)
            if original is None or "text" not in original:
                raise AssertionError(f"{self} has no text message #{message_id} to edit")
            content = _text_content(text)
            edited = {k: v for k, v in original.items() if k != "entities"}
            edited.update(content, edit_date=self.server.now())
            self.server.chat_state(self.chat).user_messages[message_id] = edited
            return self.server.enqueue_update("edited_message", dict(edited))

    def send_in_group(
        self, text: str, *, group_id: int = DEFAULT_GROUP_ID, title: str = "Team chat"
    ) -> JSONDict:
        """A message from this user in a group chat the bot is a member of."""
        group = {"id": group_id, "type": "group", "title": title}
        message = self.server.add_user_message(group, self.json, _text_content(text))
        return self.server.enqueue_update("message", dict(message))

    def _send(self, content: JSONDict) -> JSONDict:
        message = self.server.add_user_message(self.chat, self.json, content)
        # The queued update gets its own copy: a later edit must not rewrite history.
        return self.server.enqueue_update("message", dict(message))

    def _file_ids(self, prefix: str) -> tuple[str, str]:
        number = next(self._file_numbers)
        return f"{prefix}-user{self.id}-{number}", f"AgAD-user{self.id}-{number}"

    # ------------------------------------------------------------------ buttons

    def press(self, button: str, message_id: int | None = None) -> JSONDict:
        """Press the inline button labelled (or carrying callback_data) `button` on
        message_id, or on the latest bot message that has an inline keyboard."""
        with self.server.lock:
            message = self.server.keyboard_message(self.id, message_id)
            raw = message.raw_button(button)
            if raw is None:
                raise AssertionError(
                    f"{self} sees no button {button!r} on {message.describe()}; "
                    f"buttons: {message.button_texts}\n{self.server.transcript(self.id)}"
                )
            if "callback_data" not in raw:
                raise AssertionError(f"button {button!r} is not a callback button: {raw}")
            return self._press(message, str(raw["callback_data"]))

    def press_data(self, data: str, message_id: int) -> JSONDict:
        """Send callback data no button carries (a stale or forged press) from message_id."""
        with self.server.lock:
            return self._press(self.server.keyboard_message(self.id, message_id), data)

    def _press(self, message: BotMessage, data: str) -> JSONDict:
        query = self.server.open_callback_query(self.json, message, data)
        return self.server.enqueue_update("callback_query", query)

    # ------------------------------------------------------------ relationship

    def block_bot(self) -> JSONDict:
        """Block the bot: sends now fail with 403 and the bot gets a my_chat_member update."""
        self.server.set_blocked(self.id, True)
        return self._membership("member", "kicked")

    def unblock_bot(self) -> JSONDict:
        self.server.set_blocked(self.id, False)
        return self._membership("kicked", "member")

    def _membership(self, old: str, new: str) -> JSONDict:
        bot = self.server.bot_user
        change = {
            "chat": self.chat,
            "from": self.json,
            "date": self.server.now(),
            "old_chat_member": {"user": bot, "status": old, **_until(old)},
            "new_chat_member": {"user": bot, "status": new, **_until(new)},
        }
        return self.server.enqueue_update("my_chat_member", change)

    # --------------------------------------------------------------- read side

    def messages(self) -> list[BotMessage]:
        """The bot's messages in this user's private chat, in order."""
        return self.server.messages(self.id)

    def last_message(self) -> BotMessage:
        return self.server.last_message(self.id)

    def transcript(self) -> str:
        return self.server.transcript(self.id)


def _text_content(text: str) -> JSONDict:
    content: JSONDict = {"text": text}
    if text.startswith("/") and len(text) > 1:
        command = text.split(maxsplit=1)[0]
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
    return content


def _until(status: str) -> JSONDict:
    return {"until_date": 0} if status == "kicked" else {}
