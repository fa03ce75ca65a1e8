"""A buyer opens a product invite and answers the external survey."""

from __future__ import annotations

from storage.models import InviteKind
from tests.bot.conftest import BotWorld


async def test_buyer_completes_the_external_survey_as_a_promoter(world: BotWorld) -> None:
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(501, "Ola")
    buyer.send_command("/start", token)
    await world.deliver()
    question = buyer.last_message()
    assert "Question 1 of 7" in question.text
    assert "Morning Coffee" in question.text
    buyer.press("10")
    await world.deliver()
    print(world.telegram.transcript(501))
