"""Buyers: open a product invite, answer the external survey, change their mind."""

from __future__ import annotations

import pytest

from storage.models import InviteKind
from tests.bot.conftest import BotWorld
from tests.fakes.telegram_server import FakeUser


async def open_buyer_invite(world: BotWorld, user_id: int = 501, lang: str = "en") -> FakeUser:
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(user_id, "Ola", lang=lang)
    buyer.send_command("/start", token)
    await world.deliver()
    return buyer


async def stored_answers(world: BotWorld) -> dict[str, list[object]]:
    # The first non-NULL of the three in Python: PostgreSQL's coalesce() wants one type.
    rows = await world.rows(
        "SELECT a.question_id, a.number, a.text, a.choice FROM answers a "
        "JOIN responses r ON r.id = a.response_id ORDER BY a.response_id, a.position"
    )
    found: dict[str, list[object]] = {}
    for question_id, *values in rows:
        value = next((v for v in values if v is not None), None)
        found.setdefault(question_id, []).append(value)
    return found


@pytest.mark.parametrize(
    ("score", "follow_up_id", "follow_up_words"),
    [
        (3, "nps_detractor", "disappoint"),
        (7, "nps_passive", "10"),
        (10, "nps_promoter", "like most"),
    ],
)
async def test_a_buyer_completes_the_survey_on_each_nps_branch(
    world: BotWorld, score: int, follow_up_id: str, follow_up_words: str
) -> None:
    buyer = await open_buyer_invite(world)
    first = buyer.last_message()
    assert "Question 1 of 7" in first.text
    assert "Morning Coffee" in first.text
    assert "0 = not at all likely" in first.text
    assert [len(row) for row in first.buttons] == [6, 5, 1]  # 0-5, 6-10, Cancel

    buyer.press(str(score))
    await world.deliver()
    # The question is edited in place to show the answer, without its keyboard.
    answered = world.telegram.message(501, first.message_id)
    assert answered.text.endswith(f"→ {score}") and answered.reply_markup is None
    follow_up = buyer.last_message()
    assert "Question 2 of 7" in follow_up.text
    assert follow_up_words in follow_up.text
    buyer.send_text("The <b>aroma</b> & the price")
    await world.deliver()
    assert "Question 3 of 7" in buyer.last_message().text  # CSAT
    buyer.press("5")
    await world.deliver()
    buyer.press("6")  # effort, 1-7
    await world.deliver()
    buyer.press("Price")
    await world.deliver()
    assert "✓ Price" in buyer.last_message().button_texts
    buyer.press("✓ Price")  # un-toggle
    await world.deliver()
    buyer.press("Delivery")
    await world.deliver()
    buyer.press("Done ✓")
    await world.deliver()
    buyer.press("Skip ▶")  # the optional comment
    await world.deliver()
    assert "Question 7 of 7" in buyer.last_message().text
    buyer.press("Yes")
    await world.deliver()

    thanks = buyer.last_message()
    assert thanks.reply_markup is None
    assert "Morning Coffee" in thanks.text and "team" in thanks.text
    answers = await stored_answers(world)
    assert answers == {
        "nps": [score],
        follow_up_id: ["The <b>aroma</b> & the price"],
        "csat": [5],
        "effort": [6],
        "improve": ["delivery"],
        "contact_consent": [1],
    }
    # The buyer consented, so the response keeps how to reach them; no session identity remains.
    assert await world.rows("SELECT contact_id, status FROM responses") == [(501, "completed")]
    assert await world.rows("SELECT count(*) FROM sessions") == [(0,)]


async def test_a_buyer_who_goes_back_and_changes_the_score_switches_branch(
    world: BotWorld,
) -> None:
    buyer = await open_buyer_invite(world)
    buyer.press("2")
    await world.deliver()
    assert "disappoint" in buyer.last_message().text
    buyer.send_text("Too bitter")
    await world.deliver()
    buyer.press("◀ Back")
    await world.deliver()
    assert "disappoint" in buyer.last_message().text  # back at the follow-up
    buyer.press("◀ Back")
    await world.deliver()
    assert "Question 1 of 7" in buyer.last_message().text
    buyer.press("9")
    await world.deliver()
    assert "like most" in buyer.last_message().text
    for action in ["Skip ▶"]:
        buyer.press(action)
        await world.deliver()
    buyer.press("4")
    await world.deliver()
    buyer.press("2")
    await world.deliver()
    buyer.press("Done ✓")  # nothing selected on an optional multi: skipped
    await world.deliver()
    buyer.press("Skip ▶")
    await world.deliver()
    buyer.press("No")
    await world.deliver()
    answers = await stored_answers(world)
    assert answers == {"nps": [9], "csat": [4], "effort": [2], "contact_consent": [0]}
    # Without consent no contact is kept.
    assert await world.rows("SELECT contact_id FROM responses") == [(None,)]


async def test_skip_is_offered_only_on_optional_questions(world: BotWorld) -> None:
    buyer = await open_buyer_invite(world)
    assert "Skip ▶" not in buyer.last_message().button_texts  # NPS is required
    first = buyer.last_message()
    buyer.press_data("f1:s:1:nps", first.message_id)  # a forged Skip on a required question
    await world.deliver()
    # No Skip button exists there, so the press is forged: the same polite refusal.
    assert world.telegram.calls_of("answerCallbackQuery")[-1].params.get("text") == (
        "This button doesn't work any more."
    )
    assert await world.rows("SELECT state_json LIKE '%nps%' FROM sessions") == [(0,)]


async def test_cancel_drops_the_survey_and_keeps_nothing(world: BotWorld) -> None:
    buyer = await open_buyer_invite(world)
    buyer.press("8")
    await world.deliver()
    buyer.press("✖ Cancel")
    await world.deliver()
    assert "cancelled" in buyer.last_message().text
    # Nothing of the session is left: its row is deleted, only its start is counted.
    assert await world.rows("SELECT count(*) FROM sessions") == [(0,)]
    assert await world.rows("SELECT started FROM session_counts") == [(1,)]
    assert await world.rows("SELECT count(*) FROM responses") == [(0,)]
    assert await world.rows("SELECT count(*) FROM answers") == [(0,)]


async def test_a_second_survey_in_the_same_week_is_refused_with_the_date(
    world: BotWorld,
) -> None:
    buyer = await open_buyer_invite(world)
    for press in ["10"]:
        buyer.press(press)
        await world.deliver()
    buyer.press("Skip ▶")
    await world.deliver()
    for press in ["5", "7", "Done ✓", "Skip ▶", "No"]:
        buyer.press(press)
        await world.deliver()
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer.send_command("/start", token)
    await world.deliver()
    # 2026-11-25 is in ISO week 48; the next week starts on Monday 2026-11-30.
    assert "again from 2026-11-30" in buyer.last_message().text


async def test_the_survey_speaks_polish_to_a_polish_user(world: BotWorld) -> None:
    buyer = await open_buyer_invite(world, lang="pl")
    first = buyer.last_message()
    assert "Pytanie 1 z 7" in first.text
    assert "Kawa Poranna" in first.text
    assert "✖ Anuluj" in first.button_texts
