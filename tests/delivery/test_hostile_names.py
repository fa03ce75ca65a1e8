"""Names and answers with & and < go through every message the bot sends, shown literally."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot import jobs
from bot.context import FeedbotContext
from bot.i18n import visible
from storage import subjects as subject_repo
from tests.bot.conftest import ADMIN_ID
from tests.delivery.support import (
    BotWorld,
    add_member,
    add_owner,
    buyer_answers,
    internal_answers,
    respond,
    tick,
)
from tests.fakes.html_parser import parse_html

PRODUCT_PL = "Kawa & <b>herbata</b>"
PRODUCT_EN = "Tea <script> & a<b"
DEPARTMENT = 'R&D <Lab> "x"'
COMMENT = "<b>&\"'</i> a<b &amp;"
LAST_WEEK = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # 2026-W47, closed
DIGEST_OWNER, DEPT_OWNER, PULSED = 7101, 7102, 7400
_TOKEN = re.compile(r"start=(\S+)")


def token_of(link: str) -> str:
    """The invite token of a t.me link's start parameter."""
    found = _TOKEN.search(link)
    assert found is not None, link
    return found[1]


def assert_every_call_parsed(world: BotWorld) -> list[str]:
    """Telegram refused nothing, and every text or caption sent parses as HTML.

    Returns every visible text and button label the users were shown."""
    assert world.telegram.failures == []
    shown: list[str] = []
    for call in world.telegram.calls:
        for key in ("text", "caption"):
            value = call.params.get(key)
            if not isinstance(value, str):
                continue
            if call.method == "answerCallbackQuery":  # a toast: shown raw
                shown.append(value)
            else:
                assert call.params.get("parse_mode") == "HTML", call
                shown.append(parse_html(value)[0])
        markup = call.params.get("reply_markup")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                shown.extend(str(button["text"]) for button in row)
    return shown


async def admin_says(world: BotWorld, text: str) -> str:
    admin = world.user(ADMIN_ID, "Admin")
    command, _, rest = text.partition(" ")
    admin.send_command(command, rest or None)
    await world.deliver()
    return admin.last_message().text


async def test_hostile_names_and_answers_are_shown_literally_everywhere(world: BotWorld) -> None:
    # An admin names a product and a department with markup-like characters.
    added = await admin_says(world, f"/addproduct tea {PRODUCT_PL} | {PRODUCT_EN}")
    assert PRODUCT_EN in added
    added = await admin_says(world, f"/adddepartment rnd {DEPARTMENT}")
    assert DEPARTMENT in added
    assert PRODUCT_EN in await admin_says(world, "/products")
    assert DEPARTMENT in await admin_says(world, "/departments")
    for subject in await subject_repo.list_subjects(world.services.db.conn):
        world.subjects[subject.slug] = subject
    # What an admin typed wrong is quoted back literally.
    assert "a<b&c" in await admin_says(world, "/invite buyer a<b&c")
    assert "“x<i>”" in await admin_says(world, "/adddepartment x<i> Name")
    buyer_link = await admin_says(world, "/invite buyer tea")
    owner_link = await admin_says(world, "/invite owner tea")
    employee_link = await admin_says(world, "/invite employee sales")

    # An owner takes ownership (in Polish) and lists what they own.
    owner = world.user(7100, "Ewa", lang="pl")
    owner.send_command("/start", token_of(owner_link))
    await world.deliver()
    assert PRODUCT_PL in owner.last_message().text
    owner.send_command("/subjects")
    await world.deliver()
    assert PRODUCT_PL in owner.last_message().text
    owner.send_command("/settings", "tz <b>Mars&Co")
    await world.deliver()
    assert "„<b>Mars&Co”" in owner.last_message().text
    owner.send_command("/settings", "alerts on")
    await world.deliver()

    # A buyer answers the product's survey with a hostile comment.
    buyer = world.user(7200, "<i>Ola & co", lang="en")
    buyer.send_command("/start", token_of(buyer_link))
    await world.deliver()
    assert PRODUCT_EN in buyer.last_message().text
    buyer.press("3")
    await world.deliver()
    buyer.send_text(COMMENT)
    await world.deliver()
    assert any(f"→ {COMMENT}" in m.text for m in buyer.messages())
    for press in ["2", "3", "Quality", "Done ✓", "Skip ▶", "No"]:
        buyer.press(press)
        await world.deliver()
    assert PRODUCT_EN in buyer.last_message().text  # "goes to the team responsible for ..."
    await add_member(world, PULSED, "sales")
    await tick(world)  # the detractor alert, and a pulse invitation
    assert DEPARTMENT in world.telegram.messages(PULSED)[-1].button_texts
    alert = owner.last_message().text
    assert alert.startswith(f"⚠️ Krytyczna opinia kupującego · {PRODUCT_PL}") and COMMENT in alert

    # An employee evaluates the department: its button shows the name as typed.
    employee = world.user(7300, "Jan")
    employee.send_command("/start", token_of(employee_link))
    await world.deliver()
    assert DEPARTMENT in employee.last_message().button_texts
    employee.press(DEPARTMENT)
    await world.deliver()
    assert DEPARTMENT in employee.last_message().text
    for value in ["4", "5", "3", "4", "5", "9"]:
        employee.press(value)
        await world.deliver()
    employee.send_text(COMMENT)
    await world.deliver()
    employee.press("Skip ▶")
    await world.deliver()
    employee.send_command("/evaluate")
    await world.deliver()
    assert any(
        label.startswith(f"✓ {DEPARTMENT} — again from")
        for label in employee.last_message().button_texts
    )

    # Enough answers last week for weekly digests that show the names and comments.
    for nps in (10, 9, 8, 3, 10):
        await respond(world, "tea", buyer_answers(nps, nps_detractor=COMMENT), at=LAST_WEEK)
    for score in (4, 4, 5, 3, 4, 5):
        answers = {**internal_answers(score), "works_well": COMMENT}
        await respond(world, "rnd", answers, at=LAST_WEEK)
    await add_owner(world, DIGEST_OWNER, "tea", detractor_alerts=True)
    await add_owner(world, DEPT_OWNER, "rnd")
    await tick(world)
    product_digest = "\n".join(m.caption + m.text for m in world.telegram.messages(DIGEST_OWNER))
    assert PRODUCT_EN in product_digest and COMMENT in product_digest
    department_digest = "\n".join(m.caption + m.text for m in world.telegram.messages(DEPT_OWNER))
    assert DEPARTMENT in department_digest and COMMENT in department_digest

    # On demand.
    for who, slug, name in ((DIGEST_OWNER, "tea", PRODUCT_EN), (DEPT_OWNER, "rnd", DEPARTMENT)):
        before = len(world.telegram.messages(who))
        world.user(who).send_command("/digest", slug)
        await world.deliver()
        assert any(name in text for text in world.telegram.texts(who)[before:])
    # The export's caption (a product's: a department's export is gated by anonymity).
    world.user(DIGEST_OWNER).send_command("/export")
    await world.deliver()
    assert PRODUCT_EN in world.telegram.messages(DIGEST_OWNER)[-1].caption
    world.user(DEPT_OWNER).send_command("/export")  # whatever it answers must parse
    await world.deliver()

    # A buyer who stops half-way is reminded of the product by name.
    quiet = world.user(7201, "Quiet")
    quiet.send_command("/start", token_of(buyer_link))
    await world.deliver()
    quiet.press("9")
    await world.deliver()
    world.clock.advance(hours=25)
    await jobs.send_reminders(FeedbotContext(world.app))
    assert f"unfinished survey about {PRODUCT_EN}" in quiet.last_message().text

    shown = assert_every_call_parsed(world)
    # Escaped once, never twice: no "&amp;" or "&lt;" a user did not type.
    assert not any("&lt;" in text or "&amp;amp;" in text for text in shown)
    assert not any("&amp;" in text.replace(COMMENT, "") for text in shown)
    assert visible(PRODUCT_EN) != PRODUCT_EN  # the name does look like HTML
