"""Two `feedbot run --webhook` instances on one PostgreSQL database behind a load balancer:
200 buyers answer the external survey at once, one instance is SIGKILLed at a random
moment and restarted, and nothing acknowledged is lost, doubled or reordered."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from storage import owners as owner_repo
from storage.db import Database
from tests.backends import POSTGRES_ON, create_schema, drop_schema
from tests.e2e.conftest import E2E, TOKEN, BotProcess, _seed, poll_until
from tests.e2e.test_e2e_bot import EXTERNAL, EXTERNAL_THANKS
from tests.e2e.test_e2e_webhook import WEBHOOK_SECRET, assert_clean, free_port
from tests.fakes.balancer import Balancer
from tests.fakes.http_server import BotApiServer
from tests.fakes.telegram_server import FakeTelegram, FakeUser

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not POSTGRES_ON, reason="FEEDBOT_TEST_POSTGRES=off"),
]

BUYERS = 200
OWNERS = [910001, 910002, 910003, 910004, 910005]
# Short, so the claims of the killed instance lapse soon after it dies; long enough that
# a live instance, slowed by 200 buyers on a shared machine, renews its claims in time.
LEASE_SECONDS = "5"
# Hang guards, never expected to be reached: a step that never comes fails the test.
STEP_BOUND = 90.0
DIGEST_BOUND = 60.0
RESTART_BOUND = 30.0
DIGEST_PHRASE = "No buyer has rated Morning Coffee"


@dataclass
class Cluster:
    """The fake Telegram, the PostgreSQL schema both instances share, and the instances."""

    e2e: E2E
    url: str
    ports: list[int]

    def start(self, index: int) -> BotProcess:
        port = self.ports[index]
        return self.e2e.start_bot(
            ("run", "--webhook"),
            env={
                # One public URL for both, as behind a load balancer; each listens on its own.
                "FEEDBOT_WEBHOOK_URL": f"http://127.0.0.1:{self.ports[0]}/telegram/hook",
                "FEEDBOT_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "FEEDBOT_LISTEN": f"127.0.0.1:{port}",
                "FEEDBOT_INBOX_LEASE_SECONDS": LEASE_SECONDS,
                # The local Bot API has no flood limit: no pacing to 30 messages a second.
                "FEEDBOT_MESSAGES_PER_SECOND": "0",
            },
            ready="setWebhook",
        )

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        async def fetch() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(self.url.split("?")[0], timeout=60)
            try:
                schema = self.url.split("search_path=")[1].split("&")[0]
                await conn.execute(f"SET search_path = {schema}")
                return [tuple(row) for row in await conn.fetch(sql, *params)]
            finally:
                await conn.close()

        return asyncio.run(fetch())


async def _seed_owners(url: str) -> None:
    """Owners of the product since a month ago: last week's digest is due at once."""
    db = await Database.open(url)
    try:
        async with db.transaction() as conn:
            (subject_id,) = [
                row[0]
                async for row in await conn.execute(
                    "SELECT id FROM subjects WHERE slug = ?", ("coffee",)
                )
            ]
            for owner in OWNERS:
                await owner_repo.add_owner(
                    conn, owner, subject_id, now=datetime.now(UTC) - timedelta(days=30)
                )
    finally:
        await db.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    schema, url = asyncio.run(create_schema())
    home = tmp_path / "home"
    home.mkdir()
    with ExitStack() as cleanup:
        cleanup.callback(lambda: asyncio.run(drop_schema(schema)))
        seeded = asyncio.run(_seed(url))
        asyncio.run(_seed_owners(url))
        server = BotApiServer(FakeTelegram(token=TOKEN)).start()
        cleanup.callback(server.stop)
        world = E2E(server, seeded, home)
        try:
            yield Cluster(world, url, [free_port(), free_port()])
        finally:
            for bot in world.bots:
                bot.kill()


async def start_together(cluster: Cluster) -> list[BotProcess]:
    started = await asyncio.gather(*(asyncio.to_thread(cluster.start, n) for n in (0, 1)))
    # Each waits for a setWebhook call, maybe the other's: wait for both instances' calls.
    poll_until(
        lambda: len(cluster.e2e.telegram.calls_of("setWebhook")) >= 2,
        "both instances to register the webhook",
        RESTART_BOUND,
    )
    return list(started)


def survey(number: int) -> list[tuple[str, str, str]]:
    """Buyer `number`'s answers: (press or say, button or text, what the bot asks next).
    Their scores and comment differ, so each response can be told apart and checked."""
    return [
        ("press", str(7 + number % 2), EXTERNAL["nps_passive"]),
        ("say", f"Faster delivery #{number}", EXTERNAL["csat"]),
        ("press", str(1 + number % 5), EXTERNAL["effort"]),
        ("press", str(1 + number % 7), EXTERNAL["improve"]),
        ("press", "Skip ▶", EXTERNAL["comment"]),
        ("press", "Skip ▶", EXTERNAL["contact_consent"]),
        ("press", "No", EXTERNAL_THANKS),
    ]


async def expect(fake: FakeTelegram, user: FakeUser, text: str) -> None:
    def arrived() -> bool:
        messages = fake.messages(user.id)
        return bool(messages) and text in messages[-1].text

    await fake.async_wait_for(
        arrived,
        STEP_BOUND,
        lambda: f"{text!r} in chat {user.id}; it reads:\n{fake.transcript(user.id)}",
        chat_id=user.id,
    )


async def take_survey(e2e: E2E, user: FakeUser, number: int) -> None:
    fake = e2e.telegram
    user.send_command("/start", e2e.seeded.buyer_invite)
    await expect(fake, user, EXTERNAL["nps"])
    for action, value, then in survey(number):
        if action == "press":
            user.press(value)
        else:
            user.send_text(value)
        await expect(fake, user, then)


def digests_settled(cluster: Cluster) -> bool:
    """Every owner's digest went out and is recorded as sent."""
    sent = cluster.rows("SELECT count(*) FROM outbox WHERE kind = 'digest' AND status = 'sent'")
    return sent == [(len(OWNERS),)]


async def run_buyers(cluster: Cluster, instances: list[BotProcess]) -> tuple[int, BotProcess]:
    """Every buyer takes the survey at once; meanwhile, once the digests are out, one
    instance is killed at a random moment and restarted. Returns which, and its restart."""
    e2e = cluster.e2e
    buyers = [e2e.user(700000 + n, f"Buyer {n}") for n in range(BUYERS)]
    surveys = asyncio.gather(*(take_survey(e2e, b, n) for n, b in enumerate(buyers)))
    # A kill between sending a digest and recording it sent would send it again once its
    # lease lapsed (Telegram has no idempotency key: at least once is all a crash allows),
    # so the kill comes after the digests went out and were recorded; the instance that
    # restarts sends none again.
    try:
        await asyncio.to_thread(
            poll_until, lambda: digests_settled(cluster), "the digests sent", DIGEST_BOUND
        )
    except AssertionError as exc:
        outbox = await asyncio.to_thread(
            cluster.rows,
            "SELECT kind, status, attempts, parts_sent, claimed_by, claimed_until, next_attempt_at,"
            " last_error FROM outbox ORDER BY id",
        )
        logs = "\n".join(f"--- {bot.log_path.name}:\n{bot.log[-4000:]}" for bot in instances)
        raise AssertionError(f"{exc}; the outbox: {outbox}\n{logs}") from None
    await asyncio.sleep(random.uniform(0.2, 2.0))
    victim = random.randrange(len(instances))
    await asyncio.to_thread(instances[victim].kill)
    await asyncio.sleep(random.uniform(0.0, 1.0))
    restarted = await asyncio.to_thread(cluster.start, victim)
    await surveys
    return victim, restarted


def test_two_instances_on_one_postgresql_lose_nothing_when_one_is_killed(
    cluster: Cluster,
) -> None:
    e2e = cluster.e2e
    for owner in OWNERS:
        e2e.user(owner, f"Owner {owner}")
    # Both at once: their delivery loops tick together and race for the same digests.
    instances = asyncio.run(start_together(cluster))
    balancer = Balancer(e2e.telegram, cluster.ports).start()
    try:
        victim, restarted = asyncio.run(run_buyers(cluster, instances))
        poll_until(
            lambda: cluster.rows("SELECT count(*) FROM inbox WHERE done_at IS NULL") == [(0,)],
            "every update in the inbox done",
            RESTART_BOUND,
        )
    finally:
        balancer.stop()
    survivors = [bot for n, bot in enumerate(instances) if n != victim] + [restarted]
    for bot in survivors:
        assert bot.stop() == 0, bot.log

    # Every acknowledged update is in the inbox, done.
    done = {int(row[0]) for row in cluster.rows("SELECT update_id FROM inbox")}
    assert balancer.acknowledged <= done
    assert cluster.rows("SELECT count(*) FROM inbox WHERE done_at IS NULL") == [(0,)]

    # One completed response per buyer, each with its answers in the order given.
    responses = cluster.rows(
        "SELECT r.id, r.status FROM responses r JOIN subjects s ON s.id = r.subject_id"
        " WHERE s.slug = 'coffee'"
    )
    assert len(responses) == BUYERS
    assert {status for _, status in responses} == {"completed"}
    stored: dict[str, list[tuple[object, ...]]] = {}
    for response_id, _ in responses:
        answers = cluster.rows(
            "SELECT question_id, number, text, choice FROM answers WHERE response_id = $1"
            " ORDER BY position",
            response_id,
        )
        comment = next(str(text) for _, _, text, _ in answers if text)
        assert comment not in stored, f"{comment!r} stored twice"
        stored[comment] = [tuple(a) for a in answers]
    for number in range(BUYERS):
        steps = survey(number)
        comment = f"Faster delivery #{number}"
        assert stored[comment] == [
            ("nps", int(steps[0][1]), None, None),
            ("nps_passive", None, comment, None),
            ("csat", int(steps[2][1]), None, None),
            ("effort", int(steps[3][1]), None, None),
            ("contact_consent", 0, None, None),  # "No"; the two skipped are not stored
        ], comment

    # Each due digest went out once, though both instances (and the restarted one)
    # queued and sent what was due.
    assert cluster.rows(
        "SELECT count(*), count(*) FILTER (WHERE status = 'sent') FROM outbox WHERE kind = 'digest'"
    ) == [(len(OWNERS), len(OWNERS))]
    for owner in OWNERS:
        texts = [m.text for m in e2e.telegram.messages(owner)]
        assert sum(DIGEST_PHRASE in text for text in texts) == 1, texts

    for bot in [*instances, restarted]:
        assert_clean(bot)
