"""The wiring table (bot/app.py): every button action has exactly one route, and the
layers below the handlers never reach up into them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import CallbackQuery, Chat, Message, Update, User
from telegram.ext import CallbackQueryHandler

from bot.app import RECURRING, Every, Loop, handlers
from bot.callbacks import Action, encode
from bot.handlers import refusals
from tests.test_import_cycles import import_graph

# Well-formed arguments for each action's callback data.
SAMPLE_ARGS: dict[Action, tuple[object, ...]] = {
    Action.ANSWER: (7, "nps", 9),
    Action.TOGGLE: (7, "improve", "price"),
    Action.CONFIRM: (7, "improve"),
    Action.BACK: (7, "nps"),
    Action.SKIP: (7, "nps"),
    Action.CANCEL: (7,),
    Action.RESUME: (7,),
    Action.RESTART: (7,),
    Action.EVALUATE: (3,),
    Action.MENU: (),
    Action.SWITCH_INVITE: ("AbCdEfGh12",),
    Action.SWITCH_EVALUATE: (3,),
    Action.LANG: ("pl",),
    Action.MUTE_PULSE: (1,),
    Action.SETTINGS: ("show", "day"),
}


def press(data: str) -> Update:
    user = User(501, "Ola", is_bot=False)
    message = Message(1, datetime(2026, 11, 30, tzinfo=UTC), Chat(501, Chat.PRIVATE))
    query = CallbackQuery("q1", user, "chat", message=message, data=data)
    return Update(1, callback_query=query)


def button_routes() -> list[CallbackQueryHandler[Any, Any]]:
    return [h for h in handlers()[0] if isinstance(h, CallbackQueryHandler)]


def test_every_action_has_a_sample() -> None:
    assert set(SAMPLE_ARGS) == set(Action)


@pytest.mark.parametrize("action", list(Action))
def test_each_button_action_has_exactly_one_route(action: Action) -> None:
    update = press(encode(action, *SAMPLE_ARGS[action]))
    routes = button_routes()
    *patterned, fallback = routes
    assert fallback.pattern is None and fallback.callback is refusals.on_unrouted_press
    matching = [route for route in patterned if route.check_update(update)]
    assert len(matching) == 1, [route.callback.__name__ for route in matching]


def test_data_feedbot_never_produces_matches_no_route_but_the_refusal() -> None:
    for data in ["f1:zz:1", "f1:a:1:nps", "f2:a:1:nps:5", "x" * 65]:
        update = press(data)
        *patterned, fallback = button_routes()
        assert not [route for route in patterned if route.check_update(update)], data
        assert fallback.check_update(update)


def test_every_recurring_job_has_a_distinct_name() -> None:
    names = [entry.name for entry in RECURRING]
    assert len(names) == len(set(names))
    assert all(isinstance(entry, Every | Loop) for entry in RECURRING)


@pytest.mark.parametrize("layer", ["bot.delivery", "bot.digest", "bot.flow", "bot.render"])
def test_the_layers_below_the_handlers_never_import_them(layer: str) -> None:
    graph = import_graph()
    start = [module for module in graph if module == layer or module.startswith(layer + ".")]
    seen = set(start)
    todo = list(start)
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    assert not {m for m in seen if m.startswith(("bot.handlers", "bot.app"))}
