"""How survey steps look in Telegram: question text, keyboards and the answered transcript,
and the member's department menu."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from markupsafe import Markup, escape
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import flow
from bot.callbacks import Action, encode
from bot.digest.render import month_name
from bot.i18n import join, plain, t
from bot.services import Services
from storage import subjects as subject_repo
from storage.models import Member, SubjectKind
from surveys import engine
from surveys.schema import AnswerValue, Question, QuestionType, localize

_PLACEHOLDER = re.compile(r"{{\s*subject\s*}}")


def fill(text: str, subject: str) -> Markup:
    """A survey text with `{{ subject }}` filled in, HTML-escaped for parse_mode=HTML.

    The loader allows no other template syntax in survey texts, so a plain
    substitution renders them exactly as Jinja2 would, with both the text and
    the subject's name escaped.
    """
    parts = _PLACEHOLDER.split(text)
    if len(parts) == 1:
        return escape(text)
    return Markup(escape(subject).join([escape(p) for p in parts]))


def _tag(name: str, inner: object) -> Markup:
    """`<name>inner</name>`, `inner` escaped unless it is Markup: `markup("<i>{}</i>", inner)`
    without a string formatter per call (questions are rendered for every answer)."""
    return Markup(f"<{name}>{escape(inner)}</{name}>")


def _pair(value: object, label: str) -> Markup:
    """`value = label`, both escaped: `markup("{} = {}", value, label)` without a formatter."""
    return Markup(f"{escape(value)} = {escape(label)}")


@lru_cache(maxsize=256)
def _label(lang: str, key: str) -> str:
    """`plain(lang, key)` for a text without parameters (button labels): the catalogs are
    loaded once, so it is the same every time and need not be rendered for every keyboard."""
    return plain(lang, key)


@dataclass(frozen=True)
class Previous:
    """The answer a question had before the respondent pressed Back to it (None: skipped)."""

    value: AnswerValue


MARK = "• "  # before the button of the answer given before Back


def question_text(
    step: engine.QuestionStep, lang: str, subject: str, previous: Previous | None = None
) -> Markup:
    """The message for one question: progress, the question and how to answer it, and
    after Back the answer given before."""
    question = step.question
    lines = [
        _tag("i", t(lang, "survey.progress", number=step.number, total=step.total)),
        _tag("b", fill(localize(question.text, lang), subject)),
    ]
    if question.scale is not None and (question.low_label or question.high_label):
        low, high = question.scale
        legend = []
        if question.low_label:
            legend.append(_pair(low, localize(question.low_label, lang)))
        if question.high_label:
            legend.append(_pair(high, localize(question.high_label, lang)))
        lines.append(_tag("i", join(" · ", legend)))
    if previous is not None:
        lines.append(_tag("i", _previous_line(question, previous.value, lang)))
    if question.type is QuestionType.TEXT:
        lines.append(t(lang, "survey.type_answer", max=question.max_length))
    elif question.type is QuestionType.MULTI:
        lines.append(t(lang, "survey.choose_several"))
    if not question.required:
        lines.append(_tag("i", t(lang, "survey.optional")))
    return join("\n", lines)


def _previous_line(question: Question, value: AnswerValue, lang: str) -> Markup:
    if value is None:
        return t(lang, "survey.previous_skipped")
    if question.type is QuestionType.TEXT:
        text = str(value)
        clipped = text if len(text) <= 300 else text[:300] + "…"
        return t(lang, "survey.previous_text", answer=clipped)
    answer = answer_label(question, value, lang)
    if question.type is QuestionType.MULTI:
        return t(lang, "survey.previous_choices", answer=answer)
    return t(lang, "survey.previous_answer", answer=answer)


def _marked(label: str, value: object, previous: Previous | None) -> str:
    return MARK + label if previous is not None and previous.value == value else label


def _button(text: str, action: Action, *args: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=encode(action, *args))


def question_keyboard(
    step: engine.QuestionStep, session_id: int, lang: str, previous: Previous | None = None
) -> InlineKeyboardMarkup:
    """Inline keyboard for a question: its answers (the one given before Back marked),
    then Back / Skip / Cancel."""
    question = step.question
    qid = question.id
    rows: list[list[InlineKeyboardButton]] = []
    if question.scale is not None:
        low, high = question.scale
        values = list(range(low, high + 1))
        # 0-10 does not fit one row on a phone: two rows, 0-5 and 6-10.
        chunks = [values[:6], values[6:]] if len(values) > 7 else [values]
        for chunk in chunks:
            rows.append(
                [
                    _button(_marked(str(v), v, previous), Action.ANSWER, session_id, qid, v)
                    for v in chunk
                ]
            )
    elif question.type is QuestionType.SINGLE:
        for choice in question.choices:
            rows.append(
                [
                    _button(
                        _marked(localize(choice.text, lang), choice.id, previous),
                        Action.ANSWER,
                        session_id,
                        qid,
                        choice.id,
                    )
                ]
            )
    elif question.type is QuestionType.MULTI:
        for choice in question.choices:
            mark = "✓ " if choice.id in step.selected else ""
            label = mark + localize(choice.text, lang)
            rows.append([_button(label, Action.TOGGLE, session_id, qid, choice.id)])
        rows.append([_button(_label(lang, "button.done"), Action.CONFIRM, session_id, qid)])
    elif question.type is QuestionType.YES_NO:
        rows.append(
            [
                _button(
                    _marked(_label(lang, "button.yes"), True, previous),
                    Action.ANSWER,
                    session_id,
                    qid,
                    "yes",
                ),
                _button(
                    _marked(_label(lang, "button.no"), False, previous),
                    Action.ANSWER,
                    session_id,
                    qid,
                    "no",
                ),
            ]
        )
    nav = []
    if step.can_go_back:
        nav.append(_button(_label(lang, "button.back"), Action.BACK, session_id, qid))
    if step.can_skip:
        nav.append(_button(_label(lang, "button.skip"), Action.SKIP, session_id, qid))
    nav.append(_button(_label(lang, "button.cancel"), Action.CANCEL, session_id))
    rows.append(nav)
    return InlineKeyboardMarkup(rows)


def answer_label(question: Question, value: AnswerValue, lang: str) -> str:
    """How a given answer reads in the transcript (plain text, not escaped)."""
    if value is None:
        return _label(lang, "survey.skipped")
    if question.type is QuestionType.YES_NO:
        return _label(lang, "button.yes" if value is True else "button.no")
    if question.type in (QuestionType.SINGLE, QuestionType.MULTI):
        ids = value if isinstance(value, list) else [str(value)]
        texts = [localize(c.text, lang) for c in question.choices if c.id in ids]
        return ", ".join(texts) if texts else plain(lang, "survey.none_selected")
    return str(value)


def answered_text(question: Question, value: AnswerValue, lang: str, subject: str) -> Markup:
    """A question message after it was answered: the question and the answer, no keyboard."""
    answer = answer_label(question, value, lang)
    if len(answer) > 600:  # clipped before escaping, so an entity is never cut in two
        answer = answer[:600] + "…"
    question_line = fill(localize(question.text, lang), subject)
    return Markup(f"{question_line}\n→ {_tag('b', answer)}")


def resume_keyboard(session_id: int, lang: str, *, start_over: bool = True) -> InlineKeyboardMarkup:
    """Continue where you left off / (start over) / cancel, for an unfinished survey."""
    rows = [[_button(_label(lang, "button.continue"), Action.RESUME, session_id)]]
    if start_over:
        rows.append([_button(_label(lang, "button.start_over"), Action.RESTART, session_id)])
    rows.append([_button(_label(lang, "button.cancel"), Action.CANCEL, session_id)])
    return InlineKeyboardMarkup(rows)


def _short_date(value: date, lang: str) -> str:
    return value.strftime("%d.%m") if lang == "pl" else f"{month_name(value.month)} {value:%d}"


async def department_keyboard(
    services: Services, member: Member, lang: str
) -> InlineKeyboardMarkup | None:
    """Buttons for every department that serves this member (never their own), each
    marked with the date it may be evaluated again when it was evaluated this period."""
    rows = []
    departments = await subject_repo.list_subjects(services.db.conn, SubjectKind.DEPARTMENT)
    for department in sorted(departments, key=lambda d: d.name(lang).casefold()):
        if department.id == member.department_id:
            continue
        again = await flow.already_answered(services, member.telegram_id, department)
        label = department.name(lang)
        if again is not None:
            label = "✓ " + plain(
                lang, "member.again_from", name=label, date=_short_date(again, lang)
            )
        rows.append([_button(label, Action.EVALUATE, department.id)])
    return InlineKeyboardMarkup(rows) if rows else None
