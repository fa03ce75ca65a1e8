"""Whether a survey button fits its question: the inverse of render.question_keyboard."""

from __future__ import annotations

import re

from bot.callbacks import Action, Callback, CallbackDataError
from surveys.schema import AnswerValue, Question, QuestionType

_SCALE_VALUE = re.compile(r"^[0-9]{1,2}$")
_YES_NO = {"yes": True, "no": False}


def press_value(question: Question, callback: Callback) -> AnswerValue:
    """The answer value a survey button carries for `question`, checked against what
    render.question_keyboard could have put under it; CallbackDataError otherwise.

    Only closed questions have answer buttons: a forged "answer" press must not put
    arbitrary text into a free-text question, nor a value outside a scale or a choice
    that does not exist. Toggle and Done exist only on multi-choice questions, Skip
    only on optional ones. Back carries no value.
    """
    action = callback.action
    if action is Action.BACK:
        return None
    if action is Action.SKIP:
        if question.required:
            raise CallbackDataError("skip on a required question", "wrong_action")
        return None
    if action is Action.CONFIRM:
        if question.type is not QuestionType.MULTI:
            raise CallbackDataError("done on a question without choices", "wrong_action")
        return None
    if action is Action.TOGGLE:
        if question.type is not QuestionType.MULTI:
            raise CallbackDataError("toggle on a question that is not multi-choice", "wrong_action")
        return _choice(question, callback.value)
    if action is not Action.ANSWER:
        raise CallbackDataError(f"{action.name} does not answer a question", "wrong_action")
    if question.scale is not None:
        low, high = question.scale
        raw = callback.value
        if not _SCALE_VALUE.match(raw) or not low <= int(raw) <= high:
            raise CallbackDataError("answer outside the question's scale", "bad_value")
        return int(raw)
    if question.type is QuestionType.SINGLE:
        return _choice(question, callback.value)
    if question.type is QuestionType.YES_NO:
        if callback.value not in _YES_NO:
            raise CallbackDataError("yes/no answer that is neither", "bad_value")
        return _YES_NO[callback.value]
    raise CallbackDataError(f"a button cannot answer a {question.type} question", "wrong_action")


def _choice(question: Question, choice_id: str) -> str:
    if question.choice(choice_id) is None:
        raise CallbackDataError("choice the question does not have", "bad_value")
    return choice_id
