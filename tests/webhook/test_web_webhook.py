"""The webhook endpoint: the secret, malformed and oversized bodies, store-then-apply once."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from datetime import timedelta

import httpx
import pytest

from bot.web.server import build_asgi
from bot.web.webhook import SECRET_HEADER, webhook_routes
from storage import inbox as inbox_repo
from storage.models import InviteKind
from tests.webhook.conftest import MAX_BODY, WEBHOOK_PATH, WEBHOOK_SECRET, Hooked

BODY_MARKER = "PRIVATE-ANSWER-TEXT-do-not-log"


async def inbox_rows(hooked: Hooked) -> list[tuple[object, ...]]:
    return await hooked.world.rows("SELECT update_id, done_at IS NOT NULL FROM inbox")


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-0123456789"])
async def test_a_request_without_the_right_secret_gets_403_and_its_body_is_not_logged(
    hooked: Hooked, caplog: pytest.LogCaptureFixture, secret: str | None
) -> None:
    update = {"update_id": 5, "message": {"text": BODY_MARKER}}
    with caplog.at_level(logging.DEBUG):
        response = await hooked.post(update, secret=secret)
    assert response.status_code == 403
    assert await inbox_rows(hooked) == []
    refusals = [r for r in caplog.records if r.name.startswith("bot.") and "403" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelno == logging.WARNING
    assert not any(BODY_MARKER in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe{}",
        b"[1, 2]",
        b'{"message": {"text": "no update id"}}',
        b'{"update_id": "7"}',
        b'{"update_id": -1}',
        b'{"update_id": 8, "message": "not an object"}',
        json.dumps({"update_id": 9, "message": {"text": "x" * MAX_BODY}}).encode(),
    ],
    ids=["not-json", "not-utf8", "array", "no-id", "string-id", "negative-id", "bad", "big"],
)
async def test_a_malformed_or_oversized_body_gets_400_and_nothing_is_stored(
    hooked: Hooked, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    with caplog.at_level(logging.INFO):
        response = await hooked.post(body)
    assert response.status_code == 400
    assert await inbox_rows(hooked) == []
    assert not any("x" * 100 in r.getMessage() for r in caplog.records)


async def test_an_update_posted_twice_is_stored_once_and_applied_once(hooked: Hooked) -> None:
    world = hooked.world
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(501, "Ola")
    buyer.send_command("/start", token)
    (update,) = world.telegram.pending_updates()

    first = await hooked.post(update)
    # The 200 comes only after the commit: the row is there when the answer is.
    assert first.status_code == 200
    assert [row[0] for row in await inbox_rows(hooked)] == [update["update_id"]]
    second = await hooked.post(update)
    assert second.status_code == 200
    await hooked.settle()

    assert await inbox_rows(hooked) == [(update["update_id"], 1)]
    assert [m.text for m in buyer.messages()].count(buyer.last_message().text) == 1
    assert "Question 1 of 7" in buyer.last_message().text
    sessions = await world.rows("SELECT count(*) FROM sessions")
    assert sessions == [(1,)]
    # A done update keeps no body: it may have been a typed answer.
    assert await world.rows("SELECT body FROM inbox") == [(None,)]


async def test_a_buyer_finishes_the_survey_through_the_webhook(hooked: Hooked) -> None:
    world = hooked.world
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(502, "Ola")
    buyer.send_command("/start", token)
    await hooked.deliver()
    buyer.press("9")
    await hooked.deliver()
    buyer.send_text("Fresh aroma")
    await hooked.deliver()
    for button in ("5", "6", "Price", "Done ✓", "Skip ▶", "Yes"):
        buyer.press(button)
        await hooked.deliver()
    assert "Morning Coffee" in buyer.last_message().text
    assert buyer.last_message().reply_markup is None
    answers = await world.rows(
        "SELECT a.question_id, coalesce(a.number, a.text, a.choice) FROM answers a"
        " ORDER BY a.position"
    )
    assert answers[0] == ("nps", 9) and ("nps_promoter", "Fresh aroma") in answers
    assert await world.rows("SELECT count(*) FROM responses") == [(1,)]
    assert await world.rows("SELECT count(*) FROM inbox WHERE done_at IS NULL") == [(0,)]


async def test_updates_posted_in_a_burst_are_applied_in_order_per_user(hooked: Hooked) -> None:
    """Three buyers press quickly; all their updates are stored before any is applied,
    and each buyer's are still applied one at a time, in order."""
    world = hooked.world
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyers = [world.user(600 + i, f"B{i}") for i in range(3)]
    for buyer in buyers:
        buyer.send_command("/start", token)
    await hooked.deliver()
    for buyer, score in zip(buyers, ("3", "7", "10"), strict=True):
        buyer.press(score)
        buyer.send_text(f"because {score}")
    await hooked.deliver()
    for buyer, score in zip(buyers, ("3", "7", "10"), strict=True):
        assert "Question 3 of 7" in buyer.last_message().text, buyer.transcript()
        texts = buyer.messages()
        assert any(m.text.endswith(f"→ {score}") for m in texts)


async def test_an_update_the_database_cannot_take_gets_503_and_is_taken_when_sent_again(
    hooked: Hooked, caplog: pytest.LogCaptureFixture
) -> None:
    class Refusing:
        async def accept(self, update_id: int, user_key: int | None, body: str) -> bool:
            raise sqlite3.OperationalError("database is locked")

    refusing = build_asgi(webhook_routes(WEBHOOK_PATH, WEBHOOK_SECRET, Refusing()))
    hooked.world.user(701).send_text(BODY_MARKER)
    (update,) = hooked.world.telegram.pending_updates()
    transport = httpx.ASGITransport(app=refusing)
    async with httpx.AsyncClient(transport=transport, base_url="http://bot.test") as client:
        with caplog.at_level(logging.INFO):
            response = await client.post(
                WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
            )
    assert response.status_code == 503
    assert any("database is locked" in r.getMessage() for r in caplog.records)
    assert not any(BODY_MARKER in r.getMessage() for r in caplog.records)
    # Telegram's retry reaches a working instance: stored.
    assert (await hooked.post(update)).status_code == 200
    assert [row[0] for row in await inbox_rows(hooked)] == [update["update_id"]]


async def test_an_update_claimed_by_a_dead_worker_is_applied_once_its_lease_lapses(
    hooked: Hooked,
) -> None:
    world = hooked.world
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(503, "Ola")
    buyer.send_command("/start", token)
    (update,) = world.telegram.pending_updates()
    now = world.clock()
    async with world.services.db.transaction() as conn:
        await inbox_repo.store(conn, update["update_id"], 503, json.dumps(update), now=now)
        # Another instance took it and died: its claim runs for 30 more seconds.
        assert [
            c.update_id
            for c in await inbox_repo.claim(
                conn, "dead-instance", now=now, until=now + timedelta(seconds=30), limit=10
            )
        ] == [update["update_id"]]
    hooked.worker.wake()
    await asyncio.sleep(0.2)  # several claim rounds of the live worker (idle_poll 0.05 s)
    assert buyer.messages() == []
    world.clock.advance(seconds=31)
    hooked.worker.wake()
    await hooked.settle()
    assert "Question 1 of 7" in buyer.last_message().text
    assert sum("Question 1 of 7" in m.text for m in buyer.messages()) == 1
    assert await world.rows("SELECT attempts, done_at IS NOT NULL FROM inbox") == [(2, 1)]
