"""A respondent is never left without a question: crashes after a commit, Telegram's faults,
double presses (through process_update with the real handlers and database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import flow, jobs
from bot.context import FeedbotContext
from bot.i18n import t
from bot.sending import DEFAULT_POLICY, RetryPolicy
from storage.models import InviteKind
from tests.bot.conftest import BotWorld, Clock, start_world, stop_world
from tests.bot.test_flow_employee import ALL_RATINGS, join_sales
from tests.fakes.records import ApiError, BotMessage, JSONDict
from tests.fakes.telegram_server import FakeTelegram, FakeUser

NPS = "How likely are you to recommend Morning Coffee"
PROMOTER = "What do you like most about Morning Coffee?"
PASSIVE = "What would make it a 10 for you?"
CSAT = "How satisfied are you with Morning Coffee?"
OUTDATED = "That button belongs to a question already answered — the current one is below."


async def no_wait(seconds: float) -> None:
    """The retry policy's sleep in these tests: nothing to wait for in-process."""


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> RetryPolicy:
    """The bot's retry policy, without its pauses."""
    monkeypatch.setattr(DEFAULT_POLICY, "sleep", no_wait)
    return DEFAULT_POLICY


async def start_buyer(world: BotWorld, user_id: int = 701) -> FakeUser:
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(user_id, "Ola")
    buyer.send_command("/start", token)
    await world.deliver()
    return buyer


def sent_asking(telegram: FakeTelegram, user: FakeUser, phrase: str) -> int:
    """How many messages asking `phrase` reached the user (failed attempts not counted)."""
    return sum(phrase in m.text for m in telegram.messages(user.id))


def with_keyboards(telegram: FakeTelegram, user: FakeUser) -> list[BotMessage]:
    """The user's messages that still carry buttons: their current question(s)."""
    return [m for m in telegram.messages(user.id) if m.reply_markup is not None]


def one_current_question(telegram: FakeTelegram, user: FakeUser, phrase: str) -> None:
    keyboards = with_keyboards(telegram, user)
    assert [phrase in m.text for m in keyboards] == [True], user.transcript()


def crash_after_commit(telegram: FakeTelegram, policy: RetryPolicy) -> None:
    """Every send and edit fails until cleared, as if the bot died right after its commit:
    the answered question keeps its keyboard and the next one never goes out."""
    for method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
        telegram.fail_next(method, ApiError.server_error(), times=policy.attempts)


async def pending_flags(world: BotWorld) -> list[int]:
    await world.services.prompts.flush()
    return [int(p) for (p,) in await world.rows("SELECT prompt_pending FROM sessions")]


async def test_a_redelivered_press_sends_the_missing_question_once(
    world: BotWorld, quick_retries: RetryPolicy
) -> None:
    policy = quick_retries
    buyer = await start_buyer(world)
    crash_after_commit(world.telegram, policy)
    press = buyer.press("10")
    await world.deliver()
    world.telegram.clear_failures()
    assert sent_asking(world.telegram, buyer, PROMOTER) == 0
    assert await pending_flags(world) == [1]

    for _ in range(2):  # Telegram redelivers the press, twice
        world.telegram.requeue(press)
        await world.deliver()

    assert sent_asking(world.telegram, buyer, PROMOTER) == 1
    one_current_question(world.telegram, buyer, PROMOTER)
    [state] = await world.session_states()
    assert state["answers"] == {"nps": 10}
    assert await pending_flags(world) == [0]


@pytest.mark.parametrize("answer", ["press", "text"])
async def test_a_restart_sends_the_missing_question_once(
    tmp_path: Path,
    clock: Clock,
    answer: str,
    quick_retries: RetryPolicy,
) -> None:
    policy = quick_retries
    world = await start_world(tmp_path, clock)
    buyer = await start_buyer(world)
    if answer == "text":
        buyer.press("10")
        await world.deliver()
    crash_after_commit(world.telegram, policy)
    update = buyer.press("10") if answer == "press" else buyer.send_text("Great taste")
    await world.deliver()
    world.telegram.clear_failures()
    await stop_world(world)
    missing = PROMOTER if answer == "press" else CSAT
    assert sent_asking(world.telegram, buyer, missing) == 0

    again = await start_world(tmp_path, clock, telegram=world.telegram, seed=False)
    try:
        # Sent on start-up, before any update is fetched.
        assert sent_asking(world.telegram, buyer, missing) == 1
        one_current_question(world.telegram, buyer, missing)
        world.telegram.requeue(update)  # and the unconfirmed update comes again
        await again.deliver()
        assert sent_asking(world.telegram, buyer, missing) == 1
        one_current_question(world.telegram, buyer, missing)
        [state] = await again.session_states()
        expected: JSONDict = {"nps": 10}
        if answer == "text":
            expected["nps_promoter"] = "Great taste"
        assert state["answers"] == expected
        assert await pending_flags(again) == [0]
    finally:
        await stop_world(again)


async def test_a_message_while_the_question_is_missing_brings_it_back(
    world: BotWorld, quick_retries: RetryPolicy
) -> None:
    policy = quick_retries
    buyer = await start_buyer(world)
    crash_after_commit(world.telegram, policy)
    buyer.press("7")
    await world.deliver()
    world.telegram.clear_failures()
    # The next question (a text one) never arrived: what the buyer types is not its answer.
    buyer.send_text("hello? is anyone there")
    await world.deliver()
    assert PASSIVE in buyer.last_message().text
    assert sent_asking(world.telegram, buyer, PASSIVE) == 1
    assert not any("buttons" in text for text in world.telegram.texts(buyer.id))
    [state] = await world.session_states()
    assert state["answers"] == {"nps": 7}
    # Now on screen: the next message is its answer.
    buyer.send_text("Lower price")
    await world.deliver()
    [state] = await world.session_states()
    assert state["answers"] == {"nps": 7, "nps_passive": "Lower price"}
    one_current_question(world.telegram, buyer, CSAT)


async def test_a_message_while_a_button_question_is_missing_brings_it_back(
    world: BotWorld, quick_retries: RetryPolicy
) -> None:
    policy = quick_retries
    buyer = await start_buyer(world)
    buyer.press("10")
    await world.deliver()
    crash_after_commit(world.telegram, policy)
    buyer.send_text("Great taste")
    await world.deliver()
    world.telegram.clear_failures()
    buyer.send_text("?")
    await world.deliver()
    assert sent_asking(world.telegram, buyer, CSAT) == 1
    one_current_question(world.telegram, buyer, CSAT)
    assert not any("buttons" in text for text in world.telegram.texts(buyer.id))
    # Once it is there, text gets the usual pointer to the buttons.
    buyer.send_text("five")
    await world.deliver()
    assert "buttons" in buyer.last_message().text
    assert sent_asking(world.telegram, buyer, CSAT) == 1


@pytest.mark.parametrize("presses", [2, 3])
async def test_a_double_or_triple_press_stores_one_answer_and_asks_once(
    world: BotWorld, presses: int
) -> None:
    buyer = await start_buyer(world)
    question = buyer.last_message()
    for _ in range(presses):  # all taps arrive before any reply
        buyer.press("10", question.message_id)
    await world.deliver()
    [state] = await world.session_states()
    assert state["answers"] == {"nps": 10}
    assert sent_asking(world.telegram, buyer, PROMOTER) == 1
    one_current_question(world.telegram, buyer, PROMOTER)
    answers = [c.params for c in world.telegram.calls_of("answerCallbackQuery")]
    assert len(answers) == presses
    assert [a.get("text") for a in answers[1:]] == [OUTDATED] * (presses - 1)
    assert world.telegram.unanswered_callback_queries() == []


async def test_a_buyer_finishes_through_frequent_telegram_faults(
    world: BotWorld, quick_retries: RetryPolicy
) -> None:
    """A fault on a third of all message calls: 429s, 502s and timeouts (applied or not)."""
    mode = world.telegram.set_faults(0.3, seed=7)
    buyer = await start_buyer(world)
    steps = [("press", "9"), ("text", "Smooth"), ("press", "5"), ("press", "6")]
    steps += [("press", "Price"), ("press", "Done ✓"), ("press", "Skip ▶"), ("press", "No")]
    for kind, value in steps:
        for _ in range(5):  # as a user would: if the question is not there, say something
            if with_keyboards(world.telegram, buyer):
                break
            buyer.send_text("?")
            await world.deliver()
        if kind == "press":
            buyer.press(value)
        else:
            buyer.send_text(value)
        await world.deliver()
    assert {f.kind for f in mode.injected} == {"429", "502", "timeout"}, mode.injected
    rows = await world.rows(
        "SELECT question_id, number, text, choice FROM answers ORDER BY question_id, choice"
    )
    assert rows == [
        ("contact_consent", 0.0, None, None),
        ("csat", 5.0, None, None),
        ("effort", 6.0, None, None),
        ("improve", None, None, "price"),
        ("nps", 9.0, None, None),
        ("nps_promoter", None, "Smooth", None),
    ]
    assert "Thank you for your time!" in buyer.last_message().text
    assert not any("went wrong" in text for text in world.telegram.texts(buyer.id))


async def test_a_question_missing_for_days_waits_for_the_respondent(
    tmp_path: Path,
    clock: Clock,
    quick_retries: RetryPolicy,
) -> None:
    world = await start_world(tmp_path, clock)
    buyer = await start_buyer(world)
    crash_after_commit(world.telegram, quick_retries)
    buyer.press("10")
    await world.deliver()
    world.telegram.clear_failures()
    await stop_world(world)
    clock.advance(days=2)

    again = await start_world(tmp_path, clock, telegram=world.telegram, seed=False)
    try:
        # Not out of the blue two days later...
        assert sent_asking(world.telegram, buyer, PROMOTER) == 0
        # ...but as soon as the buyer writes.
        buyer.send_text("hi")
        await again.deliver()
        assert sent_asking(world.telegram, buyer, PROMOTER) == 1
        one_current_question(world.telegram, buyer, PROMOTER)
    finally:
        await stop_world(again)


async def test_a_buyer_whose_invite_was_taken_just_before_a_crash_gets_the_survey_on_redelivery(
    tmp_path: Path,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A buyer's /start commits the invite's use first, then begins the survey in a second
    # transaction; the process dies in between (here: beginning fails once).
    world = await start_world(tmp_path, clock)
    token = await world.invite(InviteKind.BUYER, "coffee", max_uses=1)
    buyer = world.user(701, "Ola")
    begin = flow.begin

    async def dies(*args: object, **kwargs: object) -> object:
        raise RuntimeError("the process died here")

    monkeypatch.setattr(flow, "begin", dies)
    start = buyer.send_command("/start", token)
    await world.deliver()
    monkeypatch.setattr(flow, "begin", begin)
    await stop_world(world)
    assert sent_asking(world.telegram, buyer, NPS) == 0

    again = await start_world(tmp_path, clock, telegram=world.telegram, seed=False)
    try:
        world.telegram.requeue(start)  # the unconfirmed /start comes again
        await again.deliver()
        # The survey begins, though the one-use invite is used up: its use was this one.
        assert sent_asking(world.telegram, buyer, NPS) == 1
        one_current_question(world.telegram, buyer, NPS)
        assert await again.rows("SELECT uses FROM invites") == [(1,)]
    finally:
        await stop_world(again)


async def test_a_start_applied_twice_at_once_does_not_call_its_one_use_invite_used_up(
    world: BotWorld,
) -> None:
    # Two workers apply the same /start (the first one's claim lapsed while it worked):
    # the second sees the one-use invite used up by the first, which is this very update.
    token = await world.invite(InviteKind.BUYER, "coffee", max_uses=1)
    buyer = world.user(702, "Ola")
    start = buyer.send_command("/start", token)
    await world.deliver()
    world.services.redelivery_horizon = None  # the second worker does not know
    world.telegram.requeue(start)
    await world.deliver()
    texts = [m.text for m in buyer.messages()]
    assert not any(t("en", "invite.used_up") in text for text in texts), buyer.transcript()
    assert sent_asking(world.telegram, buyer, NPS) == 1
    assert await world.rows("SELECT uses FROM invites") == [(1,)]


async def test_a_start_applied_again_after_its_invite_was_used_up_by_it_stays_silent(
    world: BotWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first application counted the one-use invite and died before the survey began;
    # a second worker, not knowing (no redelivery horizon), finds the invite used up by
    # that same update: no "used up" for the buyer, nothing counted twice.
    token = await world.invite(InviteKind.BUYER, "coffee", max_uses=1)
    buyer = world.user(703, "Ola")
    begin = flow.begin

    async def dies(*args: object, **kwargs: object) -> object:
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(flow, "begin", dies)
    start = buyer.send_command("/start", token)
    await world.deliver()
    monkeypatch.setattr(flow, "begin", begin)
    before = len(buyer.messages())  # the first one's apology for its error
    world.services.redelivery_horizon = None
    world.telegram.requeue(start)
    await world.deliver()
    assert len(buyer.messages()) == before, buyer.transcript()
    assert await world.rows("SELECT uses FROM invites") == [(1,)]


THANKS = "Thank you for your time!"
# The buyer's answers after the score: a text, CSAT, effort, a choice, Done, no comment;
# then the last question, whose answer completes the survey.
TO_THE_LAST = [("text", "Smooth"), ("press", "5"), ("press", "6"), ("press", "Price")]
TO_THE_LAST += [("press", "Done ✓"), ("press", "Skip ▶")]


async def answer_to_the_last(world: BotWorld, buyer: FakeUser) -> None:
    buyer.press("9")
    await world.deliver()
    for kind, value in TO_THE_LAST:
        if kind == "press":
            buyer.press(value)
        else:
            buyer.send_text(value)
        await world.deliver()


async def owed_thanks(world: BotWorld) -> list[tuple[object, ...]]:
    await world.services.prompts.flush()
    return await world.rows("SELECT update_id, survey_id FROM pending_thanks")


async def test_a_completed_survey_owes_no_thanks_once_thanked(world: BotWorld) -> None:
    buyer = await start_buyer(world)
    await answer_to_the_last(world, buyer)
    buyer.press("No")
    await world.deliver()
    assert THANKS in buyer.last_message().text
    assert await owed_thanks(world) == []


async def test_a_redelivered_completing_press_sends_the_missing_thanks_once(
    world: BotWorld, quick_retries: RetryPolicy
) -> None:
    buyer = await start_buyer(world)
    await answer_to_the_last(world, buyer)
    crash_after_commit(world.telegram, quick_retries)
    last = buyer.press("No")
    await world.deliver()
    world.telegram.clear_failures()
    assert sent_asking(world.telegram, buyer, THANKS) == 0
    assert await world.rows("SELECT count(*) FROM responses") == [(1,)]
    # Owed, under the update that completed it, naming nobody.
    assert await owed_thanks(world) == [(last["update_id"], "external")]

    for _ in range(2):  # Telegram redelivers the press, twice
        world.telegram.requeue(last)
        await world.deliver()

    assert sent_asking(world.telegram, buyer, THANKS) == 1
    assert THANKS in buyer.last_message().text
    assert await owed_thanks(world) == []
    assert await world.rows("SELECT count(*) FROM responses") == [(1,)]
    assert world.telegram.unanswered_callback_queries() == []


async def test_a_restart_after_the_completing_answer_thanks_on_redelivery(
    tmp_path: Path,
    clock: Clock,
    quick_retries: RetryPolicy,
) -> None:
    world = await start_world(tmp_path, clock)
    buyer = await start_buyer(world)
    await answer_to_the_last(world, buyer)
    crash_after_commit(world.telegram, quick_retries)
    last = buyer.press("No")  # committed; the process dies before the thank-you
    await world.deliver()
    world.telegram.clear_failures()
    await stop_world(world)
    assert sent_asking(world.telegram, buyer, THANKS) == 0

    again = await start_world(tmp_path, clock, telegram=world.telegram, seed=False)
    try:
        world.telegram.requeue(last)  # the unconfirmed press comes again
        await again.deliver()
        assert sent_asking(world.telegram, buyer, THANKS) == 1
        assert "Morning Coffee" in buyer.last_message().text
        assert await owed_thanks(again) == []
        # Applied once: one response, the press's answer in it once.
        assert await again.rows("SELECT count(*) FROM responses") == [(1,)]
        assert await again.rows(
            "SELECT count(*) FROM answers WHERE question_id = 'contact_consent'"
        ) == [(1,)]
    finally:
        await stop_world(again)


async def test_an_owed_thanks_is_pruned_with_the_processed_updates(
    world: BotWorld, quick_retries: RetryPolicy
) -> None:
    buyer = await start_buyer(world)
    await answer_to_the_last(world, buyer)
    crash_after_commit(world.telegram, quick_retries)
    buyer.press("No")
    await world.deliver()
    world.telegram.clear_failures()
    assert len(await owed_thanks(world)) == 1
    world.clock.advance(days=3)  # Telegram redelivers for a day at most
    await jobs.close_stale_sessions(FeedbotContext(world.app))
    assert await owed_thanks(world) == []


async def test_a_thanks_owed_after_an_internal_survey_names_nobody(
    world: BotWorld, quick_retries: RetryPolicy
) -> None:
    """The bot dies after storing the last answer, before the thank-you: what is kept
    until the completing update comes again holds no identity and no link to the
    response, only the update id and which survey about which department."""
    employee = await join_sales(world)
    employee.press("Customer service")
    await world.deliver()
    for value in ALL_RATINGS:
        employee.press(value)
        await world.deliver()
    employee.press("9")
    await world.deliver()
    employee.send_text("Fast replies")
    await world.deliver()
    crash_after_commit(world.telegram, quick_retries)
    last = employee.press("Skip ▶")
    await world.deliver()
    assert "anonymously" not in employee.last_message().text
    await world.services.prompts.flush()

    owed = await world.rows("SELECT * FROM pending_thanks")
    service = world.subjects["support"].id
    assert [row[:4] for row in owed] == [(last["update_id"], service, "internal", 1)]
    assert all(str(employee.id) not in str(cell) for cell in owed[0])
    [(response_id,)] = await world.rows("SELECT id FROM responses")
    assert all(str(response_id) not in str(cell) for cell in owed[0])
