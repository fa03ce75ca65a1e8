"""An update another instance applied (in part) after this one started, then died holding,
is recognised as applied when this instance's worker takes it again."""

from __future__ import annotations

import json
from datetime import timedelta

from bot import flow
from storage import inbox as inbox_repo
from storage import invites as invite_repo
from storage import sessions as session_repo
from storage import updates as update_repo
from storage.models import InviteKind
from tests.webhook.conftest import Hooked

NPS = "How likely are you to recommend Morning Coffee"
THANKS = "Thank you for your time!"


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
