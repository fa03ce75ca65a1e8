"""Owners take ownership by invite; the bot reminds once and closes stale surveys."""

from __future__ import annotations

import csv
import io

from bot import jobs
from bot.context import FeedbotContext
from storage.models import InviteKind
from tests.bot.conftest import BotWorld


async def test_an_owner_invite_confirms_what_and_when_they_will_receive(world: BotWorld) -> None:
    token = await world.invite(InviteKind.OWNER, "coffee", max_uses=1)
    owner = world.user(700, "Ewa", lang="pl")
    owner.send_command("/start", token)
    await world.deliver()
    text = owner.last_message().text
    assert "Kawa Poranna" in text
    assert "w każdy poniedziałek o 09:00 (Europe/Warsaw)" in text
    owner.send_command("/subjects")
    await world.deliver()
    assert "Kawa Poranna (produkt, coffee)" in owner.last_message().text


async def test_export_sends_a_csv_document_only_to_owners(world: BotWorld) -> None:
    stranger = world.user(701)
    stranger.send_command("/export")
    await world.deliver()
    assert "for owners of a department or product" in stranger.last_message().text

    buyer_token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(702, "Łucja")
    buyer.send_command("/start", buyer_token)
    await world.deliver()
    buyer.press("4")
    await world.deliver()
    buyer.send_text("Zbyt gorzka, żółć")
    await world.deliver()
    for press in ["2", "3", "Quality", "Done ✓", "Skip ▶", "No"]:
        buyer.press(press)
        await world.deliver()

    owner = world.user(703)
    owner.send_command("/start", await world.invite(InviteKind.OWNER, "coffee", max_uses=1))
    await world.deliver()
    owner.send_command("/export")
    await world.deliver()
    sent = owner.last_message()
    assert sent.document is not None and (sent.document.file_name or "").endswith(".csv")
    rows = list(csv.DictReader(io.StringIO((sent.document.content or b"").decode("utf-8-sig"))))
    assert len(rows) == 1
    assert rows[0]["nps"] == "4" and rows[0]["nps_detractor"] == "Zbyt gorzka, żółć"
    assert rows[0]["improve"] == "quality"


async def test_one_reminder_for_an_unfinished_survey_never_two(world: BotWorld) -> None:
    buyer = world.user(704)
    buyer.send_command("/start", await world.invite(InviteKind.BUYER, "coffee"))
    await world.deliver()
    buyer.press("9")
    await world.deliver()
    context = FeedbotContext(world.app)
    world.clock.advance(hours=23)
    await jobs.send_reminders(context)
    assert "unfinished survey" not in buyer.last_message().text
    world.clock.advance(hours=2)
    await jobs.send_reminders(context)
    reminder = buyer.last_message()
    assert "unfinished survey about <b>" not in reminder.text  # HTML was rendered
    assert "unfinished survey about Morning Coffee" in reminder.text
    world.clock.advance(hours=48)
    await jobs.send_reminders(context)
    assert buyer.last_message().message_id == reminder.message_id
    buyer.press("▶ Continue where I left off")
    await world.deliver()
    assert "Question 2 of 7" in buyer.last_message().text


async def test_a_survey_left_for_a_week_becomes_a_partial_response(world: BotWorld) -> None:
    buyer = world.user(705)
    buyer.send_command("/start", await world.invite(InviteKind.BUYER, "coffee"))
    await world.deliver()
    buyer.press("6")
    await world.deliver()
    world.clock.advance(days=8)
    closed = await jobs.abandon_stale(world.services)
    assert closed == 1
    assert await world.rows("SELECT count(*) FROM sessions") == [(0,)]
    assert await world.rows("SELECT status FROM responses") == [("partial",)]
    assert await world.rows("SELECT question_id, number FROM answers") == [("nps", 6)]
    buyer.press("Skip ▶")
    await world.deliver()
    assert world.telegram.calls_of("answerCallbackQuery")[-1].params["text"] == (
        "This survey is already closed."
    )


async def test_the_hourly_job_forgets_update_ids_older_than_two_days(world: BotWorld) -> None:
    buyer = world.user(706)
    buyer.send_command("/start", await world.invite(InviteKind.BUYER, "coffee"))
    await world.deliver()
    buyer.press("7")
    await world.deliver()
    assert len(await world.rows("SELECT update_id FROM processed_updates")) == 2
    world.clock.advance(days=3)
    await jobs.close_stale_sessions(FeedbotContext(world.app))
    assert await world.rows("SELECT update_id FROM processed_updates") == []
