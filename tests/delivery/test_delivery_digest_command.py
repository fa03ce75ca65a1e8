"""/digest on demand: owners only, and never a way to single out one colleague's answer."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.delivery.sender import Text, digest_parts
from bot.i18n import t
from storage import owners as owner_repo
from tests.delivery.support import (
    OWNER,
    BotWorld,
    add_owner,
    buyer_answers,
    internal_answers,
    respond,
)

LAST_WEEK = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # 2026-W47, closed
THIS_WEEK = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 2026-W48, in progress


async def ask(world: BotWorld, *args: str) -> list[str]:
    """Send /digest and return what came back (captions for photos)."""
    before = len(world.telegram.messages(OWNER))
    world.user(OWNER).send_command("/digest", " ".join(args) or None)
    await world.deliver()
    return world.telegram.texts(OWNER)[before:]


async def test_someone_who_owns_nothing_is_told_politely(world: BotWorld) -> None:
    stranger = world.user(555)
    stranger.send_command("/digest")
    await world.deliver()
    assert stranger.last_message().text == t("en", "owner.not_owner")


async def test_an_owner_of_several_subjects_names_one(world: BotWorld) -> None:
    await add_owner(world, OWNER, "sales")
    await add_owner(world, OWNER, "coffee")
    replies = await ask(world)
    assert replies == [t("en", "owner.which_subject", slugs="coffee, sales")]
    replies = await ask(world, "coffee")
    assert "Morning Coffee" in replies[0]


async def open_week(world: BotWorld) -> list[str]:
    """What a digest asked for the running week gives (a department: its last closed one)."""
    parts = await digest_parts(
        world.services, world.subjects["sales"], "en", "2026-W48", closed_only=False
    )
    return [part.html for part in parts if isinstance(part, Text)]


async def test_an_internal_digest_on_demand_does_not_reveal_a_single_new_answer(
    world: BotWorld,
) -> None:
    await add_owner(world, OWNER, "sales")
    for score in (4, 4, 5, 3, 4, 5):
        await respond(world, "sales", internal_answers(score), at=LAST_WEEK)
    for score in (4, 4, 4, 4, 4):
        await respond(world, "sales", internal_answers(score), at=THIS_WEEK)
    open_before = await open_week(world)

    first = await ask(world)
    world.clock.advance(minutes=3)
    await respond(world, "sales", internal_answers(1))  # one colleague answers meanwhile
    second = await ask(world)

    # Even asked for the running week (as the CLI may), a department's digest is the
    # closed week's: identical scores, counts and comments, whatever answers came meanwhile.
    assert await open_week(world) == open_before and "Week 47" in open_before[0]
    assert first == second
    note = t(
        "en", "delivery.digest.internal_closed", rule=t("en", "delivery.digest.rule_department")
    )
    assert first[0] == note.replace("<b>", "").replace("</b>", "")
    assert any("Week 47" in text for text in first)
    assert not any("Week 48" in text for text in first)


async def test_an_external_digest_shows_the_week_so_far(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee")
    await respond(world, "coffee", buyer_answers(10), at=THIS_WEEK)
    await respond(world, "coffee", buyer_answers(4), at=THIS_WEEK)
    replies = await ask(world)
    assert any("Week 48" in text and "not over yet" in text for text in replies)


async def test_an_owner_who_blocked_the_bot_and_asks_again_gets_digests_again(
    world: BotWorld,
) -> None:
    await add_owner(world, OWNER, "coffee")
    async with world.services.db.transaction() as conn:
        await owner_repo.mark_owner_inactive(conn, OWNER)
    await ask(world)
    settings = await owner_repo.get_owner_settings(
        world.services.db.conn, OWNER, default_timezone="Europe/Warsaw"
    )
    assert settings.active


async def test_blocking_and_unblocking_the_bot_pauses_and_resumes_an_owner(
    world: BotWorld,
) -> None:
    await add_owner(world, OWNER, "coffee")
    owner = world.user(OWNER)

    async def active() -> bool:
        settings = await owner_repo.get_owner_settings(
            world.services.db.conn, OWNER, default_timezone="Europe/Warsaw"
        )
        return settings.active

    owner.block_bot()
    await world.deliver()
    assert not await active()
    world.clock.advance(hours=1)
    owner.unblock_bot()
    await world.deliver()
    assert await active()
