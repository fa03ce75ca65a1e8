"""Anything unexpected gets a clear, polite reply and loses nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from storage import invites as invite_repo
from storage.models import InviteKind
from tests.bot.conftest import ADMIN_ID, BotWorld, Clock, start_world, stop_world
from tests.fakes.records import ApiError
from tests.fakes.telegram_server import FakeUser


async def start_buyer(world: BotWorld, user_id: int = 501) -> FakeUser:
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(user_id, "Ola")
    buyer.send_command("/start", token)
    await world.deliver()
    return buyer


def last_callback_answer(world: BotWorld) -> str | None:
    params = world.telegram.calls_of("answerCallbackQuery")[-1].params
    text = params.get("text")
    return None if text is None else str(text)


async def test_a_stale_button_is_called_outdated_and_the_current_question_stays(
    world: BotWorld,
) -> None:
    buyer = await start_buyer(world)
    first = buyer.last_message()
    nps_ten = first.find_button("10")
    assert nps_ten is not None
    buyer.press("10")
    await world.deliver()
    buyer.press("Skip ▶")
    await world.deliver()
    current = buyer.last_message()
    sent = len(world.telegram.calls_of("sendMessage"))
    buyer.press_data(nps_ten.data, first.message_id)  # the old NPS keyboard, pressed again
    await world.deliver()
    assert last_callback_answer(world) == (
        "That button belongs to a question already answered — the current one is below."
    )
    # The current question is on screen: the toast is all (no copy of it is sent).
    assert len(world.telegram.calls_of("sendMessage")) == sent
    assert buyer.last_message() is current and "Question 3 of 7" in current.text
    [state] = await world.session_states()
    assert state["answers"]["nps"] == 10


@pytest.mark.parametrize("data", ["garbage", "f1:a:1:nps", "f9:a:1:nps:3", "f1:zz:1", "f1:ev:x"])
async def test_callback_data_that_does_not_parse_is_ignored_with_a_notice(
    world: BotWorld, data: str
) -> None:
    buyer = await start_buyer(world)
    buyer.press_data(data, buyer.last_message().message_id)
    await world.deliver()
    assert last_callback_answer(world) == "This button doesn't work any more."
    assert await world.session_states() == [{"answers": {}, "history": [], "pending": []}]


async def test_a_button_of_another_users_session_is_refused(world: BotWorld) -> None:
    await start_buyer(world, 501)
    intruder = await start_buyer(world, 502)
    victim_session = (await world.rows("SELECT id FROM sessions WHERE respondent_id = 501"))[0][0]
    intruder.press_data(f"f1:a:{victim_session}:nps:0", intruder.last_message().message_id)
    await world.deliver()
    assert last_callback_answer(world) == "This button doesn't work any more."
    states = await world.rows("SELECT state_json FROM sessions ORDER BY id")
    assert all('"nps"' not in s for (s,) in states)


@pytest.mark.parametrize("send", ["sticker", "photo", "voice"])
async def test_stickers_photos_and_voice_get_a_polite_pointer(world: BotWorld, send: str) -> None:
    buyer = await start_buyer(world)
    getattr(buyer, f"send_{send}")()
    await world.deliver()
    assert "only read text and button presses" in buyer.last_message().text


async def test_an_edited_message_is_not_read(world: BotWorld) -> None:
    buyer = await start_buyer(world)
    buyer.press("3")
    await world.deliver()
    answer = buyer.send_text("Too bitter")
    await world.deliver()
    buyer.edit_message(answer["message"]["message_id"], "Actually fine")
    await world.deliver()
    assert "don't read edited messages" in buyer.last_message().text
    state = (await world.rows("SELECT state_json FROM sessions"))[0][0]
    assert "Too bitter" in state and "Actually fine" not in state


async def test_an_unknown_command_points_to_help(world: BotWorld) -> None:
    user = world.user(600)
    user.send_text("/frobnicate")
    await world.deliver()
    assert "don't know that command" in user.last_message().text


async def test_invites_that_are_malformed_unknown_expired_revoked_or_used_up(
    world: BotWorld,
) -> None:
    user = world.user(601)
    expired = await world.invite(InviteKind.BUYER, "coffee", expires_in=timedelta(hours=1))
    revoked = await world.invite(InviteKind.BUYER, "coffee")
    used_up = await world.invite(InviteKind.OWNER, "coffee", max_uses=1)
    async with world.services.db.transaction() as conn:
        await invite_repo.revoke_invite(conn, world.services.secret, revoked, now=world.clock())
    world.world_owner = world.user(602)  # type: ignore[attr-defined]
    world.world_owner.send_command("/start", used_up)  # type: ignore[attr-defined]
    await world.deliver()
    world.clock.advance(hours=2)
    expected = {
        "not a token!": "doesn't look right",
        "A" * 43: "don't recognise this invite",
        expired: "has expired",
        revoked: "was withdrawn",
        used_up: "already been used as many times as allowed",
    }
    for payload, words in expected.items():
        user.send_command("/start", payload.replace(" ", "_") if " " in payload else payload)
        await world.deliver()
        assert words in user.last_message().text, payload


async def test_a_group_chat_is_told_the_bot_works_in_private_only(world: BotWorld) -> None:
    user = world.user(603)
    user.send_in_group("/start")
    await world.deliver()
    group_messages = [
        m for m in world.telegram.calls_of("sendMessage") if int(m.params["chat_id"]) < 0
    ]
    assert group_messages and "private chats only" in str(group_messages[-1].params["text"])


async def test_a_new_invite_while_a_survey_is_open_asks_which_to_continue(
    world: BotWorld,
) -> None:
    buyer = await start_buyer(world)
    buyer.press("6")
    await world.deliver()
    employee_token = await world.invite(InviteKind.EMPLOYEE, "sales")
    buyer.send_command("/start", employee_token)
    await world.deliver()
    offer = buyer.last_message()
    assert "unfinished survey about Morning Coffee" in offer.text
    assert offer.button_texts == ["▶ Continue where I left off", "Drop it and open the new link"]
    buyer.press("Drop it and open the new link")
    await world.deliver()
    assert buyer.last_message().button_texts == ["Customer service", "Marketing"]
    assert await world.rows("SELECT count(*) FROM sessions") == [(0,)]


async def test_a_survey_resumes_after_the_application_is_rebuilt(
    tmp_path: Path,
    clock: Clock,
) -> None:
    world = await start_world(tmp_path, clock)
    buyer = await start_buyer(world)
    buyer.press("10")
    await world.deliver()
    buyer.send_text("Great taste")
    await world.deliver()
    await stop_world(world)

    again = await start_world(tmp_path, clock, telegram=world.telegram, seed=False)
    try:
        buyer.send_command("/start")
        await again.deliver()
        offer = buyer.last_message()
        assert "stopped at question 3" in offer.text
        buyer.press("▶ Continue where I left off")
        await again.deliver()
        assert "Question 3 of 7" in buyer.last_message().text
        for press in ["5", "7", "Done ✓", "Skip ▶", "No"]:
            buyer.press(press)
            await again.deliver()
        rows = await again.rows(
            "SELECT question_id, coalesce(number, text, choice) FROM answers"
            " ORDER BY response_id, position"
        )
        assert rows == [
            ("nps", 10),
            ("nps_promoter", "Great taste"),
            ("csat", 5),
            ("effort", 7),
            ("contact_consent", 0),
        ]
    finally:
        await stop_world(again)


async def test_a_non_admin_gets_a_polite_no_for_admin_commands(world: BotWorld) -> None:
    user = world.user(604)
    for command in ["/invite buyer coffee", "/departments", "/products", "/adddepartment x X"]:
        user.send_text(command)
        await world.deliver()
        assert user.last_message().text == "Sorry, only administrators can do that."
    assert await world.rows("SELECT count(*) FROM invites") == [(0,)]


async def test_an_admin_creates_subjects_and_invites_in_chat(world: BotWorld) -> None:
    admin = world.user(ADMIN_ID, "Admin")
    admin.send_text("/adddepartment it Dział IT | IT department")
    await world.deliver()
    assert "Department added: it — IT department" in admin.last_message().text
    admin.send_text("/invite employee it")
    await world.deliver()
    text = admin.last_message().text
    assert "https://t.me/feedbot_test_bot?start=" in text
    token = text.split("?start=")[1].split()[0]
    newcomer = world.user(605)
    newcomer.send_command("/start", token)
    await world.deliver()
    assert any("member of IT department" in t for t in world.telegram.texts(605))
    admin.send_text("/departments")
    await world.deliver()
    assert "it — IT department" in admin.last_message().text


async def test_help_lists_exactly_the_commands_this_user_may_use(world: BotWorld) -> None:
    stranger = world.user(606)
    stranger.send_command("/help")
    await world.deliver()
    listed = {
        line.split(" ")[0]
        for line in stranger.last_message().text.splitlines()
        if line.startswith("/")
    }
    assert listed == {"/start", "/help", "/lang", "/cancel"}
    admin = world.user(ADMIN_ID)
    admin.send_command("/help")
    await world.deliver()
    assert "/invite" in admin.last_message().text and "/digest" not in admin.last_message().text


async def test_lang_switches_every_later_reply(world: BotWorld) -> None:
    user = world.user(607, lang="en")
    user.send_text("/lang pl")
    await world.deliver()
    assert user.last_message().text == "Gotowe — od teraz mówię po polsku."
    user.send_command("/help")
    await world.deliver()
    assert "Polecenia, z których możesz korzystać" in user.last_message().text


async def test_an_update_redelivered_after_a_restart_is_applied_once(
    tmp_path: Path,
    clock: Clock,
) -> None:
    world = await start_world(tmp_path, clock)
    buyer = await start_buyer(world)
    press = buyer.press("8")
    await world.deliver()
    # (The press is answered again, in case the first process died before answering it;
    # Telegram refuses the second answer, which shows nothing.)
    replies = ("sendMessage", "editMessageText", "editMessageReplyMarkup")
    before = [len(world.telegram.calls_of(method)) for method in replies]
    await stop_world(world)

    again = await start_world(tmp_path, clock, telegram=world.telegram, seed=False)
    try:
        world.telegram.requeue(press)  # Telegram had not seen the offset confirming it
        await again.deliver()
        assert [len(world.telegram.calls_of(method)) for method in replies] == before
        [state] = await again.session_states()
        assert state["answers"] == {"nps": 8}
        assert "Question 2 of 7" in buyer.last_message().text
    finally:
        await stop_world(again)


async def test_resuming_removes_the_keyboard_of_the_earlier_copy(world: BotWorld) -> None:
    buyer = await start_buyer(world)
    buyer.press("10")
    await world.deliver()
    buyer.press("Skip ▶")
    await world.deliver()
    csat = buyer.last_message()
    assert csat.reply_markup is not None
    buyer.send_command("/start")
    await world.deliver()
    buyer.press("▶ Continue where I left off")
    await world.deliver()
    assert world.telegram.message(buyer.id, csat.message_id).reply_markup is None
    assert "Question 3 of 7" in buyer.last_message().text
    assert buyer.last_message().message_id != csat.message_id


async def test_answering_an_earlier_copy_removes_the_keyboard_of_the_later_one(
    world: BotWorld,
) -> None:
    buyer = await start_buyer(world)
    buyer.press("10")
    await world.deliver()
    buyer.press("Skip ▶")
    await world.deliver()
    csat = buyer.last_message()
    buyer.send_command("/start")
    await world.deliver()
    # Resuming re-sends the question, and the earlier copy keeps its buttons (Telegram
    # failed to remove them).
    world.telegram.fail_next(
        "editMessageReplyMarkup", ApiError.bad_request("message can't be edited")
    )
    buyer.press("▶ Continue where I left off")
    await world.deliver()
    again = buyer.last_message()
    assert again.message_id > csat.message_id
    assert world.telegram.message(buyer.id, csat.message_id).reply_markup is not None
    buyer.press("5", message_id=csat.message_id)
    await world.deliver()
    assert world.telegram.message(buyer.id, again.message_id).reply_markup is None
    with_buttons = [m for m in world.telegram.messages(buyer.id) if m.reply_markup is not None]
    assert [m.message_id for m in with_buttons] == [buyer.last_message().message_id]
    assert "Question 4 of 7" in buyer.last_message().text
