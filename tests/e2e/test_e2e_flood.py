"""One user flooding `feedbot run` with updates does not hold up anyone else's survey."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import E2E
from tests.e2e.test_e2e_bot import ERROR_REPLY, EXTERNAL, EXTERNAL_THANKS
from tests.fakes.telegram_server import FakeUser

pytestmark = pytest.mark.e2e

BURST = 1000  # updates the flooder sends at once, before the others start
RATE = 200  # updates a second the flooder goes on sending until the others are done
OTHERS = 6  # buyers taking the survey meanwhile
# Generous: a reply normally comes within tens of milliseconds; a bot whose users wait
# behind the flooder's queue makes them wait for the whole flood (tens of seconds).
MEDIAN_REPLY_BOUND = 5.0
# A single step may be slow on a loaded machine without failing the test; only one that
# never comes does.
STEP_BOUND = 60.0

# A buyer's survey: (button to press or text to type, phrase of what the bot asks next).
SURVEY = [
    ("press", "7", EXTERNAL["nps_passive"]),
    ("say", "Faster delivery", EXTERNAL["csat"]),
    ("press", "4", EXTERNAL["effort"]),
    ("press", "6", EXTERNAL["improve"]),
    ("press", "Skip ▶", EXTERNAL["comment"]),
    ("press", "Skip ▶", EXTERNAL["contact_consent"]),
    ("press", "No", EXTERNAL_THANKS),
]


def take_survey(e2e: E2E, buyer: FakeUser) -> list[float]:
    """Open the invite and answer every question; the seconds each reply took to arrive,
    from the moment the buyer's update reached Telegram (the fake) to the bot's answer."""
    waits: list[float] = []
    started = time.monotonic()
    buyer.send_command("/start", e2e.seeded.buyer_invite)
    e2e.expect(buyer, EXTERNAL["nps"], timeout=STEP_BOUND)
    waits.append(time.monotonic() - started)
    for action, value, then in SURVEY:
        started = time.monotonic()
        if action == "press":
            buyer.press(value)
        else:
            buyer.send_text(value)
        e2e.expect(buyer, then, timeout=STEP_BOUND)
        waits.append(time.monotonic() - started)
    return waits


def press_when_shown(e2e: E2E, user: FakeUser, button: str) -> None:
    """Press `button` on the latest message with a keyboard as soon as one is on screen
    (the bot may be between taking a keyboard off and sending the next)."""

    def pressed() -> bool:
        # wait_for holds the fake's lock while asking: nothing changes in between.
        if not any(m.reply_markup is not None for m in user.messages()):
            return False
        user.press(button)
        return True

    e2e.telegram.wait_for(pressed, STEP_BOUND, lambda: f"a keyboard:\n{user.transcript()}")


def test_a_flooding_user_does_not_hold_up_the_others(e2e: E2E) -> None:
    bot = e2e.start_bot()
    flooder = e2e.user(700, "Flo")
    flooder.send_command("/start", e2e.seeded.buyer_invite)
    first = e2e.expect(flooder, EXTERNAL["nps"])
    stale = first.raw_button("7")
    assert stale is not None
    flooder.press("7")
    e2e.expect(flooder, EXTERNAL["nps_passive"])
    flooder.send_text("Fine")
    e2e.expect(flooder, EXTERNAL["csat"])
    # A thousand updates at once, then hundreds a second, none of which answers
    # anything: messages typed at a button question, presses of a button answered before.
    sent = 0

    def flood(count: int) -> None:
        nonlocal sent
        for _ in range(count):
            if sent % 2:
                flooder.press_data(str(stale["callback_data"]), first.message_id)
            else:
                flooder.send_text(f"spam {sent}")
            sent += 1

    flood(BURST)
    others_done = threading.Event()

    def keep_flooding() -> None:
        while not others_done.wait(0.1):
            flood(RATE // 10)

    flooding = threading.Thread(target=keep_flooding, name="flooder")
    flooding.start()
    others = [e2e.user(710 + n, f"Buyer {n}") for n in range(OTHERS)]
    try:
        with ThreadPoolExecutor(OTHERS) as pool:
            waits = [w for ws in pool.map(lambda u: take_survey(e2e, u), others) for w in ws]
    finally:
        others_done.set()
        flooding.join()

    assert len(waits) == OTHERS * (len(SURVEY) + 1)
    median = statistics.median(waits)
    assert median < MEDIAN_REPLY_BOUND, f"median {median:.2f} s, slowest {max(waits):.2f} s"
    # Everyone else finished, and nobody saw an error.
    for buyer in others:
        texts = e2e.telegram.texts(buyer.id)
        assert EXTERNAL_THANKS in texts[-1], buyer.transcript()
        assert not any(ERROR_REPLY in t for t in texts), buyer.transcript()
    # The flood changed nothing of the flooder's survey, which goes on where it was
    # once the bot has caught up: a press while the flooder's queue is still full is
    # ignored, so, like a person, they press again if nothing happens.
    e2e.server.wait_until_confirmed(STEP_BOUND)
    deadline = time.monotonic() + STEP_BOUND
    while True:
        press_when_shown(e2e, flooder, "4")
        try:
            e2e.expect(flooder, EXTERNAL["effort"], timeout=5)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    assert not any(ERROR_REPLY in t for t in e2e.telegram.texts(flooder.id))
    assert bot.process.poll() is None, bot.log
    assert "Traceback" not in bot.log, bot.log
