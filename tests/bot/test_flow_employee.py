"""Employees and partners: register by invite, evaluate other departments anonymously."""

from __future__ import annotations

from storage.models import InviteKind, MemberRole
from tests.bot.conftest import BotWorld
from tests.fakes.telegram_server import FakeUser

ALL_RATINGS = ["4", "5", "3", "4", "5"]


async def join_sales(world: BotWorld, user_id: int = 987654321) -> FakeUser:
    token = await world.invite(InviteKind.EMPLOYEE, "sales")
    employee = world.user(user_id, "Jan")
    employee.send_command("/start", token)
    await world.deliver()
    return employee


async def finish_internal_survey(
    world: BotWorld, employee: FakeUser, comment: str = "Fast replies"
) -> None:
    for value in ALL_RATINGS:
        employee.press(value)
        await world.deliver()
    employee.press("9")  # recommend, 0-10
    await world.deliver()
    employee.send_text(comment)
    await world.deliver()
    employee.press("Skip ▶")
    await world.deliver()


async def test_an_employee_sees_every_department_but_their_own(world: BotWorld) -> None:
    employee = await join_sales(world)
    texts = world.telegram.texts(employee.id)
    assert any("member of Sales" in t for t in texts)
    assert any("anonymous" in t for t in texts)
    menu = employee.last_message()
    assert menu.button_texts == ["Customer service", "Marketing"]


async def test_an_employee_cannot_evaluate_their_own_department_even_by_forged_data(
    world: BotWorld,
) -> None:
    employee = await join_sales(world)
    menu = employee.last_message()
    employee.press_data(f"f1:ev:{world.subjects['sales'].id}", menu.message_id)
    await world.deliver()
    answer = world.telegram.calls_of("answerCallbackQuery")[-1].params
    assert answer["text"] == "You can't evaluate your own department."
    assert await world.rows("SELECT count(*) FROM sessions") == [(0,)]


async def test_an_internal_response_holds_no_telegram_id(world: BotWorld) -> None:
    employee = await join_sales(world)
    employee.press("Customer service")
    await world.deliver()
    assert "Question 1 of 8" in employee.last_message().text
    await finish_internal_survey(world, employee)
    assert "anonymously" in employee.last_message().text

    telegram_id = str(employee.id)
    for table in ("responses", "answers", "sessions"):
        for row in await world.rows(f"SELECT * FROM {table}"):
            assert all(telegram_id not in str(cell) for cell in row), (table, row)
    assert await world.rows("SELECT role, status FROM responses") == [("employee", "completed")]
    # The department they evaluated is now marked with the date they can do it again.
    employee.send_command("/evaluate")
    await world.deliver()
    assert employee.last_message().button_texts[0].startswith("✓ Customer service — again from")


async def test_a_contractor_may_evaluate_every_department(world: BotWorld) -> None:
    token = await world.invite(InviteKind.PARTNER, role=MemberRole.CONTRACTOR)
    contractor = world.user(777, "Piotr")
    contractor.send_command("/start", token)
    await world.deliver()
    assert contractor.last_message().button_texts == ["Customer service", "Marketing", "Sales"]
    contractor.press("Sales")
    await world.deliver()
    await finish_internal_survey(world, contractor)
    assert await world.rows("SELECT role FROM responses") == [("contractor",)]


async def test_text_where_a_button_is_expected_points_at_the_buttons(world: BotWorld) -> None:
    employee = await join_sales(world)
    employee.press("Marketing")
    await world.deliver()
    employee.send_text("five")
    await world.deliver()
    assert "buttons" in employee.last_message().text
    assert await world.session_states() == [{"answers": {}, "history": [], "pending": []}]


async def test_a_double_tapped_button_records_one_answer(world: BotWorld) -> None:
    employee = await join_sales(world)
    employee.press("Marketing")
    await world.deliver()
    question = employee.last_message()
    employee.press("4", question.message_id)
    employee.press("5", question.message_id)  # the second tap arrives before any reply
    await world.deliver()
    [state] = await world.session_states()
    assert state["answers"] == {"overall": 4}
    # The second press was answered as an outdated button, not stored as the next answer.
    assert "Question 2 of 8" in employee.last_message().text


async def test_text_over_the_limit_is_refused_and_nothing_is_stored(world: BotWorld) -> None:
    employee = await join_sales(world)
    employee.press("Marketing")
    await world.deliver()
    for value in [*ALL_RATINGS, "8"]:
        employee.press(value)
        await world.deliver()
    before = await world.rows("SELECT state_json FROM sessions")
    employee.send_text("x" * 5000)
    await world.deliver()
    assert "shorten it to 1000 characters" in employee.last_message().text
    assert await world.rows("SELECT state_json FROM sessions") == before


async def test_a_new_member_gets_a_command_menu_with_their_commands(world: BotWorld) -> None:
    employee = await join_sales(world)
    menus = [
        call.params
        for call in world.telegram.calls_of("setMyCommands")
        if isinstance(call.params.get("scope"), dict)
        and call.params["scope"].get("chat_id") == employee.id
    ]
    assert len(menus) == 1
    names = [entry["command"] for entry in menus[0]["commands"]]
    assert names == ["start", "help", "lang", "cancel", "evaluate", "pulses"]
