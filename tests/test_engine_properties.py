"""Random respondents: whatever they press or type, the engine never crashes and always ends."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveys.engine import (
    Done,
    QuestionStep,
    Rejection,
    SessionState,
    answer_records,
    apply_answer,
    confirm_choices,
    go_back,
    new_state,
    next_step,
    parse_text,
    skip,
    toggle_choice,
    visible_questions,
)
from surveys.loader import SurveyCatalog, parse_definition
from surveys.schema import SCALES, AnswerValue, Question, QuestionType, SurveyDefinition

CATALOG = SurveyCatalog.from_paths([])
BUNDLED = [CATALOG.latest("internal"), CATALOG.latest("external")]
TEXT = {"pl": "Pytanie", "en": "Question"}
TYPES = [t.value for t in QuestionType]

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- generated surveys


@st.composite
def small_surveys(draw: st.DrawFn) -> SurveyDefinition:
    """A valid survey of 1-6 questions of any type, some shown only under a condition."""
    count = draw(st.integers(1, 6))
    questions: list[dict[str, Any]] = []
    for index in range(count):
        qtype = draw(st.sampled_from(TYPES))
        q: dict[str, Any] = {
            "id": f"q{index}",
            "type": qtype,
            "text": TEXT,
            "required": draw(st.booleans()),
        }
        if qtype in ("single", "multi"):
            n = draw(st.integers(2, 4))
            q["choices"] = [
                {"id": f"c{i}", "text": {"pl": f"c{i}", "en": f"c{i}"}} for i in range(n)
            ]
            if qtype == "multi":
                low = draw(st.none() | st.integers(0, n))
                high = draw(st.none() | st.integers(max(low or 1, 1), n))
                if low is not None:
                    q["min_choices"] = low
                if high is not None:
                    q["max_choices"] = high
        if qtype == "text":
            q["max_length"] = draw(st.integers(1, 20))
        sources = [s for s in questions if s["type"] != "text"]
        conditional: bool = draw(st.booleans())
        if sources and conditional:
            q["show_if"] = draw(conditions(draw(st.sampled_from(sources))))
        questions.append(q)
    return parse_definition(
        {
            "id": "generated",
            "version": 1,
            "audience": "external",
            "title": TEXT,
            "intro": TEXT,
            "thanks": TEXT,
            "questions": questions,
        },
        "generated.yaml",
    )


def conditions(source: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A show_if that the loader accepts for this source question."""
    qid, qtype = source["id"], source["type"]
    if qtype == "yes_no":
        return st.builds(lambda v: {"question": qid, "equals": v}, st.booleans())
    if qtype in ("single", "multi"):
        ids = [c["id"] for c in source["choices"]]
        return st.one_of(
            st.sampled_from(ids).map(lambda v: {"question": qid, "equals": v}),
            st.lists(st.sampled_from(ids), min_size=1, unique=True).map(
                lambda vs: {"question": qid, "one_of": vs}
            ),
        )
    low, high = SCALES[QuestionType(qtype)]
    return st.one_of(
        st.integers(low, high).map(lambda v: {"question": qid, "equals": v}),
        st.lists(st.integers(low, high), min_size=1, unique=True).map(
            lambda vs: {"question": qid, "one_of": vs}
        ),
        st.integers(low + 1, high).map(lambda v: {"question": qid, "less_than": v}),
        st.integers(low, high - 1).map(lambda v: {"question": qid, "greater_than": v}),
    )


surveys = st.one_of(st.sampled_from(BUNDLED), small_surveys())

# ---------------------------------------------------------------- respondents


def valid_values(q: Question) -> st.SearchStrategy[AnswerValue]:
    """Any answer the question must accept."""
    if q.scale is not None:
        return st.integers(*q.scale)
    if q.type is QuestionType.SINGLE:
        return st.sampled_from([c.id for c in q.choices])
    if q.type is QuestionType.MULTI:
        low = max(q.min_choices or 0, 1)
        high = q.max_choices or len(q.choices)
        return st.lists(
            st.sampled_from([c.id for c in q.choices]), min_size=low, max_size=high, unique=True
        )
    if q.type is QuestionType.TEXT:
        return st.text(min_size=1, max_size=q.max_length).filter(lambda t: bool(t.strip()))
    return st.booleans()


any_values: st.SearchStrategy[AnswerValue] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 13),
    st.text(max_size=30),
    st.lists(st.sampled_from(["c0", "c1", "c2", "c3", "zz", "price", "other"]), max_size=5),
)

ACTIONS = ["valid", "value", "line", "back", "skip", "toggle", "confirm", "stale"]


def act(
    data: st.DataObject, definition: SurveyDefinition, state: SessionState
) -> SessionState | Rejection:
    """One random thing a respondent (or an old button) may do."""
    step = next_step(definition, state)
    action = data.draw(st.sampled_from(ACTIONS))
    if isinstance(step, Done):
        if action == "back":
            return go_back(definition, state)
        return apply_answer(definition, state, data.draw(st.sampled_from(ids(definition))), 1)
    qid = step.question.id
    if action == "valid":
        return apply_answer(definition, state, qid, data.draw(valid_values(step.question)))
    if action == "value":
        return apply_answer(definition, state, qid, data.draw(any_values))
    if action == "line":
        value = parse_text(step.question, data.draw(st.text(max_size=12)))
        return (
            value if isinstance(value, Rejection) else apply_answer(definition, state, qid, value)
        )
    if action == "back":
        return go_back(definition, state, data.draw(st.sampled_from([qid, None])))
    if action == "skip":
        return skip(definition, state, qid)
    if action == "toggle":
        choice = data.draw(st.sampled_from([c.id for c in step.question.choices] + ["zz"]))
        return toggle_choice(definition, state, qid, choice)
    if action == "confirm":
        return confirm_choices(definition, state, qid)
    other = data.draw(st.sampled_from(ids(definition)))
    return apply_answer(definition, state, other, data.draw(any_values))


def ids(definition: SurveyDefinition) -> list[str]:
    return [q.id for q in definition.questions]


def check_invariants(definition: SurveyDefinition, state: SessionState) -> None:
    visible = {q.id for q in visible_questions(definition, state.answers)}
    assert set(state.answers) <= visible
    assert state.history == [q for q in ids(definition) if q in state.answers]
    for q in definition.questions:
        if q.id in state.answers and q.required:
            assert state.answers[q.id] is not None
    assert SessionState.from_json(state.to_json()) == state
    step = next_step(definition, state)
    if isinstance(step, QuestionStep):
        assert 1 <= step.number <= step.total <= len(definition.questions)
        assert step.number == len(state.history) + 1
        assert step.can_skip == (not step.question.required)
        assert set(step.selected) <= {c.id for c in step.question.choices}
    else:
        for q in visible_questions(definition, step.answers):
            assert q.id in step.answers
            if q.required:
                assert step.answers[q.id] is not None
        answer_records(definition, step.answers)


@SETTINGS
@given(definition=surveys, data=st.data())
def test_random_respondents_never_break_the_engine_and_always_finish(
    definition: SurveyDefinition, data: st.DataObject
) -> None:
    state = new_state()
    for _ in range(data.draw(st.integers(0, 25))):
        result = act(data, definition, state)
        if isinstance(result, SessionState):
            state = result
        else:
            assert result.key in REJECTION_KEYS
        check_invariants(definition, state)

    # From wherever they are, valid answers finish the survey in at most one per question.
    for _ in range(len(definition.questions)):
        step = next_step(definition, state)
        if isinstance(step, Done):
            break
        value = data.draw(valid_values(step.question))
        result = apply_answer(definition, state, step.question.id, value)
        assert isinstance(result, SessionState), (step.question, value, result)
        state = result
        check_invariants(definition, state)
    assert isinstance(next_step(definition, state), Done)


REJECTION_KEYS = {
    "not_current_question",
    "out_of_range",
    "not_a_number",
    "unknown_choice",
    "too_few_choices",
    "too_many_choices",
    "too_long",
    "empty",
    "required",
    "wrong_type",
    "nothing_to_go_back_to",
    "finished",
}


@SETTINGS
@given(definition=surveys, data=st.data())
def test_back_after_an_answer_restores_the_question(
    definition: SurveyDefinition, data: st.DataObject
) -> None:
    state = new_state()
    while isinstance(step := next_step(definition, state), QuestionStep):
        answered = apply_answer(
            definition, state, step.question.id, data.draw(valid_values(step.question))
        )
        assert isinstance(answered, SessionState)
        back = go_back(definition, answered)
        assert isinstance(back, SessionState)
        assert back.answers == state.answers
        assert next_step(definition, back) == step
        state = answered


@SETTINGS
@given(
    state=st.builds(
        SessionState,
        answers=st.dictionaries(st.text(max_size=8), any_values, max_size=5),
        history=st.lists(st.text(max_size=8), max_size=5),
        pending=st.lists(st.text(max_size=8), max_size=3),
    )
)
def test_any_state_round_trips_through_json(state: SessionState) -> None:
    assert SessionState.from_json(state.to_json()) == state
