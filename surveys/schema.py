"""The schema of a survey definition: pydantic v2 models for surveys and questions."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

LANGS: tuple[str, ...] = ("pl", "en")
DEFAULT_LANG = "en"

# Telegram's limits: a message carries at most 4096 characters, a button's
# callback_data at most 64 bytes; choice ids travel in callback data.
MESSAGE_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
CHOICE_ID_LIMIT = 16
# Question and choice ids travel in callback data: "f1:a:<session>:<question>:<choice>"
# must stay within 64 bytes for sessions numbered below 10^9.
QUESTION_ID_LIMIT = 24
BUTTON_TEXT_LIMIT = 64

AnswerValue = int | str | bool | list[str] | None
"""An answer as the engine keeps it: scale -> int, single -> choice id,
multi -> choice ids, text -> str, yes_no -> bool, skipped -> None."""

Texts = dict[str, str]
"""A text per language code, e.g. {"pl": "...", "en": "..."}."""


def localize(texts: Texts, lang: str) -> str:
    """The text in `lang`, falling back to English, then to any language given."""
    if lang in texts:
        return texts[lang]
    if DEFAULT_LANG in texts:
        return texts[DEFAULT_LANG]
    return next(iter(texts.values()), "")


class Audience(StrEnum):
    """Who answers a survey: colleagues (internal) or buyers (external)."""

    INTERNAL = "internal"
    EXTERNAL = "external"


class Metric(StrEnum):
    """The metrics the code itself acts on; a survey may name others, scored as plain
    ratings or shares (`Question.metric` stays a string)."""

    NPS = "nps"
    CSAT = "csat"
    CES = "ces"
    OVERALL = "overall"
    CONSENT = "consent"  # yes/no: the respondent may be contacted


class QuestionType(StrEnum):
    """The kinds of question a survey may ask."""

    RATING = "rating"
    NPS = "nps"
    CES = "ces"
    SINGLE = "single"
    MULTI = "multi"
    TEXT = "text"
    YES_NO = "yes_no"


SCALES: dict[QuestionType, tuple[int, int]] = {
    QuestionType.RATING: (1, 5),
    QuestionType.NPS: (0, 10),
    QuestionType.CES: (1, 7),
}


class Period(StrEnum):
    """How often one respondent may answer a survey about one subject."""

    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Model):
    """One option of a single- or multi-choice question."""

    id: str = Field(pattern=r"^[a-z0-9_]+$", max_length=CHOICE_ID_LIMIT)
    text: Texts


class Condition(_Model):
    """`show_if`: show a question only when an earlier answer matches exactly one test."""

    question: str
    equals: int | bool | str | None = None
    one_of: list[int | str] | None = None
    less_than: float | None = None
    greater_than: float | None = None

    @model_validator(mode="after")
    def _exactly_one_test(self) -> Condition:
        tests = [self.equals, self.one_of, self.less_than, self.greater_than]
        if sum(t is not None for t in tests) != 1:
            raise ValueError("show_if needs exactly one of equals, one_of, less_than, greater_than")
        return self

    def matches(self, value: AnswerValue) -> bool:
        """Whether an answer satisfies this condition (a skipped answer never does)."""
        if value is None:
            return False
        if self.equals is not None:
            if isinstance(value, list):
                return self.equals in value
            return value == self.equals and type(value) is type(self.equals)
        if self.one_of is not None:
            if isinstance(value, list):
                return any(v in self.one_of for v in value)
            return not isinstance(value, bool) and value in self.one_of
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        if self.less_than is not None:
            return value < self.less_than
        assert self.greater_than is not None
        return value > self.greater_than


class Question(_Model):
    """One question: its type, text per language and how it is validated and scored."""

    id: str = Field(pattern=r"^[a-z0-9_]+$", max_length=QUESTION_ID_LIMIT)
    type: QuestionType
    text: Texts
    required: bool = True
    show_if: Condition | None = None
    metric: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$")
    choices: list[Choice] = Field(default_factory=list)
    min_choices: int | None = Field(default=None, ge=0)
    max_choices: int | None = Field(default=None, ge=1)
    max_length: int = Field(default=1000, ge=1, le=MESSAGE_LIMIT)
    low_label: Texts | None = None
    high_label: Texts | None = None

    @property
    def scale(self) -> tuple[int, int] | None:
        """(lowest, highest) value for rating, nps and ces questions, else None."""
        return SCALES.get(self.type)

    def choice(self, choice_id: str) -> Choice | None:
        """The choice with this id, if any."""
        return next((c for c in self.choices if c.id == choice_id), None)


class SurveyDefinition(_Model):
    """A whole survey as read from one YAML file."""

    id: str = Field(pattern=r"^[a-z0-9_-]+$", max_length=32)
    version: int = Field(ge=1)
    audience: Audience
    title: Texts
    intro: Texts
    thanks: Texts
    period: Period = Period.WEEK
    questions: list[Question] = Field(min_length=1)

    def question(self, question_id: str) -> Question:
        """The question with this id (KeyError when there is none)."""
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)


class AnswerRecord(_Model):
    """One answer normalized for storage: numbers in `number`, text in `text`,
    choice ids in `choices` (one for single, several for multi)."""

    question_id: str
    question_type: QuestionType
    metric: str | None = None
    number: float | None = None
    text: str | None = None
    choices: tuple[str, ...] = ()
