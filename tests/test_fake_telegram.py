"""The fake Bot API behaves like Telegram for a real PTB application, in-process and over HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.html_parser import parse_html
from tests.fakes.http_server import BotApiServer
from tests.fakes.request import FakeRequest, deliver
from tests.fakes.telegram_server import ApiError, Button, FakeTelegram

App = Application[Any, Any, Any, Any, Any, Any]
TOKEN = "123456:TEST-TOKEN"
# A 3x2 PNG: signature and IHDR are all Telegram needs to read its size.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (3).to_bytes(4, "big") + (2).to_bytes(4, "big")
PNG += b"\x08\x02\x00\x00\x00\r\n\x1a\n"

CHOICES = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Yes", callback_data="v1:yes"),
            InlineKeyboardButton("No", callback_data="v1:no"),
        ],
        [InlineKeyboardButton("Website", url="https://example.com")],
    ]
)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet, echoing the deep-link payload."""
    assert update.effective_message is not None
    payload = " ".join(context.args or []) or "none"
    await update.effective_message.reply_html(f"<b>Welcome!</b> payload={payload}")


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Repeat the text with a question keyboard."""
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text, reply_markup=CHOICES)


async def choose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the press and replace the question by the choice."""
    query = update.callback_query
    assert query is not None
    await query.answer("Saved")
    await query.edit_message_text(f"You chose {query.data}")


async def note_membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remember the last membership change the bot was told about."""
    assert update.my_chat_member is not None
    context.bot_data["status"] = update.my_chat_member.new_chat_member.status


def add_handlers(app: App) -> App:
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(choose))
    app.add_handler(ChatMemberHandler(note_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    return app


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram(token=TOKEN, max_poll_wait=1.0)


@pytest.fixture
async def app(fake: FakeTelegram) -> AsyncIterator[App]:
    builder = ApplicationBuilder().token(TOKEN)
    application = builder.request(FakeRequest(fake)).get_updates_request(FakeRequest(fake)).build()
    async with add_handlers(application):
        yield application


# ------------------------------------------------------------------ in-process flows


async def test_a_user_message_gets_an_echo_with_buttons(fake: FakeTelegram, app: App) -> None:
    ann = fake.user(42, "Ann")
    ann.send_text("hello")

    assert await deliver(app, fake) == 1

    reply = fake.last_message(42)
    assert reply.text == "hello"
    assert reply.buttons == [
        [Button("Yes", "v1:yes"), Button("No", "v1:no")],
        [("Website", "https://example.com")],
    ]
    assert reply.message_id == 2  # the user's message took id 1 in the same chat
    assert [call.method for call in fake.calls] == ["getMe", "sendMessage"]


async def test_a_deep_link_start_carries_its_payload(fake: FakeTelegram, app: App) -> None:
    update = fake.user(42).send_command("/start", "inv-abc123")

    await deliver(app, fake)

    entity = update["message"]["entities"][0]
    assert (entity["type"], entity["offset"], entity["length"]) == ("bot_command", 0, 6)
    welcome = fake.last_message(42)
    assert welcome.text == "Welcome! payload=inv-abc123"
    assert welcome.entities == [{"type": "bold", "offset": 0, "length": 8}]
    assert welcome.parse_mode == ParseMode.HTML


async def test_a_pressed_button_is_answered_and_its_message_edited(
    fake: FakeTelegram, app: App
) -> None:
    ann = fake.user(42)
    ann.send_text("Ready?")
    await deliver(app, fake)

    query_id = ann.press("Yes")["callback_query"]["id"]
    await deliver(app, fake)

    question = fake.last_message(42)
    assert question.text == "You chose v1:yes"
    assert question.edited
    assert [revision.text for revision in question.history] == ["Ready?", "You chose v1:yes"]
    assert question.buttons == []  # an edit without reply_markup drops the keyboard
    assert fake.callback_answer(query_id) == {"callback_query_id": query_id, "text": "Saved"}
    assert fake.unanswered_callback_queries() == []


async def test_pressing_a_missing_button_lists_the_ones_shown(fake: FakeTelegram, app: App) -> None:
    ann = fake.user(42)
    ann.send_text("Ready?")
    await deliver(app, fake)

    with pytest.raises(AssertionError, match=r"no button 'Maybe'.*'Yes', 'No', 'Website'"):
        ann.press("Maybe")
    with pytest.raises(AssertionError, match="not a callback button"):
        ann.press("Website")


async def test_forged_callback_data_reaches_the_bot(fake: FakeTelegram, app: App) -> None:
    ann = fake.user(42)
    ann.send_text("Ready?")
    await deliver(app, fake)

    ann.press_data("v0:stale", message_id=fake.last_message(42).message_id)
    await deliver(app, fake)

    assert fake.last_message(42).text == "You chose v0:stale"


async def test_user_side_updates_have_telegram_shapes(fake: FakeTelegram, app: App) -> None:
    ann = fake.user(42, "Ann", language_code="pl")
    updates = [
        ann.send_sticker(),
        ann.send_photo(caption="receipt"),
        ann.send_voice(),
        ann.send_document("notes.pdf"),
        ann.edit_message(ann.send_text("typo")["message"]["message_id"], "fixed"),
        ann.send_in_group("hi all"),
    ]

    parsed = [Update.de_json(data, app.bot) for data in updates]

    assert [u.update_id for u in parsed] == sorted(u.update_id for u in parsed)
    first = parsed[0].message
    assert first is not None and first.sticker is not None
    assert first.from_user is not None and first.from_user.language_code == "pl"
    photo = parsed[1].message
    assert photo is not None and photo.photo and photo.caption == "receipt"
    voice, document = parsed[2].message, parsed[3].message
    assert voice is not None and voice.voice is not None
    assert document is not None and document.document is not None
    edited = parsed[4].edited_message
    assert edited is not None and edited.text == "fixed" and edited.edit_date is not None
    group = parsed[5].message
    assert group is not None and group.chat.type == "group" and group.chat.id < 0


# ------------------------------------------------------------- Telegram's errors


async def test_a_simulated_flood_raises_retry_after_once(fake: FakeTelegram, app: App) -> None:
    fake.user(42)
    fake.fail_next("sendMessage", ApiError.flood(retry_after=1))

    with pytest.raises(RetryAfter, match="Retry in"):
        await app.bot.send_message(42, "first")
    await app.bot.send_message(42, "second")

    assert fake.texts(42) == ["second"]
    assert [(f.method, f.error_code) for f in fake.failures] == [("sendMessage", 429)]


async def test_failures_can_target_one_chat(fake: FakeTelegram, app: App) -> None:
    fake.user(1), fake.user(2)
    fake.fail_next("sendMessage", ApiError.server_error(), times=None, chat_id=2)

    await app.bot.send_message(1, "fine")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await app.bot.send_message(2, "down")

    assert fake.texts(1) == ["fine"] and fake.texts(2) == []


async def test_a_user_who_blocked_the_bot_is_forbidden(fake: FakeTelegram, app: App) -> None:
    ann = fake.user(42)
    ann.block_bot()
    await deliver(app, fake)

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await app.bot.send_message(42, "still there?")
    assert app.bot_data["status"] == "kicked"

    ann.unblock_bot()
    await app.bot.send_message(42, "welcome back")


async def test_edits_fail_like_telegram(fake: FakeTelegram, app: App) -> None:
    fake.user(42)
    sent = await app.bot.send_message(42, "Question", reply_markup=CHOICES)

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await app.bot.edit_message_text("Question", 42, sent.message_id, reply_markup=CHOICES)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await app.bot.edit_message_text("Other", 42, 999)
    await app.bot.edit_message_reply_markup(42, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await app.bot.edit_message_reply_markup(42, sent.message_id)

    assert fake.last_message(42).buttons == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": "x" * 4097}, "message is too long"),
        ({"text": " \n "}, "message text is empty"),
        ({"text": "<b>unclosed", "parse_mode": "HTML"}, "can't find end tag"),
        ({"text": "1 < 2", "parse_mode": "HTML"}, 'unsupported start tag ""'),
        # The bot sends HTML only: the fake parses no Markdown, so a Markdown text fails.
        ({"text": "Done.", "parse_mode": "MarkdownV2"}, "unsupported parse_mode"),
        (
            {
                "text": "x",
                "reply_markup": InlineKeyboardMarkup(
                    [[InlineKeyboardButton("long", callback_data="d" * 65)]]
                ),
            },
            "button_data_invalid",
        ),
    ],
)
async def test_invalid_messages_are_refused(
    fake: FakeTelegram, app: App, kwargs: dict[str, Any], error: str
) -> None:
    fake.user(42)

    with pytest.raises(BadRequest) as raised:
        await app.bot.send_message(42, **kwargs)

    assert error in str(raised.value).lower()
    assert fake.messages(42) == []


async def test_unknown_chats_and_methods_are_refused(fake: FakeTelegram, app: App) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await app.bot.send_message(777, "anyone?")
    with pytest.raises(EndPointNotFound):
        await app.bot.do_api_request("sendTelepathy")


# ------------------------------------------------------------ files and settings


async def test_documents_and_photos_keep_their_bytes(fake: FakeTelegram, app: App) -> None:
    fake.user(42)

    await app.bot.send_document(42, b"a,b\r\n1,2\r\n", filename="export.csv", caption="Export")
    sent = await app.bot.send_photo(42, PNG, caption="<i>Trend</i>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
        await app.bot.send_photo(42, b"<svg/>")

    document, photo = fake.messages(42)
    assert document.document is not None and document.caption == "Export"
    assert (document.document.file_name, document.document.content) == (
        "export.csv",
        b"a,b\r\n1,2\r\n",
    )
    assert photo.photo is not None and (photo.photo.width, photo.photo.height) == (3, 2)
    assert photo.caption == "Trend" and sent.photo[-1].width == 3
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await app.bot.send_photo(42, photo.photo.file_id, caption="c" * 1025)


async def test_commands_are_kept_per_language_and_scope(fake: FakeTelegram, app: App) -> None:
    await app.bot.set_my_commands([("start", "Start"), ("help", "Help")])
    await app.bot.set_my_commands([("start", "Zacznij")], language_code="pl")

    assert fake.commands() == [("start", "Start"), ("help", "Help")]
    assert fake.commands(language_code="pl") == [("start", "Zacznij")]
    polish = await app.bot.get_my_commands(language_code="pl")
    assert [(c.command, c.description) for c in polish] == [("start", "Zacznij")]


async def test_deleted_messages_disappear(fake: FakeTelegram, app: App) -> None:
    fake.user(42)
    sent = await app.bot.send_message(42, "temporary")
    await app.bot.send_chat_action(42, "typing")

    assert await app.bot.delete_message(42, sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await app.bot.delete_message(42, sent.message_id)

    assert fake.messages(42) == []
    assert fake.messages(42, include_deleted=True)[0].deleted
    assert fake.calls_of("sendChatAction")[0].params == {"chat_id": 42, "action": "typing"}


# ------------------------------------------------------------------ getUpdates


async def test_get_updates_confirms_by_offset(fake: FakeTelegram, app: App) -> None:
    ann = fake.user(42)
    for text in ("one", "two", "three"):
        ann.send_text(text)

    first = await app.bot.get_updates(limit=2, timeout=0)
    again = await app.bot.get_updates(timeout=0)
    rest = await app.bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    await app.bot.get_updates(offset=rest[-1].update_id + 1, timeout=0)

    assert [u.message.text for u in first if u.message] == ["one", "two"]
    assert len(again) == 3  # nothing is confirmed without an offset
    assert [u.message.text for u in rest if u.message] == ["three"]
    assert fake.pending_count == 0


async def _polling(fake: FakeTelegram) -> None:
    """Wait until the fake holds the getUpdates just started: a fixed sleep would not
    always be long enough on a loaded machine, and a wake-up sent before the poll began
    would not end it."""
    polls = len(fake.calls_of("getUpdates"))
    await fake.async_wait_for(lambda: len(fake.calls_of("getUpdates")) > polls, 10)


async def test_a_long_poll_returns_as_soon_as_an_update_arrives(
    fake: FakeTelegram, app: App
) -> None:
    poll = asyncio.create_task(app.bot.get_updates(timeout=30))
    await _polling(fake)

    fake.user(42).send_text("now")
    # Asked to wait up to 30 s, it returns with the update well within 10 s.
    updates = await asyncio.wait_for(poll, 10)

    assert [u.message.text for u in updates if u.message] == ["now"]


async def test_long_polls_can_be_cut_short(fake: FakeTelegram, app: App) -> None:
    fake.max_poll_wait = None
    poll = asyncio.create_task(app.bot.get_updates(timeout=30))
    await _polling(fake)

    fake.wake_pollers()

    assert await asyncio.wait_for(poll, 10) == ()


async def test_a_second_poller_terminates_the_first(fake: FakeTelegram, app: App) -> None:
    first = asyncio.create_task(app.bot.get_updates(timeout=30))
    await _polling(fake)

    await app.bot.get_updates(timeout=0)

    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 10)


def test_an_unconfirmed_update_can_be_delivered_again(fake: FakeTelegram) -> None:
    update = fake.user(42).send_text("twice")
    assert fake.pending_updates() == [update]

    fake.requeue(update)

    assert fake.pending_updates() == [update]


async def test_a_waiter_for_one_chat_ignores_the_others(fake: FakeTelegram, app: App) -> None:
    for user_id in (1, 2):
        fake.user(user_id)
    checks = 0

    def first_chat_answered() -> bool:
        nonlocal checks
        checks += 1
        return bool(fake.messages(1))

    waiting = asyncio.create_task(fake.async_wait_for(first_chat_answered, 2, chat_id=1))
    await asyncio.sleep(0)
    for n in range(20):
        await app.bot.send_message(2, f"busy {n}")
    await app.bot.send_message(1, "yours")
    await waiting

    assert checks <= 3  # the first look, at most one spurious wake-up, the answer
    assert [m.text for m in await fake.async_wait_for_messages(1, 1)] == ["yours"]


async def test_waiting_gives_up_with_the_recent_calls(fake: FakeTelegram, app: App) -> None:
    await app.bot.get_me()

    with pytest.raises(AssertionError, match=r"(?s)timed out after 0.05 s.*getMe"):
        await fake.async_wait_for(lambda: fake.messages(42), timeout=0.05)


# ------------------------------------------------------------------ over HTTP


async def test_a_polling_bot_talks_to_the_http_server(fake: FakeTelegram) -> None:
    with BotApiServer(fake) as server:
        bot_app = add_handlers(ApplicationBuilder().token(TOKEN).base_url(server.url).build())
        async with bot_app:
            await bot_app.start()
            assert bot_app.updater is not None
            await bot_app.updater.start_polling(poll_interval=0, timeout=5)
            await fake.async_wait_for(lambda: fake.calls_of("getUpdates"), timeout=60)
            ann = fake.user(42)

            ann.send_command("/start", "abc")
            ann.send_text("Ready?")
            await fake.async_wait_for(lambda: len(fake.messages(42)) == 2, timeout=60)
            ann.press("No")
            await fake.async_wait_for(lambda: fake.last_message(42).edited, timeout=60)
            await bot_app.updater.stop()
            await bot_app.stop()

    assert fake.texts(42) == ["Welcome! payload=abc", "You chose v1:no"]
    assert fake.unanswered_callback_queries() == []
    assert fake.pending_count == 0  # the updater confirmed everything on its way out
    assert fake.calls_of("deleteWebhook")


def test_the_http_server_speaks_form_json_and_errors(fake: FakeTelegram) -> None:
    fake.user(42)
    with BotApiServer(fake) as server:
        base = f"{server.url}{TOKEN}"
        markup = json.dumps({"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]})
        form = urllib.parse.urlencode({"chat_id": "42", "text": "form", "reply_markup": markup})
        sent = _post(f"{base}/sendMessage", form.encode(), "application/x-www-form-urlencoded")
        body = json.dumps({"chat_id": 42, "text": "json"}).encode()
        _post(f"{base}/sendMessage", body, "application/json")
        status, error = _get(f"{server.url}999:WRONG/getMe")
        missing_status, missing = _get(f"{base}/sendMessage?chat_id=42&text=")

    assert sent["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "go"
    assert fake.texts(42) == ["form", "json"]
    assert fake.last_message(42).chat_id == 42
    assert (status, error["description"]) == (401, "Unauthorized")
    assert (missing_status, missing["description"]) == (400, "Bad Request: message text is empty")


def test_waiting_for_messages_sent_from_another_thread(fake: FakeTelegram) -> None:
    fake.user(42)
    with BotApiServer(fake) as server:
        body = json.dumps({"chat_id": 42, "text": "late"}).encode()
        sender = threading.Timer(
            0.05, _post, (f"{server.url}{TOKEN}/sendMessage", body, "application/json")
        )
        sender.start()

        assert [m.text for m in server.wait_for_messages(42, 1, timeout=60)] == ["late"]
        with pytest.raises(AssertionError, match="2 bot messages in chat 42"):
            server.wait_for_messages(42, 2, timeout=0.05)
        sender.join()


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("html", "text", "entities"),
    [
        ("<b>bold</b> &lt;tag&gt;", "bold <tag>", [("bold", 0, 4)]),
        ('<a href="https://t.me">link</a>', "link", [("text_link", 0, 4)]),
        ("🏟 <i>x</i>", "🏟 x", [("italic", 3, 1)]),  # offsets count UTF-16 units
        ('<pre><code class="language-py">x</code></pre>', "x", [("pre", 0, 1)]),
    ],
)
def test_html_is_parsed_into_text_and_entities(
    html: str, text: str, entities: list[tuple[str, int, int]]
) -> None:
    parsed_text, parsed = parse_html(html)

    assert parsed_text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


def _post(url: str, body: bytes, content_type: str) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=60) as response:
        decoded: dict[str, Any] = json.loads(response.read())
        return decoded


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
