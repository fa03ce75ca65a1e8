"""`feedbot run` end to end: the real process, long-polling a fake Bot API over HTTP."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import E2E, SECRET, TOKEN, BotProcess
from tests.fakes.records import ApiError
from tests.fakes.telegram_server import FakeUser

pytestmark = pytest.mark.e2e

# A phrase of each question's English text, to tell which question a message asks.
EXTERNAL = {
    "nps": "How likely are you to recommend Morning Coffee",
    "nps_detractor": "What disappointed you?",
    "nps_passive": "What would make it a 10 for you?",
    "nps_promoter": "What do you like most about Morning Coffee?",
    "csat": "How satisfied are you with Morning Coffee?",
    "effort": "How easy was it to buy Morning Coffee",
    "improve": "What should we improve?",
    "comment": "Is there anything else you would like to tell us?",
    "contact_consent": "May we contact you about your feedback?",
}
INTERNAL = {
    "overall": "Overall, how would you rate working with Customer service?",
    "reliability": "How would you rate the reliability of Customer service?",
    "responsiveness": "How would you rate the responsiveness of Customer service?",
    "communication": "How would you rate communication with Customer service?",
    "quality": "How would you rate the quality of work from Customer service?",
    "recommend": "How likely are you to recommend working with Customer service",
    "works_well": "What works particularly well when working with Customer service?",
    "should_change": "What should Customer service change",
}
EXTERNAL_THANKS = "Thank you for your time!"
ERROR_REPLY = "something went wrong"

Row = tuple[str, float | None, str | None, str | None]


def press(e2e: E2E, user: FakeUser, button: str, then: str) -> None:
    """The user presses a button under the bot's latest keyboard; wait for `then`."""
    user.press(button)
    e2e.expect(user, then)


def say(e2e: E2E, user: FakeUser, text: str, then: str) -> None:
    """The user types a message; wait until the bot's latest message contains `then`."""
    user.send_text(text)
    e2e.expect(user, then)


def toggle(e2e: E2E, user: FakeUser, choice: str) -> None:
    """Tick one option of a multi-choice question; the bot re-draws the keyboard."""
    user.press(choice)
    e2e.telegram.wait_for(
        lambda: f"✓ {choice}" in user.last_message().button_texts,
        what=lambda: f"{choice!r} ticked:\n{user.transcript()}",
    )


def asks(e2e: E2E, user: FakeUser, questions: dict[str, str]) -> dict[str, int]:
    """How many times the bot sent each question to the user (edits not counted)."""
    sent = [
        str(call.params.get("text", ""))
        for call in e2e.telegram.calls_of("sendMessage")
        if call.params.get("chat_id") == user.id
    ]
    return {qid: sum(phrase in text for text in sent) for qid, phrase in questions.items()}


def stored_answers(e2e: E2E, subject: str) -> list[list[Row]]:
    """Each completed response about `subject`: its answer rows, sorted."""
    responses = e2e.rows(
        "SELECT r.id FROM responses r JOIN subjects s ON s.id = r.subject_id"
        " WHERE s.slug = ? AND r.status = 'completed' ORDER BY r.id",
        subject,
    )
    return [
        sorted(
            e2e.rows(
                "SELECT question_id, number, text, choice FROM answers WHERE response_id = ?",
                response_id,
            )
        )
        for (response_id,) in responses
    ]


def assert_well_behaved(e2e: E2E, bot: BotProcess) -> None:
    """What every run of the bot does: commands in both languages, getUpdates offsets that
    only grow, and logs without the token or the secret."""
    calls = e2e.calls_of(bot, "setMyCommands")
    menus = [c for c in calls if "chat" not in str(c.get("scope", ""))]
    assert sorted(str(c.get("language_code", "")) for c in menus) == ["", "en", "pl"]
    # Members, owners and admins also get a menu of their own chat, with their commands.
    for call in calls:
        names = [entry["command"] for entry in call["commands"]]
        assert {"start", "help"} <= set(names), names
    offsets = [int(c.get("offset") or 0) for c in e2e.calls_of(bot, "getUpdates")]
    assert offsets, "the bot never polled"
    assert offsets == sorted(offsets), offsets
    log = bot.log
    for secret in (TOKEN, TOKEN.split(":", 1)[1], SECRET):
        assert secret not in log, f"{secret!r} leaked into the log:\n{log}"


def questions_noted(e2e: E2E) -> None:
    """Wait until the bot has noted every question it sent as sent (a write it does just
    after sending): a kill before that re-sends the question at the next start."""
    e2e.wait_for_db(
        lambda: e2e.rows("SELECT count(*) FROM sessions WHERE prompt_pending") == [(0,)],
        "every sent question noted as sent",
    )


def stop_cleanly(e2e: E2E, bot: BotProcess) -> None:
    """SIGTERM: the bot exits 0 having confirmed every update it fetched."""
    assert bot.stop() == 0, bot.log
    assert e2e.telegram.pending_count == 0
    offsets = [int(c.get("offset") or 0) for c in e2e.calls_of(bot, "getUpdates")]
    assert offsets[-1] > offsets[0], offsets
    assert_well_behaved(e2e, bot)


# ------------------------------------------------------------------------------ stories


def test_a_buyer_completes_the_external_survey(e2e: E2E) -> None:
    bot = e2e.start_bot()
    buyer = e2e.user(501, "Ola")
    buyer.send_command("/start", e2e.seeded.buyer_invite)
    question = e2e.expect(buyer, EXTERNAL["nps"])
    assert "Question 1 of 7" in question.text
    assert any("Thank you for your purchase!" in text for text in e2e.telegram.texts(buyer.id))

    press(e2e, buyer, "10", then=EXTERNAL["nps_promoter"])
    say(e2e, buyer, "Great taste", then=EXTERNAL["csat"])
    press(e2e, buyer, "5", then=EXTERNAL["effort"])
    press(e2e, buyer, "6", then=EXTERNAL["improve"])
    toggle(e2e, buyer, "Quality")
    press(e2e, buyer, "Done ✓", then=EXTERNAL["comment"])
    press(e2e, buyer, "Skip ▶", then=EXTERNAL["contact_consent"])
    press(e2e, buyer, "Yes", then=EXTERNAL_THANKS)

    assert "goes straight to the team responsible for Morning Coffee" in buyer.last_message().text
    # Each answered question was edited into the transcript, its keyboard gone.
    assert [m.text.splitlines()[-1] for m in buyer.messages()[1:-1]] == [
        "→ 10",
        "→ Great taste",
        "→ 5",
        "→ 6",
        "→ Quality",
        "→ — skipped",
        "→ Yes",
    ]
    assert all(m.reply_markup is None for m in buyer.messages())
    assert asks(e2e, buyer, EXTERNAL) == {
        **dict.fromkeys(EXTERNAL, 1),
        "nps_detractor": 0,
        "nps_passive": 0,
    }
    assert stored_answers(e2e, "coffee") == [
        [
            ("contact_consent", 1.0, None, None),
            ("csat", 5.0, None, None),
            ("effort", 6.0, None, None),
            ("improve", None, None, "quality"),
            ("nps", 10.0, None, None),
            ("nps_promoter", None, "Great taste", None),
        ]
    ]
    assert e2e.rows("SELECT audience, contact_id FROM responses") == [("external", 501)]
    stop_cleanly(e2e, bot)


INTERNAL_THANKS = "Your answers will help this department"
# The employee's ratings, each pressed under the question before the named one.
RATINGS = [
    ("4", "reliability"),
    ("5", "responsiveness"),
    ("3", "communication"),
    ("4", "quality"),
    ("5", "recommend"),
    ("9", "works_well"),
]
RATED = [
    ("communication", 4.0, None, None),
    ("overall", 4.0, None, None),
    ("quality", 5.0, None, None),
    ("recommend", 9.0, None, None),
    ("reliability", 5.0, None, None),
    ("responsiveness", 3.0, None, None),
]


def rate_customer_service(e2e: E2E, employee: FakeUser) -> None:
    """From the department menu to the first text question, through every rating."""
    press(e2e, employee, "Customer service", then=INTERNAL["overall"])
    for value, next_question in RATINGS:
        press(e2e, employee, value, then=INTERNAL[next_question])


def test_an_employee_evaluates_another_department(e2e: E2E) -> None:
    bot = e2e.start_bot()
    employee = e2e.user(601, "Jan")
    employee.send_command("/start", e2e.seeded.employee_invite)
    menu = e2e.expect(employee, "Which department would you like to evaluate?")
    texts = e2e.telegram.texts(employee.id)
    assert any("registered as a member of Sales" in t for t in texts)
    assert any("Your evaluations are anonymous" in t for t in texts)
    # Their own department (Sales) is not offered.
    assert menu.button_texts == ["Customer service"]

    rate_customer_service(e2e, employee)
    assert any("This survey is anonymous" in t for t in e2e.telegram.texts(employee.id))
    say(e2e, employee, "Quick, clear answers", then=INTERNAL["should_change"])
    press(e2e, employee, "Skip ▶", then=INTERNAL_THANKS)

    assert "saved anonymously" in employee.last_message().text
    assert asks(e2e, employee, INTERNAL) == dict.fromkeys(INTERNAL, 1)
    assert stored_answers(e2e, "support") == [
        sorted([*RATED, ("works_well", None, "Quick, clear answers", None)])
    ]
    assert e2e.rows("SELECT audience, role, contact_id FROM responses") == [
        ("internal", "employee", None)
    ]
    assert stored_answers(e2e, "sales") == []
    stop_cleanly(e2e, bot)


def test_a_survey_survives_sigkill_and_a_restart_with_nothing_lost_or_doubled(e2e: E2E) -> None:
    first = e2e.start_bot()
    buyer = e2e.user(502, "Ewa")
    buyer.send_command("/start", e2e.seeded.buyer_invite)
    e2e.expect(buyer, EXTERNAL["nps"])
    press(e2e, buyer, "3", then=EXTERNAL["nps_detractor"])
    say(e2e, buyer, "Too bitter", then=EXTERNAL["csat"])
    press(e2e, buyer, "2", then=EXTERNAL["effort"])
    # The bot has committed the answers and told Telegram it got every update;
    # then the power goes.
    effort = buyer.last_message()
    e2e.server.wait_until_confirmed()
    questions_noted(e2e)
    first.kill()
    assert_well_behaved(e2e, first)

    second = e2e.start_bot()
    buyer.send_command("/start")
    e2e.expect(buyer, "you stopped at question 4")
    press(e2e, buyer, "▶ Continue where I left off", then=EXTERNAL["effort"])
    resent = buyer.last_message()
    assert resent.message_id != effort.message_id and resent.reply_markup is not None
    # The copy sent before the crash lost its keyboard (the message carrying it was
    # noted in the database): one current question on screen.
    assert e2e.telegram.message(buyer.id, effort.message_id).reply_markup is None
    press(e2e, buyer, "4", then=EXTERNAL["improve"])
    toggle(e2e, buyer, "Price")
    toggle(e2e, buyer, "Delivery")
    press(e2e, buyer, "Done ✓", then=EXTERNAL["comment"])
    say(e2e, buyer, "More sizes, please", then=EXTERNAL["contact_consent"])
    press(e2e, buyer, "No", then=EXTERNAL_THANKS)

    assert not any(ERROR_REPLY in t for t in e2e.telegram.texts(buyer.id)), buyer.transcript()
    # Asked once each, and the interrupted question once more on resuming.
    assert asks(e2e, buyer, EXTERNAL) == {
        **dict.fromkeys(EXTERNAL, 1),
        "nps_passive": 0,
        "nps_promoter": 0,
        "effort": 2,
    }
    assert stored_answers(e2e, "coffee") == [
        [
            ("comment", None, "More sizes, please", None),
            ("contact_consent", 0.0, None, None),
            ("csat", 2.0, None, None),
            ("effort", 4.0, None, None),
            ("improve", None, None, "delivery"),
            ("improve", None, None, "price"),
            ("nps", 3.0, None, None),
            ("nps_detractor", None, "Too bitter", None),
        ]
    ]
    assert e2e.rows("SELECT count(*) FROM sessions") == [(0,)]
    assert e2e.rows("SELECT count(*) FROM answered_markers") == [(1,)]
    assert e2e.rows("SELECT contact_id FROM responses") == [(None,)]
    stop_cleanly(e2e, second)


# The first steps of a buyer's survey: (what the buyer does, what the bot asks next).
FIRST_STEPS = [
    ("/start", EXTERNAL["nps"]),
    ("7", EXTERNAL["nps_passive"]),
    ("Faster delivery", EXTERNAL["csat"]),
]


def take_step(e2e: E2E, buyer: FakeUser, step: tuple[str, str]) -> None:
    """Open the invite, press a number or type a text; wait for the next question."""
    action, then = step
    if action == "/start":
        buyer.send_command("/start", e2e.seeded.buyer_invite)
        e2e.expect(buyer, then)
    elif action.isdigit():
        press(e2e, buyer, action, then)
    else:
        say(e2e, buyer, action, then)


@pytest.mark.parametrize(
    "unconfirmed", [0, 1, 2], ids=["invite link", "button press", "typed answer"]
)
def test_an_update_unconfirmed_at_sigkill_is_redelivered_and_applied_once(
    e2e: E2E, unconfirmed: int
) -> None:
    first = e2e.start_bot()
    buyer = e2e.user(503, "Iga")
    for step in FIRST_STEPS[:unconfirmed]:
        take_step(e2e, buyer, step)
    # The bot idles in a long poll that confirmed everything so far. From now on
    # getUpdates fails (Telegram unreachable): the poll already waiting hands over the
    # next update, but the bot cannot confirm it with the following offset.
    e2e.server.wait_until_confirmed()
    e2e.telegram.fail_next("getUpdates", ApiError.server_error(), times=None)
    take_step(e2e, buyer, FIRST_STEPS[unconfirmed])
    assert e2e.telegram.pending_count == 1, "the update is handled but not confirmed"
    questions_noted(e2e)
    first.kill()
    e2e.telegram.clear_failures()

    second = e2e.start_bot()
    e2e.server.wait_until_confirmed()  # Telegram redelivered it; the bot confirmed it
    # One user's updates are handled in order: once the next step is through, so is
    # the redelivered update.
    for step in FIRST_STEPS[unconfirmed + 1 :]:
        take_step(e2e, buyer, step)
    press(e2e, buyer, "4", then=EXTERNAL["effort"])
    press(e2e, buyer, "6", then=EXTERNAL["improve"])
    press(e2e, buyer, "Skip ▶", then=EXTERNAL["comment"])
    press(e2e, buyer, "Skip ▶", then=EXTERNAL["contact_consent"])
    press(e2e, buyer, "No", then=EXTERNAL_THANKS)

    # Applied once: every answer stored once, the invite used once.
    assert stored_answers(e2e, "coffee") == [
        [
            ("contact_consent", 0.0, None, None),
            ("csat", 4.0, None, None),
            ("effort", 6.0, None, None),
            ("nps", 7.0, None, None),
            ("nps_passive", None, "Faster delivery", None),
        ]
    ]
    assert e2e.rows("SELECT uses FROM invites WHERE kind = 'buyer'") == [(1,)]
    # Nor did it change anything the user can see: no error, no pointer to the
    # buttons, no question asked twice.
    texts = e2e.telegram.texts(buyer.id)
    for unexpected in (
        ERROR_REPLY,
        "answer with the buttons",
        "from an earlier question",
        "unfinished survey",
    ):
        assert not any(unexpected in t for t in texts), buyer.transcript()
    assert asks(e2e, buyer, EXTERNAL) == {
        **dict.fromkeys(EXTERNAL, 1),
        "nps_detractor": 0,
        "nps_promoter": 0,
    }
    assert "error while handling update" not in second.log, second.log
    assert_well_behaved(e2e, first)
    stop_cleanly(e2e, second)


def test_a_redelivered_text_answer_is_not_taken_for_the_next_text_question(e2e: E2E) -> None:
    # works_well and should_change both take text: a redelivered works_well answer
    # would pass for an answer to should_change unless the update id is remembered.
    first = e2e.start_bot()
    employee = e2e.user(602, "Ala")
    employee.send_command("/start", e2e.seeded.employee_invite)
    e2e.expect(employee, "Which department would you like to evaluate?")
    rate_customer_service(e2e, employee)
    e2e.server.wait_until_confirmed()
    e2e.telegram.fail_next("getUpdates", ApiError.server_error(), times=None)
    say(e2e, employee, "Quick, clear answers", then=INTERNAL["should_change"])
    assert e2e.telegram.pending_count == 1, "the update is handled but not confirmed"
    questions_noted(e2e)
    first.kill()
    e2e.telegram.clear_failures()

    second = e2e.start_bot()
    e2e.server.wait_until_confirmed()
    press(e2e, employee, "Skip ▶", then=INTERNAL_THANKS)

    assert stored_answers(e2e, "support") == [
        sorted([*RATED, ("works_well", None, "Quick, clear answers", None)])
    ]
    assert asks(e2e, employee, INTERNAL) == dict.fromkeys(INTERNAL, 1)
    assert "error while handling update" not in second.log, second.log
    assert_well_behaved(e2e, first)
    stop_cleanly(e2e, second)
