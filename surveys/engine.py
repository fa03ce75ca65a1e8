"""The pure survey flow engine: which question comes next, and how answers change a session."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from enum import Enum

from surveys.schema import AnswerRecord, AnswerValue, Question, QuestionType, SurveyDefinition

__all__ = [
    "Done",
    "QuestionStep",
    "Rejection",
    "SessionState",
    "Step",
    "answer_records",
    "apply_answer",
    "confirm_choices",
    "current_question",
    "go_back",
    "new_state",
    "next_step",
    "parse_text",
    "skip",
    "toggle_choice",
    "validate_value",
    "visible_questions",
]


# What json.dumps(ensure_ascii=False, separators=(",", ":")) would build for every call.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass
class SessionState:
    """Where one respondent is in a survey; plain data, saved as JSON after every answer."""

    answers: dict[str, AnswerValue] = field(default_factory=dict)
    """Question id -> value; None means the question was skipped."""
    history: list[str] = field(default_factory=list)
    """Ids of the questions answered or skipped, in the order they were shown."""
    pending: list[str] = field(default_factory=list)
    """Choice ids toggled on the current multi-choice question, not yet confirmed."""

    def to_json(self) -> str:
        """The state as a compact JSON object."""
        data = {"answers": self.answers, "history": self.history, "pending": self.pending}
        return _COMPACT.encode(data)

    @classmethod
    def from_json(cls, s: str) -> SessionState:
        """Read a state saved by `to_json`; unknown keys are ignored, missing ones default,
        malformed entries are dropped (a session must always be resumable)."""
        try:
            data = json.loads(s) if s else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        raw_answers = data.get("answers")
        answers: dict[str, AnswerValue] = {}
        if isinstance(raw_answers, dict):
            for key, value in raw_answers.items():
                if _is_answer_value(value):
                    answers[str(key)] = list(value) if isinstance(value, list) else value
        return cls(
            answers=answers,
            history=_str_list(data.get("history")),
            pending=_str_list(data.get("pending")),
        )


def _is_answer_value(value: object) -> bool:
    if value is None or isinstance(value, int | str):  # bool is an int
        return True
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _str_list(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str)]


def new_state() -> SessionState:
    """The state of a survey nobody has answered yet."""
    return SessionState()


@dataclass(frozen=True)
class QuestionStep:
    """Ask `question`; it is question `number` of about `total` (see `next_step`)."""

    question: Question
    number: int
    total: int
    can_go_back: bool
    can_skip: bool
    selected: tuple[str, ...]
    """For a multi-choice question: the choices toggled so far (pending)."""


@dataclass(frozen=True)
class Done:
    """Every visible question has been answered or skipped."""

    answers: dict[str, AnswerValue]


Step = QuestionStep | Done


@dataclass(frozen=True)
class Rejection:
    """Why an action was refused; the bot translates `error.<key>` with `params`."""

    key: str
    params: dict[str, object] = field(default_factory=dict)


# ---------------------------------------------------------------- visibility


class _Shown(Enum):
    YES = "yes"
    NO = "no"
    MAYBE = "maybe"  # depends on a question that is not answered yet


def _visibility(definition: SurveyDefinition, answers: dict[str, AnswerValue]) -> dict[str, _Shown]:
    """Each question's visibility given the answers. One pass suffices because a condition
    may only look at an earlier question."""
    shown: dict[str, _Shown] = {}
    for q in definition.questions:
        cond = q.show_if
        if cond is None:
            shown[q.id] = _Shown.YES
            continue
        source = shown.get(cond.question, _Shown.NO)
        if source is _Shown.YES and cond.question in answers:
            shown[q.id] = _Shown.YES if cond.matches(answers[cond.question]) else _Shown.NO
        elif source is _Shown.NO:
            shown[q.id] = _Shown.NO
        else:
            shown[q.id] = _Shown.MAYBE
    return shown


def visible_questions(
    definition: SurveyDefinition, answers: dict[str, AnswerValue]
) -> list[Question]:
    """The questions shown given the answers so far: those without `show_if`, and those whose
    condition's question is visible, answered and matches (a skipped answer never matches)."""
    shown = _visibility(definition, answers)
    return [q for q in definition.questions if shown[q.id] is _Shown.YES]


def _expected_total(definition: SurveyDefinition, shown: dict[str, _Shown]) -> int:
    """How many questions will be shown, from the questions' visibility `shown`."""
    total = 0
    undecided_groups: set[str] = set()
    for q in definition.questions:
        if shown[q.id] is _Shown.YES:
            total += 1
        elif shown[q.id] is _Shown.MAYBE and q.show_if is not None:
            undecided_groups.add(q.show_if.question)
    return total + len(undecided_groups)


def current_question(definition: SurveyDefinition, state: SessionState) -> Question | None:
    """The question to ask now: the first visible one (in definition order) not answered."""
    for q in visible_questions(definition, state.answers):
        if q.id not in state.answers:
            return q
    return None


def next_step(definition: SurveyDefinition, state: SessionState) -> Step:
    """The question to ask now with its position, or Done.

    Position: `number` is len(history) + 1. `total` counts the questions that will be shown
    given the answers so far: every visible question, plus, for questions whose `show_if`
    depends on a question not answered yet, one per source question -- alternatives
    conditioned on the same question (the NPS follow-ups for detractors, passives and
    promoters) are counted once, since exactly one of them is usually shown. So `total` may
    change as answers come in, but never falls below `number`.
    """
    # One visibility pass serves the current question, Done's answers and the total.
    answers = state.answers
    shown = _visibility(definition, answers)
    visible = [q for q in definition.questions if shown[q.id] is _Shown.YES]
    question = next((q for q in visible if q.id not in answers), None)
    if question is None:
        return Done({q.id: answers[q.id] for q in visible if q.id in answers})
    number = len(state.history) + 1
    total = max(_expected_total(definition, shown), number)
    selected: tuple[str, ...] = ()
    if question.type is QuestionType.MULTI:
        selected = tuple(_in_choice_order(question, state.pending))
    return QuestionStep(
        question=question,
        number=number,
        total=total,
        can_go_back=bool(state.history),
        can_skip=not question.required,
        selected=selected,
    )


# ---------------------------------------------------------------- actions


def _check_current(
    definition: SurveyDefinition, state: SessionState, question_id: str
) -> Question | Rejection:
    question = current_question(definition, state)
    if question is None:
        return Rejection("finished")
    if question.id != question_id:
        return Rejection("not_current_question")
    return question


def _record(
    definition: SurveyDefinition, state: SessionState, question_id: str, value: AnswerValue
) -> SessionState:
    """A new state with `value` recorded for the current question, then pruned: answers to
    questions no longer visible (an abandoned branch) are dropped, from history too."""
    answers = dict(state.answers)
    answers[question_id] = value
    history = [h for h in state.history if h != question_id] + [question_id]
    visible = {q.id for q in visible_questions(definition, answers)}
    answers = {k: v for k, v in answers.items() if k in visible}
    history = [h for h in history if h in visible]
    return SessionState(answers=answers, history=history, pending=[])


def apply_answer(
    definition: SurveyDefinition, state: SessionState, question_id: str, value: AnswerValue
) -> SessionState | Rejection:
    """Answer the current question; None means skip (refused for a required question)."""
    question = _check_current(definition, state, question_id)
    if isinstance(question, Rejection):
        return question
    if value is None:
        return skip(definition, state, question_id)
    checked = validate_value(question, value)
    if isinstance(checked, Rejection):
        return checked
    if checked is None:  # an optional multi-choice question confirmed with nothing selected
        return skip(definition, state, question_id)
    return _record(definition, state, question_id, checked)


def validate_value(question: Question, value: AnswerValue) -> AnswerValue | Rejection:
    """The value normalized for `question` (text stripped, choices in definition order),
    or why it is not acceptable. An empty selection on an optional multi-choice is None."""
    qtype = question.type
    scale = question.scale
    if scale is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            return Rejection("wrong_type", {"expected": "number"})
        low, high = scale
        if not low <= value <= high:
            return Rejection("out_of_range", {"low": low, "high": high})
        return value
    if qtype is QuestionType.SINGLE:
        if not isinstance(value, str):
            return Rejection("wrong_type", {"expected": "choice"})
        if question.choice(value) is None:
            return Rejection("unknown_choice")
        return value
    if qtype is QuestionType.MULTI:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            return Rejection("wrong_type", {"expected": "choices"})
        if any(question.choice(v) is None for v in value):
            return Rejection("unknown_choice")
        chosen = _in_choice_order(question, value)
        if not chosen and not question.required:
            return None
        low = _min_choices(question)
        if len(chosen) < low:
            return Rejection("too_few_choices", {"min": low})
        high = _max_choices(question)
        if len(chosen) > high:
            return Rejection("too_many_choices", {"max": high})
        return chosen
    if qtype is QuestionType.TEXT:
        if not isinstance(value, str):
            return Rejection("wrong_type", {"expected": "text"})
        text = value.strip()
        if not text:
            return Rejection("empty")
        if len(text) > question.max_length:
            return Rejection("too_long", {"max": question.max_length, "length": len(text)})
        return text
    # yes_no
    if not isinstance(value, bool):
        return Rejection("wrong_type", {"expected": "yes_no"})
    return value


def _min_choices(question: Question) -> int:
    """At least one choice on a required multi-choice question, even when min_choices is 0."""
    low = question.min_choices or 0
    return max(low, 1) if question.required else low


def _max_choices(question: Question) -> int:
    return question.max_choices if question.max_choices is not None else len(question.choices)


def _in_choice_order(question: Question, choice_ids: list[str] | tuple[str, ...]) -> list[str]:
    wanted = set(choice_ids)
    return [c.id for c in question.choices if c.id in wanted]


def toggle_choice(
    definition: SurveyDefinition, state: SessionState, question_id: str, choice_id: str
) -> SessionState | Rejection:
    """Select or unselect one choice of the current multi-choice question (kept in `pending`
    until confirmed); selecting more than max_choices is refused."""
    question = _check_current(definition, state, question_id)
    if isinstance(question, Rejection):
        return question
    if question.type is not QuestionType.MULTI:
        return Rejection("wrong_type", {"expected": "choices"})
    if question.choice(choice_id) is None:
        return Rejection("unknown_choice")
    pending = _in_choice_order(question, state.pending)
    if choice_id in pending:
        pending.remove(choice_id)
    else:
        if len(pending) >= _max_choices(question):
            return Rejection("too_many_choices", {"max": _max_choices(question)})
        pending = _in_choice_order(question, [*pending, choice_id])
    return replace(state, answers=dict(state.answers), history=list(state.history), pending=pending)


def confirm_choices(
    definition: SurveyDefinition, state: SessionState, question_id: str
) -> SessionState | Rejection:
    """Answer the current multi-choice question with the choices in `pending`; an empty
    selection skips an optional question and is refused (too_few_choices) on a required one."""
    question = _check_current(definition, state, question_id)
    if isinstance(question, Rejection):
        return question
    if question.type is not QuestionType.MULTI:
        return Rejection("wrong_type", {"expected": "choices"})
    return apply_answer(definition, state, question_id, list(state.pending))


def skip(
    definition: SurveyDefinition, state: SessionState, question_id: str
) -> SessionState | Rejection:
    """Skip the current question (recorded as None); only optional questions may be skipped."""
    question = _check_current(definition, state, question_id)
    if isinstance(question, Rejection):
        return question
    if question.required:
        return Rejection("required")
    return _record(definition, state, question_id, None)


def go_back(
    definition: SurveyDefinition, state: SessionState, question_id: str | None = None
) -> SessionState | Rejection:
    """Return to the previously shown question: its answer is removed so it is asked again.

    `question_id`, when given, must be the current question's id (a Back button on an old
    message is then refused with not_current_question). Going back from Done reopens the
    last question.
    """
    if question_id is not None:
        checked = _check_current(definition, state, question_id)
        if isinstance(checked, Rejection):
            return checked
    history = [h for h in state.history if h in state.answers]
    if not history:
        return Rejection("nothing_to_go_back_to")
    last = history.pop()
    answers = {k: v for k, v in state.answers.items() if k != last}
    return SessionState(answers=answers, history=history, pending=[])


# ---------------------------------------------------------------- typed answers

_YES = frozenset({"tak", "t", "yes", "y", "true"})
_NO = frozenset({"nie", "n", "no", "false"})
_SEPARATORS = re.compile(r"[\s,;]+")


def parse_text(question: Question, text: str) -> AnswerValue | Rejection:
    """Turn a typed line into a value for `question`: a number on a scale, a choice by its
    number (1-based), id or text, several choices as "1,3", yes/no words in Polish or English
    (tak/nie/yes/no/t/n/y), or free text (stripped). Range and length are checked too;
    the number of choices of a multi-choice answer is checked by `apply_answer`."""
    line = text.strip()
    if not line:
        return Rejection("empty")
    scale = question.scale
    if scale is not None:
        try:
            number = int(line)
        except ValueError:
            return Rejection("not_a_number")
        return validate_value(question, number)
    if question.type is QuestionType.SINGLE:
        return _parse_choice(question, line)
    if question.type is QuestionType.MULTI:
        chosen: list[str] = []
        for token in _SEPARATORS.split(line):
            if not token:
                continue
            choice = _parse_choice(question, token)
            if isinstance(choice, Rejection):
                return choice
            assert isinstance(choice, str)
            chosen.append(choice)
        return _in_choice_order(question, chosen)
    if question.type is QuestionType.YES_NO:
        word = line.lower().rstrip(".!")
        if word in _YES:
            return True
        if word in _NO:
            return False
        return Rejection("wrong_type", {"expected": "yes_no"})
    return validate_value(question, line)


def _parse_choice(question: Question, token: str) -> str | Rejection:
    if token.isdigit():
        index = int(token)
        if 1 <= index <= len(question.choices):
            return question.choices[index - 1].id
        return Rejection("out_of_range", {"low": 1, "high": len(question.choices)})
    folded = token.casefold()
    for choice in question.choices:
        if choice.id == folded or any(t.casefold() == folded for t in choice.text.values()):
            return choice.id
    return Rejection("unknown_choice")


# ---------------------------------------------------------------- records


def answer_records(
    definition: SurveyDefinition, answers: dict[str, AnswerValue]
) -> list[AnswerRecord]:
    """The visible answers normalized for storage, in definition order: scales and yes/no
    (1/0) in `number`, text in `text`, choice ids in `choices`; skipped answers are omitted."""
    records: list[AnswerRecord] = []
    for q in visible_questions(definition, answers):
        value = answers.get(q.id)
        if value is None:
            continue
        number: float | None = None
        text: str | None = None
        choices: tuple[str, ...] = ()
        if isinstance(value, bool):
            number = 1 if value else 0
        elif isinstance(value, int):
            number = value
        elif isinstance(value, list):
            choices = tuple(value)
        elif q.type is QuestionType.SINGLE:
            choices = (value,)
        else:
            text = value
        records.append(
            AnswerRecord(
                question_id=q.id,
                question_type=q.type,
                metric=q.metric,
                number=number,
                text=text,
                choices=choices,
            )
        )
    return records
