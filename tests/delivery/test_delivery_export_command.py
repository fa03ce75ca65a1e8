"""/export of a department: only what its digests may show, or why there is nothing yet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from bot.delivery.sender import Text, digest_parts
from bot.i18n import t
from surveys.schema import AnswerValue
from tests.delivery.support import OWNER, BotWorld, add_owner, internal_answers, respond

LAST_WEEK = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # 2026-W47, closed on WEDNESDAY
THIS_WEEK = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 2026-W48, in progress
TWO_WEEKS_AGO = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)  # 2026-W46


def answers(score: int, text: str) -> dict[str, AnswerValue]:
    return {**internal_answers(score), "should_change": text}


async def export(world: BotWorld) -> tuple[list[dict[str, str]] | None, str]:
    """Send /export; the CSV rows when a document came back, and the last text."""
    before = len(world.telegram.messages(OWNER))
    world.user(OWNER).send_command("/export")
    await world.deliver()
    sent = world.telegram.messages(OWNER)[before:]
    assert len(sent) == 1
    message = sent[0]
    if message.document is None:
        return None, message.text
    content = (message.document.content or b"").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(content))), message.caption or ""


async def test_nothing_to_export_says_why_and_when_instead_of_an_empty_file(
    world: BotWorld,
) -> None:
    await add_owner(world, OWNER, "sales")
    for score in (4, 5, 3):
        await respond(world, "sales", answers(score, "The running week"), at=THIS_WEEK)
    for score in (4, 2):
        await respond(world, "sales", answers(score, "Two weeks ago"), at=TWO_WEEKS_AGO)
    rows, text = await export(world)
    assert rows is None
    assert t("en", "owner.export_internal_nothing", subject="Sales", threshold=5) in text
    # W46 (2 answers) waits for its block W45-W48, which ends on 29 November.
    assert "Week 2026-W46 needed 3 more to be shown on its own" in text
    assert "pooled with the other quiet weeks of its 4-week block from 30 Nov 2026" in text
    assert "Responses given this week can be exported from 30 Nov 2026" in text
    assert "The running week" not in text


async def test_an_export_holds_the_closed_weeks_the_digest_shows_and_nothing_finer(
    world: BotWorld,
) -> None:
    await add_owner(world, OWNER, "sales")
    for i, score in enumerate((4, 4, 5, 3, 4, 5)):
        await respond(world, "sales", answers(score, f"Last week {i}"), at=LAST_WEEK)
    for score in (1, 1, 1, 1, 1, 1):
        await respond(world, "sales", answers(score, "This week"), at=THIS_WEEK)
    rows, caption = await export(world)
    assert rows is not None
    assert caption == t("en", "owner.export_internal_caption", subject="Sales")
    assert list(rows[0]) == ["response_no", "period", "role", *internal_answers(1), *_rest(rows)]
    # Only W47: the running week's six answers are not in it; no time, no status.
    assert {row["period"] for row in rows} == {"2026-W47"}
    assert len(rows) == 6 and "submitted_at" not in rows[0]
    assert {row["should_change"] for row in rows} == {f"Last week {i}" for i in range(6)}
    # One role group only: the column stays empty (the role would single nobody out
    # here, but the rule is the digest's: a breakdown needs two groups meeting K).
    assert {row["role"] for row in rows} == {""}
    # Rows follow their cells, not the order the answers were given.
    assert [row["overall"] for row in rows] == sorted(row["overall"] for row in rows)
    # The digest of that week aggregates the very same six responses.
    parts = await digest_parts(world.services, world.subjects["sales"], "en", "2026-W48",
                               closed_only=True)  # fmt: skip
    text = "\n".join(p.html for p in parts if isinstance(p, Text))
    assert "Completed: <b>6</b>" in text and "Week 47" in text


async def test_a_product_export_is_unchanged(world: BotWorld) -> None:
    await add_owner(world, OWNER, "coffee")
    rows, text = await export(world)
    assert rows == [] and text == t("en", "owner.export_caption", subject="Morning Coffee")


def _rest(rows: list[dict[str, str]]) -> list[str]:
    """The question columns after the rated ones (their order is the survey's)."""
    return list(rows[0])[3 + len(internal_answers(1)) :]
