"""Detractor alerts: external subjects only, the comment as text, the contact only with consent."""

from __future__ import annotations

from bot import flow
from bot.delivery import OutboxKind
from bot.delivery.alerts import on_response_completed
from bot.delivery.scheduler import DeliveryLoop, enqueue_due_digests
from bot.delivery.sender import Pacer
from bot.delivery.wakeup import OutboxWakeup
from bot.i18n import t
from storage.models import InviteKind, OutboxStatus, Session
from surveys.schema import AnswerValue
from tests.delivery.support import (
    OWNER,
    BotWorld,
    add_owner,
    buyer_answers,
    internal_answers,
    outbox,
    tick,
)

BUYER = 4001
HOUR = 3600.0
NASTY = "Broke in a week <b>twice</b> & <a href='https://x.example'>see</a>"


async def finish(world: BotWorld, slug: str, answers: dict[str, AnswerValue]) -> Session:
    """An open session as the flow hands it to the hook when the survey is completed."""
    outcome = await flow.begin(
        world.services,
        telegram_id=BUYER,
        chat_id=BUYER,
        subject=world.subjects[slug],
        role="employee" if slug != "coffee" else None,
    )
    assert isinstance(outcome, flow.Ask)
    definition = outcome.definition
    await on_response_completed(world.services, outcome.session, definition, answers)
    return outcome.session


async def test_a_detractor_alerts_the_owner_with_the_comment_as_plain_text(
    world: BotWorld,
) -> None:
    await add_owner(world, OWNER, "coffee", since=world.clock(), detractor_alerts=True)
    await finish(world, "coffee", buyer_answers(3, nps_detractor=NASTY))
    await tick(world)

    [alert] = world.telegram.messages(OWNER)
    assert "Morning Coffee" in alert.text and "NPS 3/10" in alert.text
    assert NASTY in alert.text  # shown as typed: tags are text, not formatting
    start = alert.text.index(NASTY)
    inside = [
        e["type"]
        for e in alert.entities
        if e["offset"] < start + len(NASTY) and e["offset"] + e["length"] > start
    ]
    assert inside == ["italic"]  # the quote is in italics; nothing the buyer typed formats
    assert t("en", "delivery.alert.anonymous") in alert.text
    assert "tg://user" not in str(alert.entities)


async def test_the_contact_is_given_only_when_the_buyer_consented(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee", since=world.clock(), detractor_alerts=True)
    await finish(world, "coffee", buyer_answers(9, csat=2, contact_consent=True))
    await tick(world)

    [alert] = world.telegram.messages(OWNER)
    assert "satisfaction 2/5" in alert.text
    links = [e for e in alert.entities if e["type"] == "text_link"]
    assert [link["url"] for link in links] == [f"tg://user?id={BUYER}"]


async def test_no_alert_for_a_happy_buyer_or_an_owner_who_did_not_ask(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee", since=world.clock(), detractor_alerts=True)
    await add_owner(world, OWNER + 1, "coffee")  # alerts off (the default)
    session = await finish(world, "coffee", buyer_answers(10, csat=5))
    assert await outbox(world, OutboxKind.ALERT) == []

    definition = world.services.surveys.latest("external")
    for _ in range(2):  # the hook may run twice for one response: one alert
        await on_response_completed(world.services, session, definition, buyer_answers(2))
    assert [item.chat_id for item in await outbox(world, OutboxKind.ALERT)] == [OWNER]


async def test_never_an_alert_for_an_internal_subject(world: BotWorld) -> None:
    await add_owner(world, OWNER, "sales", since=world.clock(), detractor_alerts=True)
    await finish(world, "sales", internal_answers(1))
    await tick(world)
    assert await outbox(world, OutboxKind.ALERT) == []
    assert world.telegram.messages(OWNER) == []


async def test_a_buyer_answering_in_telegram_triggers_the_alert(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee", since=world.clock(), detractor_alerts=True)
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(BUYER, "Ola")
    buyer.send_command("/start", token)
    await world.deliver()
    for step in ("3", "It leaks & <rattles>", "2", "5", t("en", "button.skip")):
        if step.isdigit() or step == t("en", "button.skip"):
            buyer.press(step)
        else:
            buyer.send_text(step)
        await world.deliver()
    buyer.press(t("en", "button.skip"))  # anything else to tell us
    await world.deliver()
    buyer.press(t("en", "button.yes"))  # may we contact you
    await world.deliver()

    await tick(world)
    [alert] = world.telegram.messages(OWNER)
    assert "It leaks & <rattles>" in alert.text and "NPS 3/10" in alert.text
    assert [e["url"] for e in alert.entities if e["type"] == "text_link"] == [
        f"tg://user?id={BUYER}"
    ]


async def test_the_alert_is_sent_at_once_not_at_the_next_poll(world: BotWorld) -> None:
    """The sender's poll is an hour away and the owner's digest is queued ahead of the
    alert: the alert still arrives, because queuing it wakes the sender, which sends
    alerts on their own (docs/delivery.md: "Detractor alerts")."""
    await add_owner(world, OWNER, "coffee", detractor_alerts=True)
    async with world.services.db.transaction() as conn:  # the Monday digest, due, unsent
        queued = await enqueue_due_digests(conn, world.services.settings, world.clock())
    assert len(queued) == 1
    loop = DeliveryLoop(
        world.services, world.app.bot, interval=HOUR, first=HOUR, pacer=Pacer.unpaced()
    )
    loop.start()
    try:
        await finish(world, "coffee", buyer_answers(2, nps_detractor="Cold, again"))
        # Generous bound for a loaded machine; the next poll is an hour away.
        [alert] = await world.telegram.async_wait_for_messages(OWNER, 1, timeout=60)
        assert "Cold, again" in alert.text
        assert loop.running  # it woke, sent, and goes on
    finally:
        await loop.stop()  # lets the drain under way finish: the alert is recorded as sent
    assert not loop.running
    [item] = await outbox(world, OutboxKind.ALERT)
    assert item.status is OutboxStatus.SENT
    [digest] = await outbox(world, OutboxKind.DIGEST)
    assert digest.status is OutboxStatus.PENDING  # left to the poll
    assert len(world.telegram.messages(OWNER)) == 1


async def test_a_wakeup_given_while_the_sender_is_busy_is_not_lost() -> None:
    wakeup = OutboxWakeup()
    assert await wakeup.wait(0) is False  # nothing queued: the wait runs out
    wakeup.notify()  # e.g. an alert queued during a tick
    assert await wakeup.wait(HOUR) is True  # the next wait returns at once
    assert await wakeup.wait(0) is False  # and the notification was consumed
