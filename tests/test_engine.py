"""The survey flow engine: answers, branches, Back, Skip and positions, without any I/O."""

from __future__ import annotations

from typing import Any

import pytest

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
from surveys.schema import AnswerValue, Question, QuestionType, SurveyDefinition

CATALOG = SurveyCatalog.from_paths([])
EXTERNAL = CATALOG.latest("external")
INTERNAL = CATALOG.latest("internal")

TEXT = {"pl": "Pytanie", "en": "Question"}


def question(qid: str, qtype: str, **extra: Any) -> dict[str, Any]:
    """A raw question for a small test survey."""
    q: dict[str, Any] = {"id": qid, "type": qtype, "text": TEXT, **extra}
    if qtype in ("single", "multi") and "choices" not in q:
        q["choices"] = [{"id": c, "text": {"pl": c, "en": c}} for c in ("a", "b", "c")]
    return q


def survey(*questions: dict[str, Any]) -> SurveyDefinition:
    """A small survey checked by the same loader as the bundled ones."""
    return parse_definition(
        {
            "id": "test",
            "version": 1,
            "audience": "external",
            "title": TEXT,
            "intro": TEXT,
            "thanks": TEXT,
            "questions": list(questions),
        },
        "test.yaml",
    )


def ok(result: SessionState | Rejection) -> SessionState:
    """The new state of an action that must succeed."""
    assert isinstance(result, SessionState), result
    return result


def ask(definition: SurveyDefinition, state: SessionState) -> QuestionStep:
    step = next_step(definition, state)
    assert isinstance(step, QuestionStep), step
    return step


def answer(definition: SurveyDefinition, state: SessionState, value: AnswerValue) -> SessionState:
    """Answer the current question, which must accept the value."""
    result = apply_answer(definition, state, ask(definition, state).question.id, value)
    assert isinstance(result, SessionState), result
    return result


def answer_all(definition: SurveyDefinition, *values: AnswerValue) -> SessionState:
    state = new_state()
    for value in values:
        state = answer(definition, state, value)
    return state


def single(qtype: str, **extra: Any) -> tuple[SurveyDefinition, Question]:
    definition = survey(question("q", qtype, **extra))
    return definition, definition.questions[0]


# ---------------------------------------------------------------- answers by type

VALID = [
    ("rating", {}, 1, 1),
    ("rating", {}, 5, 5),
    ("nps", {}, 0, 0),
    ("nps", {}, 10, 10),
    ("ces", {}, 7, 7),
    ("single", {}, "b", "b"),
    ("multi", {}, ["c", "a"], ["a", "c"]),
    ("multi", {}, ["a", "a"], ["a"]),
    ("multi", {"min_choices": 2, "max_choices": 2}, ["a", "b"], ["a", "b"]),
    ("text", {}, "  fine  ", "fine"),
    ("text", {"max_length": 5}, "12345", "12345"),
    ("yes_no", {}, True, True),
    ("yes_no", {}, False, False),
]


@pytest.mark.parametrize(("qtype", "extra", "value", "stored"), VALID)
def test_a_valid_answer_is_stored_normalized(
    qtype: str, extra: dict[str, Any], value: AnswerValue, stored: AnswerValue
) -> None:
    definition, _ = single(qtype, **extra)
    state = answer(definition, new_state(), value)
    assert state.answers == {"q": stored}
    assert state.history == ["q"]
    assert next_step(definition, state) == Done({"q": stored})


INVALID = [
    ("rating", {}, 0, "out_of_range", {"low": 1, "high": 5}),
    ("rating", {}, 6, "out_of_range", {"low": 1, "high": 5}),
    ("nps", {}, -1, "out_of_range", {"low": 0, "high": 10}),
    ("nps", {}, 11, "out_of_range", {"low": 0, "high": 10}),
    ("ces", {}, 8, "out_of_range", {"low": 1, "high": 7}),
    ("ces", {}, 0, "out_of_range", {"low": 1, "high": 7}),
    ("rating", {}, "3", "wrong_type", {"expected": "number"}),
    ("rating", {}, True, "wrong_type", {"expected": "number"}),
    ("single", {}, "z", "unknown_choice", {}),
    ("single", {}, 1, "wrong_type", {"expected": "choice"}),
    ("multi", {}, ["a", "z"], "unknown_choice", {}),
    ("multi", {}, "a", "wrong_type", {"expected": "choices"}),
    ("multi", {}, [], "too_few_choices", {"min": 1}),
    ("multi", {"min_choices": 2}, ["a"], "too_few_choices", {"min": 2}),
    ("multi", {"max_choices": 2}, ["a", "b", "c"], "too_many_choices", {"max": 2}),
    ("text", {}, "   ", "empty", {}),
    ("text", {}, "", "empty", {}),
    ("text", {"max_length": 5}, "123456", "too_long", {"max": 5, "length": 6}),
    ("text", {}, 5, "wrong_type", {"expected": "text"}),
    ("yes_no", {}, "yes", "wrong_type", {"expected": "yes_no"}),
    ("yes_no", {}, 1, "wrong_type", {"expected": "yes_no"}),
    ("rating", {}, None, "required", {}),
]


@pytest.mark.parametrize(("qtype", "extra", "value", "key", "params"), INVALID)
def test_an_invalid_answer_is_rejected_with_a_key_the_bot_translates(
    qtype: str, extra: dict[str, Any], value: Any, key: str, params: dict[str, object]
) -> None:
    definition, _ = single(qtype, **extra)
    state = new_state()
    assert apply_answer(definition, state, "q", value) == Rejection(key, params)
    assert state == new_state()  # the engine never changes the state it is given


PARSED = [
    ("rating", "4", 4),
    ("nps", " 0 ", 0),
    ("nps", "10", 10),
    ("ces", "7", 7),
    ("single", "2", "b"),
    ("single", "c", "c"),
    ("single", "A", "a"),
    ("multi", "1,3", ["a", "c"]),
    ("multi", "3, 1 ,1", ["a", "c"]),
    ("multi", "b c", ["b", "c"]),
    ("text", "  hello there ", "hello there"),
    ("yes_no", "tak", True),
    ("yes_no", "T", True),
    ("yes_no", "yes", True),
    ("yes_no", "y", True),
    ("yes_no", "Nie", False),
    ("yes_no", "n", False),
    ("yes_no", "no", False),
]


@pytest.mark.parametrize(("qtype", "line", "value"), PARSED)
def test_a_typed_line_becomes_a_value(qtype: str, line: str, value: AnswerValue) -> None:
    _, q = single(qtype)
    assert parse_text(q, line) == value


PARSE_ERRORS = [
    ("rating", "five", "not_a_number"),
    ("rating", "9", "out_of_range"),
    ("nps", "4.5", "not_a_number"),
    ("single", "4", "out_of_range"),
    ("single", "0", "out_of_range"),
    ("single", "zebra", "unknown_choice"),
    ("multi", "1,9", "out_of_range"),
    ("multi", "1,zebra", "unknown_choice"),
    ("yes_no", "maybe", "wrong_type"),
    ("text", "   ", "empty"),
    ("rating", "", "empty"),
]


@pytest.mark.parametrize(("qtype", "line", "key"), PARSE_ERRORS)
def test_a_typed_line_that_does_not_fit_is_rejected(qtype: str, line: str, key: str) -> None:
    _, q = single(qtype)
    result = parse_text(q, line)
    assert isinstance(result, Rejection)
    assert result.key == key


def test_a_too_long_typed_text_says_how_long_it_was() -> None:
    _, q = single("text", max_length=3)
    assert parse_text(q, "abcd") == Rejection("too_long", {"max": 3, "length": 4})


# ---------------------------------------------------------------- multi-choice toggles


def test_toggling_choices_keeps_them_pending_until_confirmed() -> None:
    definition, _ = single("multi")
    state = new_state()
    for choice in ("c", "a", "b"):
        result = toggle_choice(definition, state, "q", choice)
        assert isinstance(result, SessionState)
        state = result
    result = toggle_choice(definition, state, "q", "b")  # a second press unselects
    assert isinstance(result, SessionState)
    state = result
    assert ask(definition, state).selected == ("a", "c")
    assert state.answers == {}
    confirmed = confirm_choices(definition, state, "q")
    assert isinstance(confirmed, SessionState)
    assert confirmed.answers == {"q": ["a", "c"]}
    assert confirmed.pending == []


def test_toggling_past_max_choices_is_refused() -> None:
    definition, _ = single("multi", max_choices=1)
    state = toggle_choice(definition, new_state(), "q", "a")
    assert isinstance(state, SessionState)
    assert toggle_choice(definition, state, "q", "b") == Rejection("too_many_choices", {"max": 1})
    assert isinstance(toggle_choice(definition, state, "q", "a"), SessionState)


def test_toggles_are_refused_for_an_unknown_choice_or_another_type() -> None:
    definition, _ = single("multi")
    assert toggle_choice(definition, new_state(), "q", "zz") == Rejection("unknown_choice")
    rating, _ = single("rating")
    wrong = Rejection("wrong_type", {"expected": "choices"})
    assert toggle_choice(rating, new_state(), "q", "a") == wrong
    assert confirm_choices(rating, new_state(), "q") == wrong


def test_confirming_nothing_skips_an_optional_multi_but_not_a_required_one() -> None:
    required, _ = single("multi")
    assert confirm_choices(required, new_state(), "q") == Rejection("too_few_choices", {"min": 1})
    optional, _ = single("multi", required=False)
    state = confirm_choices(optional, new_state(), "q")
    assert isinstance(state, SessionState)
    assert state.answers == {"q": None}


# ---------------------------------------------------------------- the external NPS branches


@pytest.mark.parametrize(
    ("score", "follow_up"),
    [
        (0, "nps_detractor"),
        (6, "nps_detractor"),
        (7, "nps_passive"),
        (8, "nps_passive"),
        (9, "nps_promoter"),
        (10, "nps_promoter"),
    ],
)
def test_a_buyer_gets_the_follow_up_for_their_nps_group(score: int, follow_up: str) -> None:
    state = answer_all(EXTERNAL, score)
    assert ask(EXTERNAL, state).question.id == follow_up
    shown = [q.id for q in visible_questions(EXTERNAL, state.answers)]
    assert [q for q in shown if q.startswith("nps_")] == [follow_up]


def test_a_buyer_who_goes_back_and_changes_the_score_loses_the_old_branch_answer() -> None:
    state = answer_all(EXTERNAL, 3, "Too expensive")
    assert state.answers == {"nps": 3, "nps_detractor": "Too expensive"}
    for _ in range(2):
        result = go_back(EXTERNAL, state)
        assert isinstance(result, SessionState)
        state = result
    assert ask(EXTERNAL, state).question.id == "nps"
    state = answer(EXTERNAL, state, 10)
    assert ask(EXTERNAL, state).question.id == "nps_promoter"
    assert "nps_detractor" not in state.answers
    state = answer(EXTERNAL, state, "Lovely")
    assert state.answers == {"nps": 10, "nps_promoter": "Lovely"}


def test_answers_on_an_abandoned_branch_are_pruned_after_the_next_answer() -> None:
    # A state saved by an older engine (or edited by hand) can still hold an answer on a
    # branch that no longer applies; the next answer drops it, from history too.
    definition = survey(
        question("gate", "yes_no"),
        question("why", "text", show_if={"question": "gate", "equals": True}),
        question("last", "rating"),
    )
    state = SessionState(answers={"gate": False, "why": "stale"}, history=["gate", "why"])
    assert [q.id for q in visible_questions(definition, state.answers)] == ["gate", "last"]
    after = answer(definition, state, 4)
    assert after.answers == {"gate": False, "last": 4}
    assert after.history == ["gate", "last"]


def test_a_skipped_source_never_shows_its_follow_ups() -> None:
    definition = survey(
        question("score", "nps", required=False),
        question("why", "text", show_if={"question": "score", "less_than": 7}),
    )
    state = skip(definition, new_state(), "score")
    assert isinstance(state, SessionState)
    assert next_step(definition, state) == Done({"score": None})


# ---------------------------------------------------------------- back, skip, stale ids


def test_back_at_the_first_question_has_nothing_to_go_back_to() -> None:
    assert go_back(EXTERNAL, new_state()) == Rejection("nothing_to_go_back_to")


def test_back_reopens_the_previous_question_and_forgets_its_answer() -> None:
    state = answer_all(INTERNAL, 4, 5)
    back = go_back(INTERNAL, state, "responsiveness")
    assert isinstance(back, SessionState)
    step = ask(INTERNAL, back)
    assert (step.question.id, step.number) == ("reliability", 2)
    assert back.answers == {"overall": 4}
    assert back.history == ["overall"]


def test_back_from_a_stale_message_is_refused() -> None:
    state = answer_all(INTERNAL, 4, 5)
    assert go_back(INTERNAL, state, "overall") == Rejection("not_current_question")


def test_back_after_the_last_answer_reopens_the_last_question() -> None:
    state = answer_all(INTERNAL, 4, 4, 4, 4, 4, 9)
    state = ok(skip(INTERNAL, state, "works_well"))
    state = ok(skip(INTERNAL, state, "should_change"))
    assert isinstance(next_step(INTERNAL, state), Done)
    back = go_back(INTERNAL, state)
    assert isinstance(back, SessionState)
    assert ask(INTERNAL, back).question.id == "should_change"


def test_back_clears_pending_toggles() -> None:
    state = answer_all(EXTERNAL, 9, "Great", 5, 6)
    toggled = toggle_choice(EXTERNAL, state, "improve", "price")
    assert isinstance(toggled, SessionState)
    back = go_back(EXTERNAL, toggled, "improve")
    assert isinstance(back, SessionState)
    assert back.pending == []


@pytest.mark.parametrize("qid", ["nps_detractor", "nps_passive", "nps_promoter", "improve"])
def test_optional_questions_can_be_skipped(qid: str) -> None:
    state = _reach(EXTERNAL, qid)
    skipped = skip(EXTERNAL, state, qid)
    assert isinstance(skipped, SessionState)
    assert skipped.answers[qid] is None
    assert skipped.history[-1] == qid
    assert ask(EXTERNAL, state).can_skip


@pytest.mark.parametrize("qid", ["nps", "csat", "effort", "contact_consent"])
def test_required_questions_cannot_be_skipped(qid: str) -> None:
    state = _reach(EXTERNAL, qid)
    assert not ask(EXTERNAL, state).can_skip
    assert skip(EXTERNAL, state, qid) == Rejection("required")
    assert apply_answer(EXTERNAL, state, qid, None) == Rejection("required")


def _reach(definition: SurveyDefinition, target: str) -> SessionState:
    scores = {"nps_detractor": 2, "nps_passive": 7, "nps_promoter": 10}
    state = new_state()
    while (step := ask(definition, state)).question.id != target:
        q = step.question
        value: AnswerValue = scores.get(target, 5) if q.id == "nps" else _valid(q)
        state = answer(definition, state, value)
    return state


def _valid(q: Question) -> AnswerValue:
    if q.scale:
        return q.scale[1]
    return {
        QuestionType.SINGLE: q.choices[0].id if q.choices else None,
        QuestionType.MULTI: [q.choices[0].id] if q.choices else None,
        QuestionType.TEXT: "ok",
        QuestionType.YES_NO: True,
    }[q.type]


def test_an_answer_to_a_question_that_is_not_current_is_refused() -> None:
    state = answer_all(EXTERNAL, 9)
    stale = Rejection("not_current_question")
    assert apply_answer(EXTERNAL, state, "nps", 3) == stale
    assert apply_answer(EXTERNAL, state, "csat", 3) == stale
    assert skip(EXTERNAL, state, "comment") == stale
    assert toggle_choice(EXTERNAL, state, "improve", "price") == stale
    assert confirm_choices(EXTERNAL, state, "improve") == stale


def test_answering_after_the_survey_is_done_is_refused() -> None:
    state = answer_all(EXTERNAL, 9, "Great", 5, 7, ["price"], "none", True)
    assert isinstance(next_step(EXTERNAL, state), Done)
    assert apply_answer(EXTERNAL, state, "contact_consent", False) == Rejection("finished")
    assert skip(EXTERNAL, state, "comment") == Rejection("finished")


# ---------------------------------------------------------------- positions


def _positions(
    definition: SurveyDefinition, values: list[AnswerValue]
) -> list[tuple[str, int, int]]:
    state = new_state()
    seen = []
    for value in values:
        step = ask(definition, state)
        seen.append((step.question.id, step.number, step.total))
        qid = step.question.id
        state = (
            answer(definition, state, value)
            if value is not None
            else ok(skip(definition, state, qid))
        )
    assert isinstance(next_step(definition, state), Done)
    return seen


@pytest.mark.parametrize("score", [2, 7, 10])
def test_external_positions_count_one_follow_up(score: int) -> None:
    follow_up = {2: "nps_detractor", 7: "nps_passive", 10: "nps_promoter"}[score]
    assert _positions(EXTERNAL, [score, None, 4, 6, ["quality"], None, False]) == [
        ("nps", 1, 7),
        (follow_up, 2, 7),
        ("csat", 3, 7),
        ("effort", 4, 7),
        ("improve", 5, 7),
        ("comment", 6, 7),
        ("contact_consent", 7, 7),
    ]


def test_internal_positions_run_from_1_to_8() -> None:
    ids = [q.id for q in INTERNAL.questions]
    values: list[AnswerValue] = [3, 4, 5, 2, 1, 8, "Fast replies", None]
    assert _positions(INTERNAL, values) == [(qid, n, 8) for n, qid in enumerate(ids, start=1)]


def test_the_total_shrinks_when_a_lone_branch_is_not_taken() -> None:
    definition = survey(
        question("gate", "yes_no"),
        question("why", "text", show_if={"question": "gate", "equals": True}),
        question("last", "rating"),
    )
    assert (ask(definition, new_state()).number, ask(definition, new_state()).total) == (1, 3)
    no = answer(definition, new_state(), False)
    assert (ask(definition, no).number, ask(definition, no).total) == (2, 2)
    yes = answer(definition, new_state(), True)
    assert (ask(definition, yes).number, ask(definition, yes).total) == (2, 3)


def test_can_go_back_only_after_the_first_question() -> None:
    assert not ask(EXTERNAL, new_state()).can_go_back
    assert ask(EXTERNAL, answer_all(EXTERNAL, 5)).can_go_back


# ---------------------------------------------------------------- state as JSON


def test_a_state_round_trips_through_json() -> None:
    state = answer_all(EXTERNAL, 9, "Świetny", 5, 7, ["price", "support"])
    state = ok(skip(EXTERNAL, state, "comment"))
    state = SessionState(state.answers, state.history, ["a"])
    again = SessionState.from_json(state.to_json())
    assert again == state
    assert again.answers["improve"] == ["price", "support"]
    assert again.answers["comment"] is None


def test_yes_and_no_stay_booleans_in_json() -> None:
    definition, _ = single("yes_no")
    state = answer(definition, new_state(), False)
    assert SessionState.from_json(state.to_json()).answers["q"] is False


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        "{}",
        '{"answers": {"nps": 9}, "future_key": 1}',
        '{"answers": {"nps": 9, "bad": {"x": 1}, "odd": 1.5}, "history": "nps"}',
        '{"answers": [], "history": ["nps", 3], "pending": null}',
    ],
)
def test_reading_a_damaged_or_newer_state_never_fails(text: str) -> None:
    state = SessionState.from_json(text)
    assert set(state.answers) <= {"nps"}
    assert all(isinstance(h, str) for h in state.history)
    assert isinstance(next_step(EXTERNAL, state), QuestionStep)


# ---------------------------------------------------------------- records for storage


def test_answer_records_normalize_each_type_and_omit_skipped_answers() -> None:
    state = answer_all(EXTERNAL, 9, "Great", 5, 6, ["price", "delivery"])
    state = ok(skip(EXTERNAL, state, "comment"))
    state = answer(EXTERNAL, state, True)
    done = next_step(EXTERNAL, state)
    assert isinstance(done, Done)
    records = {r.question_id: r for r in answer_records(EXTERNAL, done.answers)}
    assert list(records) == ["nps", "nps_promoter", "csat", "effort", "improve", "contact_consent"]
    assert records["nps"].number == 9 and records["nps"].metric == "nps"
    assert records["nps_promoter"].text == "Great"
    assert records["improve"].choices == ("price", "delivery")
    assert records["contact_consent"].number == 1
    assert records["contact_consent"].question_type is QuestionType.YES_NO
    single_def, _ = single("single")
    (record,) = answer_records(single_def, {"q": "b"})
    assert record.choices == ("b",) and record.number is None and record.text is None
