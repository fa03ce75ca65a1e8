"""An update another instance applied (in part) after this one started, then died holding,
is recognised as applied when this instance's worker takes it again."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from bot import flow
from storage import inbox as inbox_repo
from storage import invites as invite_repo
from storage import sessions as session_repo
from storage import updates as update_repo
from storage.models import InviteKind
from tests.bot.conftest import start_world, stop_world
from tests.webhook.conftest import Hooked

NPS = "How likely are you to recommend Morning Coffee"
THANKS = "Thank you for your time!"
PASSIVE = "What would make it a 10 for you?"
CSAT = "How satisfied are you with Morning Coffee?"


async def test_a_start_whose_invite_another_instance_took_before_dying_begins_the_survey(
    hooked: Hooked,
) -> None:
    world = hooked.world
    token = await world.invite(InviteKind.BUYER, "coffee", max_uses=1)
    buyer = world.user(504, "Ola")
    buyer.send_command("/start", token)
    (update,) = world.telegram.pending_updates()
    now = world.clock()
    # This instance started before any update was processed (its horizon: none). Another
    # instance stored and took the /start, committed the invite's use with the update id
    # (the first of a buyer /start's two transactions), and died before the survey began.
    async with world.services.db.transaction() as conn:
        await inbox_repo.store(conn, update["update_id"], 504, json.dumps(update), now=now)
        await inbox_repo.claim(
            conn, "dead-instance", now=now, until=now + timedelta(seconds=30), limit=10
        )
        assert await update_repo.mark_processed(conn, update["update_id"], now=now)
        await invite_repo.redeem_invite(conn, world.services.secret, token, now=now)
    assert world.services.redelivery_horizon is None

    world.clock.advance(seconds=31)  # the dead instance's claim lapses
    hooked.worker.wake()
    await hooked.settle()

    # Taken again (attempt 2), looked up, recognised as applied: the survey begins, once,
    # and the one-use invite is not counted again.
    assert sum(NPS in m.text for m in buyer.messages()) == 1, buyer.transcript()
    assert await world.rows("SELECT attempts, done_at IS NOT NULL FROM inbox") == [(2, 1)]
    assert await world.rows("SELECT uses FROM invites") == [(1,)]


async def test_a_survey_another_instance_completed_before_dying_is_thanked_once(
    hooked: Hooked,
) -> None:
    world = hooked.world
    services = world.services
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(505, "Ola")
    buyer.send_command("/start", token)
    await hooked.deliver()
    steps = [("press", "9"), ("text", "Smooth"), ("press", "5"), ("press", "6")]
    steps += [("press", "Price"), ("press", "Done ✓"), ("press", "Skip ▶")]
    for kind, value in steps:
        if kind == "press":
            buyer.press(value)
        else:
            buyer.send_text(value)
        await hooked.deliver()
    buyer.press("No")
    (update,) = world.telegram.pending_updates()
    now = world.clock()
    # Another instance took the press, committed the survey's last answer (the response,
    # and the thank-you owed) and died before thanking.
    async with services.db.transaction() as conn:
        await inbox_repo.store(conn, update["update_id"], 505, json.dumps(update), now=now)
        await inbox_repo.claim(
            conn, "dead-instance", now=now, until=now + timedelta(seconds=30), limit=10
        )
    session = await session_repo.get_active_session(services.db.conn, 505)
    assert session is not None
    outcome = await flow.act(
        services,
        session,
        op=flow.Op.ANSWER,
        question_id="contact_consent",
        value=False,
        update_id=update["update_id"],
    )
    assert isinstance(outcome, flow.Finished)
    assert sum(THANKS in m.text for m in buyer.messages()) == 0

    world.clock.advance(seconds=31)  # the dead instance's claim lapses
    hooked.worker.wake()
    await hooked.settle()

    assert sum(THANKS in m.text for m in buyer.messages()) == 1, buyer.transcript()
    await services.prompts.flush()
    assert await world.rows("SELECT count(*) FROM pending_thanks") == [(0,)]
    assert await world.rows("SELECT count(*), min(status) FROM responses") == [(1, "completed")]
    retaken = "SELECT attempts, done_at IS NOT NULL FROM inbox WHERE update_id = ?"
    assert await world.rows(retaken, update["update_id"]) == [(2, 1)]


async def test_an_instance_starting_beside_a_live_one_re_sends_no_question(
    hooked: Hooked, tmp_path: Path
) -> None:
    """An instance (re)starting while another serves the same users must not re-send
    questions at start-up: those users are answering on the live instance, and what the
    starting one read may be a question already answered. What a dead instance left
    unsent comes back when its update is taken again, in its user's order."""
    world = hooked.world
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(506, "Ola")
    buyer.send_command("/start", token)
    await hooked.deliver()
    buyer.press("8")
    await hooked.deliver()
    assert sum(PASSIVE in m.text for m in buyer.messages()) == 1
    # The live instance's note that the question went out is not committed yet (its
    # prompt ledger writes a moment later): the flag still says "pending".
    await world.services.prompts.flush()
    async with world.services.db.transaction() as conn:
        await conn.execute("UPDATE sessions SET prompt_pending = ?", (True,))

    second = await start_world(
        tmp_path, world.clock, telegram=world.telegram, seed=False, inbox=True
    )
    try:
        assert sum(PASSIVE in m.text for m in buyer.messages()) == 1, buyer.transcript()
        buyer.send_text("Smooth")  # answered on the live instance
        await hooked.deliver()
        assert CSAT in buyer.last_message().text
        assert sum(PASSIVE in m.text for m in buyer.messages()) == 1, buyer.transcript()
    finally:
        await stop_world(second)
