"""Forged button presses and malformed messages: one polite refusal, one WARNING, no write."""

from __future__ import annotations

import logging

import pytest

from bot.button_checks import press_value
from bot.callbacks import Action, Callback, CallbackDataError, decode
from storage.models import InviteKind
from surveys.schema import Question
from tests.bot.conftest import BotWorld
from tests.fakes.users import FakeUser

INVALID = {"en": "This button doesn't work any more.", "pl": "Ten przycisk już nie działa."}
BIG = 2**63


async def buyer_at(world: BotWorld, presses: list[str], user_id: int = 501) -> FakeUser:
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(user_id, "Ola")
    buyer.send_command("/start", token)
    await world.deliver()
    for press in presses:
        buyer.press(press)
        await world.deliver()
    return buyer


async def session_of(world: BotWorld, user_id: int) -> int:
    [(session_id,)] = await world.rows(
        "SELECT id FROM sessions WHERE respondent_id = ? AND status = 'active'", user_id
    )
    return int(session_id)


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if hasattr(r, "refused")]


async def snapshot(world: BotWorld) -> list[object]:
    return [
        await world.rows("SELECT id, status, state_json FROM sessions ORDER BY id"),
        await world.rows("SELECT count(*) FROM responses"),
        await world.rows("SELECT count(*) FROM answers"),
    ]


# Callback data per class, at a question reached by `presses`; {s} is the buyer's session.
SURVEY_FORGERIES = [
    ([], "f1:a:{s}:nps:11", "bad_value"),
    ([], "f1:a:{s}:nps:-1", "bad_value"),
    ([], "f1:a:{s}:nps:5.0", "bad_value"),
    ([], "f1:a:" + "9" * 40 + ":nps:5", "id_out_of_range"),
    ([], f"f1:a:{BIG}:nps:5", "id_out_of_range"),
    ([], "f1:a:0:nps:5", "id_out_of_range"),
    ([], "f1:a:0{s}:nps:5", "id_out_of_range"),
    ([], "f1:a:{s}:nps:\ud800", "not_utf8"),
    ([], "f1:s:{s}:nps", "wrong_action"),
    ([], "f1:t:{s}:nps:price", "wrong_action"),
    ([], "f1:d:{s}:nps", "wrong_action"),
    ([], "f1:a:{s}:no_such_question:1", "unknown_question"),
    (["10"], "f1:a:{s}:nps_promoter:anything", "wrong_action"),
    (["10"], "f1:t:{s}:nps_promoter:anything", "wrong_action"),
    (["10", "Skip ▶", "5", "7"], "f1:a:{s}:improve:price", "wrong_action"),
    (["10", "Skip ▶", "5", "7"], "f1:t:{s}:improve:gold", "bad_value"),
    (["10", "Skip ▶", "5", "7", "Done ✓", "Skip ▶"], "f1:a:{s}:contact_consent:1", "bad_value"),
    ([], "", "empty"),
    ([], "x" * 65, "oversized"),
    ([], "f2:a:{s}:nps:5", "unknown_format"),
    ([], "f1:zz:{s}", "unknown_action"),
    ([], "f1:a:{s}:nps", "malformed"),
    ([], "f1:a:{s}:nps:5:6", "malformed"),
    ([], "f1:a:{s}:nps:5 6", "malformed"),
    ([], "f1:l:de", "unknown_language"),
    ([], "f1:si:not-a-token", "bad_invite"),
    ([], "f1:mp:2", "bad_value"),
]


@pytest.mark.parametrize(("presses", "data", "kind"), SURVEY_FORGERIES)
async def test_a_forged_press_is_refused_politely_logged_once_and_changes_nothing(
    world: BotWorld,
    caplog: pytest.LogCaptureFixture,
    presses: list[str],
    data: str,
    kind: str,
) -> None:
    buyer = await buyer_at(world, presses)
    data = data.replace("{s}", str(await session_of(world, buyer.id)))
    before = await snapshot(world)
    messages = len(buyer.messages())
    caplog.clear()
    with caplog.at_level(logging.INFO):
        buyer.press_data(data, buyer.last_message().message_id)
        await world.deliver()
    answer = world.telegram.calls_of("answerCallbackQuery")[-1].params
    assert answer.get("text") == INVALID["en"]
    [record] = refusals(caplog)
    assert record.levelno == logging.WARNING and record.refused == kind  # type: ignore[attr-defined]
    assert str(buyer.id) not in record.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await snapshot(world) == before
    assert len(buyer.messages()) == messages  # no "something went wrong", no resend


async def test_another_users_session_is_refused_in_the_users_language(
    world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    victim = await buyer_at(world, ["10"], user_id=501)
    intruder = world.user(502, "Ewa", lang="pl")
    intruder.send_text("/lang")
    await world.deliver()
    victim_session = await session_of(world, victim.id)
    before = await snapshot(world)
    with caplog.at_level(logging.INFO):
        intruder.press_data(f"f1:a:{victim_session}:csat:5", intruder.last_message().message_id)
        await world.deliver()
    assert world.telegram.calls_of("answerCallbackQuery")[-1].params.get("text") == INVALID["pl"]
    assert [r.refused for r in refusals(caplog)] == ["foreign_session"]  # type: ignore[attr-defined]
    assert await snapshot(world) == before


async def test_evaluate_accepts_only_departments_the_member_may_evaluate(
    world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    token = await world.invite(InviteKind.EMPLOYEE, "sales")
    employee = world.user(601, "Jan")
    employee.send_command("/start", token)
    await world.deliver()
    menu = employee.last_message().message_id
    product = world.subjects["coffee"].id
    for data in [f"f1:ev:{product}", "f1:ev:987654", "f1:ev:" + "9" * 40]:
        employee.press_data(data, menu)
        await world.deliver()
        assert (
            world.telegram.calls_of("answerCallbackQuery")[-1].params.get("text") == (INVALID["en"])
        )
    assert [r.refused for r in refusals(caplog)] == [  # type: ignore[attr-defined]
        "unknown_subject",
        "unknown_subject",
        "id_out_of_range",
    ]
    assert await world.rows("SELECT count(*) FROM sessions") == [(0,)]


async def test_a_forged_setting_is_refused_for_an_owner(
    world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    token = await world.invite(InviteKind.OWNER, "coffee")
    owner = world.user(701, "Olek")
    owner.send_command("/start", token)
    await world.deliver()
    owner.send_text("/settings")
    await world.deliver()
    for data in ["f1:st:day:9", "f1:st:hour:24", "f1:st:tz:Mars/Olympus", "f1:st:rm:all"]:
        owner.press_data(data, owner.last_message().message_id)
        await world.deliver()
        assert (
            world.telegram.calls_of("answerCallbackQuery")[-1].params.get("text") == (INVALID["en"])
        )
    assert [r.refused for r in refusals(caplog)] == ["bad_setting"] * 4  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "data",
    ["f1:a:1:q:\udcff", "f1:a:" + "9" * 19 + ":q:1", "f1:ev:-1", "f1:mp:yes", "\ud83d"],
)
def test_decode_refuses_what_encode_never_produces(data: str) -> None:
    with pytest.raises(CallbackDataError):
        decode(data)


def test_decode_accepts_the_largest_bigint() -> None:
    assert decode(f"f1:r:{BIG - 1}").session_id == BIG - 1


def test_every_button_the_keyboard_offers_passes_the_checks(world: BotWorld) -> None:
    """press_value is the inverse of render.question_keyboard for every question type."""
    from bot import render
    from surveys import engine

    for survey_id in ("internal", "external"):
        definition = world.services.surveys.latest(survey_id)
        for question in definition.questions:
            step = engine.QuestionStep(
                question=question,
                number=1,
                total=1,
                can_go_back=True,
                can_skip=not question.required,
                selected=(),
            )
            for row in render.question_keyboard(step, 7, "en").inline_keyboard:
                for button in row:
                    callback = decode(str(button.callback_data))
                    if callback.action in (Action.CANCEL,):
                        continue
                    press_value(question, callback)  # must not raise


def test_a_single_choice_answer_must_name_one_of_its_choices() -> None:
    question = Question.model_validate(
        {
            "id": "pick",
            "type": "single",
            "text": {"en": "Pick"},
            "choices": [{"id": "a", "text": {"en": "A"}}, {"id": "b", "text": {"en": "B"}}],
        }
    )
    assert press_value(question, Callback(Action.ANSWER, ("1", "pick", "b"))) == "b"
    for action, args in [
        (Action.ANSWER, ("1", "pick", "c")),
        (Action.TOGGLE, ("1", "pick", "a")),
        (Action.CONFIRM, ("1", "pick")),
        (Action.SKIP, ("1", "pick")),
    ]:
        with pytest.raises(CallbackDataError):
            press_value(question, Callback(action, args))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Too bitter \ud800 really", "I couldn't read that message. Please type it again."),
        ("x" * 10_000, "shorten it to 1000 characters"),
        ("\u202eesrever\u200b\u200d\x01\x1b[31m", "Question 3 of 7"),
    ],
)
async def test_typed_answers_that_are_huge_unreadable_or_odd(
    world: BotWorld, caplog: pytest.LogCaptureFixture, text: str, expected: str
) -> None:
    buyer = await buyer_at(world, ["10"])
    buyer.send_text(text)
    await world.deliver()
    assert expected in buyer.last_message().text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_updates_without_a_user_are_ignored(
    world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    calls = len(world.telegram.calls)
    world.telegram.enqueue_update(
        "channel_post",
        {"message_id": 1, "date": 0, "chat": {"id": -1001, "type": "channel"}, "text": "/start"},
    )
    world.telegram.enqueue_update(
        "message",
        {"message_id": 2, "date": 0, "chat": {"id": 42, "type": "private"}, "text": "hi"},
    )
    await world.deliver()
    assert len(world.telegram.calls) == calls
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("payload", ["A" * 80, "a/b<c>&d", "\u202e" * 10, "x\ud800y", "----"])
async def test_start_with_a_random_payload_is_a_polite_no(world: BotWorld, payload: str) -> None:
    user = world.user(801)
    user.send_command("/start", payload)
    await world.deliver()
    text = user.last_message().text
    assert "doesn't look right" in text or "couldn't read" in text
    assert await world.rows("SELECT count(*) FROM members") == [(0,)]
