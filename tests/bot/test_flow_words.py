"""What the bot says agrees with what it does: Back shows the earlier answer, edge states
read naturally, one wording for what /digest shows, /invite speaks the admin's language."""

from __future__ import annotations

from bot.i18n import t, visible
from storage.models import InviteKind, MemberRole
from tests.bot.conftest import ADMIN_ID, BotWorld
from tests.fakes.telegram_server import FakeUser


async def start_buyer(world: BotWorld, user_id: int = 501, lang: str = "en") -> FakeUser:
    token = await world.invite(InviteKind.BUYER, "coffee")
    buyer = world.user(user_id, "Ola", lang=lang)
    buyer.send_command("/start", token)
    await world.deliver()
    return buyer


async def test_back_marks_the_button_given_before(world: BotWorld) -> None:
    buyer = await start_buyer(world)
    buyer.press("3")
    await world.deliver()
    buyer.press("◀ Back")
    await world.deliver()
    question = buyer.last_message()
    assert "Question 1 of" in question.text
    assert "Your answer before: 3 (marked •)" in question.text
    answers = [b for b in question.button_texts if b[-1].isdigit()]
    assert answers == ["0", "1", "2", "• 3", "4", "5", "6", "7", "8", "9", "10"]
    buyer.press("• 3")  # pressing the marked button gives the same answer again
    await world.deliver()
    assert "What disappointed you?" in buyer.last_message().text
    assert "(marked •)" not in buyer.last_message().text  # only after Back


async def test_back_quotes_the_text_typed_before_or_says_it_was_skipped(world: BotWorld) -> None:
    buyer = await start_buyer(world, lang="pl")
    buyer.press("3")
    await world.deliver()
    buyer.send_text("Za gorzka")
    await world.deliver()
    buyer.press("◀ Wstecz")
    await world.deliver()
    assert "Twoja poprzednia odpowiedź: „Za gorzka”" in buyer.last_message().text
    buyer.press("Pomiń ▶")
    await world.deliver()
    buyer.press("◀ Wstecz")
    await world.deliver()
    assert "Poprzednio to pytanie pominięto." in buyer.last_message().text


async def test_back_to_a_multiple_choice_question_names_the_choices_given(
    world: BotWorld,
) -> None:
    buyer = await start_buyer(world)
    for press in ["9", "Skip ▶", "5", "6", "Price", "Delivery", "Done ✓"]:
        buyer.press(press)
        await world.deliver()
    buyer.press("◀ Back")
    await world.deliver()
    question = buyer.last_message()
    assert "Your answer before: Price, Delivery" in question.text
    # Nothing is pre-selected: ✓ means "toggled now", and nothing was toggled yet.
    assert not any(b.startswith(("✓", "•")) for b in question.button_texts)


async def join(
    world: BotWorld, user_id: int, *, role: MemberRole | None = None, lang: str = "en"
) -> FakeUser:
    if role is None:
        token = await world.invite(InviteKind.EMPLOYEE, "sales")
    else:
        token = await world.invite(InviteKind.PARTNER, role=role)
    member = world.user(user_id, "Jan", lang=lang)
    member.send_command("/start", token)
    await world.deliver()
    return member


async def test_starting_another_department_offers_to_continue_or_drop_the_unfinished_one(
    world: BotWorld,
) -> None:
    employee = await join(world, 801)
    employee.press("Customer service")
    await world.deliver()
    employee.press("4")
    await world.deliver()
    employee.send_command("/evaluate")
    await world.deliver()
    employee.press("Marketing")
    await world.deliver()
    offer = employee.last_message()
    assert offer.text == (
        "You have an unfinished survey about Customer service (you stopped at question 2). "
        "Continue it, or drop it and evaluate Marketing instead? "
        "(Its answers so far would be deleted.)"
    )
    assert offer.button_texts == ["▶ Continue where I left off", "Drop it and evaluate Marketing"]
    employee.press("Drop it and evaluate Marketing")
    await world.deliver()
    assert "Question 1 of" in employee.last_message().text
    assert "Marketing" in employee.last_message().text
    assert await world.rows("SELECT subject_id FROM sessions WHERE status = 'active'") == [
        (world.subjects["marketing"].id,)
    ]
    assert (world.subjects["support"].id,) not in await world.rows(
        "SELECT subject_id FROM sessions WHERE status = 'active'"
    )


async def test_continuing_the_unfinished_one_returns_to_where_it_stopped(world: BotWorld) -> None:
    employee = await join(world, 802, lang="pl")
    employee.press("Obsługa klienta")
    await world.deliver()
    employee.press("4")
    await world.deliver()
    employee.send_command("/evaluate")
    await world.deliver()
    employee.press("Marketing")
    await world.deliver()
    offer = employee.last_message()
    assert offer.text.startswith(
        "Masz niedokończoną ankietę: Obsługa klienta (przerwaną na pytaniu 2)"
    )
    assert "ocenić dział „Marketing”" in offer.text
    employee.press("▶ Kontynuuj od miejsca przerwania")
    await world.deliver()
    question = employee.last_message()
    assert "Pytanie 2 z" in question.text and "„Obsługa klienta”" in question.text


async def test_an_edited_message_without_a_survey_does_not_mention_answers(
    world: BotWorld,
) -> None:
    stranger = world.user(803)
    sent = stranger.send_text("hello")
    await world.deliver()
    stranger.edit_message(sent["message"]["message_id"], "hello there")
    await world.deliver()
    text = stranger.last_message().text
    assert "don't read edited messages" in text
    assert "Back" not in text and "answer" not in text


async def test_a_supplier_is_not_told_their_own_department_is_left_out(world: BotWorld) -> None:
    supplier = await join(world, 804, role=MemberRole.SUPPLIER, lang="pl")
    menu = supplier.last_message()
    assert menu.text == "Który dział chcesz ocenić?"
    assert menu.button_texts == ["Marketing", "Obsługa klienta", "Sprzedaż"]
    assert any("w roli dostawcy" in text for text in world.telegram.texts(804))
    employee = await join(world, 805)
    assert "(Your own is not on the list.)" in employee.last_message().text


async def test_the_owner_welcome_and_digest_state_the_same_rule(world: BotWorld) -> None:
    token = await world.invite(InviteKind.OWNER, "sales", max_uses=1)
    owner = world.user(806, "Ewa")
    owner.send_command("/start", token)
    await world.deliver()
    welcome = owner.last_message().text
    rule = visible(t("en", "delivery.digest.rule_department"))
    assert "the department Sales" in welcome and rule in welcome
    assert "current week" not in welcome
    owner.send_command("/digest")
    await world.deliver()
    assert any(rule in text for text in world.telegram.texts(806)[1:])

    token = await world.invite(InviteKind.OWNER, "coffee", max_uses=1)
    product_owner = world.user(807, "Ewa", lang="pl")
    product_owner.send_command("/start", token)
    await world.deliver()
    welcome = product_owner.last_message().text
    assert "produkt: Kawa Poranna" in welcome
    assert visible(t("pl", "delivery.digest.rule_product")) in welcome
    assert "w każdy poniedziałek" in welcome


async def test_invite_takes_and_answers_in_the_admins_language(world: BotWorld) -> None:
    admin = world.user(ADMIN_ID, "Admin", lang="pl")
    admin.send_text("/invite pracownik coffee")
    await world.deliver()
    assert admin.last_message().text == (
        "„coffee” to produkt, a po /invite pracownik trzeba podać dział. "
        "Listy: /departments i /products."
    )
    admin.send_text("/invite kupujący coffee")
    await world.deliver()
    text = admin.last_message().text
    assert text.startswith("Nowe zaproszenie dla kupującego (liczba użyć: bez limitu):")
    assert "buyer" not in text
    admin.send_text("/invite partner dostawca")
    await world.deliver()
    assert admin.last_message().text.startswith("Nowe zaproszenie dla partnera")
    assert await world.rows("SELECT kind, role FROM invites ORDER BY id") == [
        ("buyer", None),
        ("partner", "supplier"),
    ]
    admin.send_text("/lang en")
    await world.deliver()
    admin.send_text("/invite employee coffee")
    await world.deliver()
    assert admin.last_message().text.startswith(
        "“coffee” is a product, but /invite employee needs a department."
    )


async def test_pulses_say_the_interval_the_scheduler_uses(world: BotWorld) -> None:
    member = await join(world, 808, lang="pl")
    member.send_command("/pulses")  # off
    await world.deliver()
    member.send_command("/pulses")  # on again
    await world.deliver()
    assert world.settings.pulse_weeks == 4
    assert member.last_message().text == "Zaproszenie do oceny działów dostaniesz co 4 tygodnie."
