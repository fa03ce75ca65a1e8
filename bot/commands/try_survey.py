"""`feedbot try`: take a survey in the terminal with the same engine the bot uses."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TextIO

from bot.commands.common import CommandError, load_catalog, settings_from
from surveys.engine import (
    Done,
    QuestionStep,
    Rejection,
    SessionState,
    apply_answer,
    go_back,
    new_state,
    next_step,
    parse_text,
    skip,
)
from surveys.loader import (
    SURVEY_SUFFIXES,
    SurveyFileError,
    UnknownSurvey,
    load_definition,
)
from surveys.schema import AnswerValue, QuestionType, SurveyDefinition, Texts, localize

LANGS = ("pl", "en")
BACK = "b"
SKIP = "s"

# The terminal's own texts: validation messages keyed by the engine's Rejection keys
# (the bot has its own catalog), then the prompts and hints of this command.
MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "not_current_question": "That answer is for another question.",
        "out_of_range": "Please give a number from {low} to {high}.",
        "not_a_number": "Please type a number.",
        "unknown_choice": "There is no such option: type its number.",
        "too_few_choices": "Please choose at least {min}.",
        "too_many_choices": "Please choose at most {max}.",
        "too_long": "That is {length} characters long; please keep it to {max}.",
        "empty": "Please type an answer.",
        "required": "This question needs an answer; it cannot be skipped.",
        "wrong_type": "That answer does not fit this question.",
        "wrong_type_yes_no": "Please answer yes or no.",
        "nothing_to_go_back_to": "This is the first question; there is nothing to go back to.",
        "finished": "The survey is already finished.",
        "hint_scale": "Type a number from {low} to {high}.",
        "hint_single": "Type the number of your choice.",
        "hint_multi": "Type the numbers of your choices separated by commas, e.g. 1,3.",
        "hint_text": "Type your answer in one line.",
        "hint_yes_no": "Type yes or no.",
        "hint_back": "b = back",
        "hint_skip": "s = skip",
        "eof": "Input ended before the survey was finished.",
        "answers": "Answers:",
        "skipped": "(skipped)",
        "yes": "yes",
        "no": "no",
        "subject": "Example",
    },
    "pl": {
        "not_current_question": "Ta odpowiedź dotyczy innego pytania.",
        "out_of_range": "Podaj liczbę od {low} do {high}.",
        "not_a_number": "Wpisz liczbę.",
        "unknown_choice": "Nie ma takiej odpowiedzi: wpisz jej numer.",
        "too_few_choices": "Wybierz co najmniej {min}.",
        "too_many_choices": "Wybierz najwyżej {max}.",
        "too_long": "Odpowiedź ma {length} znaków; zmieść się w {max}.",
        "empty": "Wpisz odpowiedź.",
        "required": "To pytanie wymaga odpowiedzi; nie można go pominąć.",
        "wrong_type": "Ta odpowiedź nie pasuje do tego pytania.",
        "wrong_type_yes_no": "Odpowiedz „tak” lub „nie”.",
        "nothing_to_go_back_to": "To pierwsze pytanie; nie ma do czego wracać.",
        "finished": "Ankieta jest już zakończona.",
        "hint_scale": "Wpisz liczbę od {low} do {high}.",
        "hint_single": "Wpisz numer wybranej odpowiedzi.",
        "hint_multi": "Wpisz numery wybranych odpowiedzi oddzielone przecinkami, np. 1,3.",
        "hint_text": "Wpisz odpowiedź w jednym wierszu.",
        "hint_yes_no": "Wpisz „tak” lub „nie”.",
        "hint_back": "b = wstecz",
        "hint_skip": "s = pomiń",
        "eof": "Dane wejściowe skończyły się przed końcem ankiety.",
        "answers": "Odpowiedzi:",
        "skipped": "(pominięto)",
        "yes": "tak",
        "no": "nie",
        "subject": "Przykład",
    },
}

_SUBJECT = re.compile(r"\{\{\s*subject\s*\}\}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `try` sub-command."""
    parser = subparsers.add_parser(
        "try",
        help="take a survey in the terminal, one answer per line",
        description=(
            "Take a survey in the terminal with the bot's engine. Answer with the number of a "
            "choice or a value on the scale, numbers separated by commas for several choices, "
            "free text for text questions, 'b' to go back and 's' to skip. Reads one answer "
            "per line, so it also works with piped input."
        ),
    )
    parser.add_argument("survey", metavar="SURVEY_ID", help="a survey id or a YAML file")
    parser.add_argument("--lang", choices=LANGS, default="en", help="language (default: en)")
    parser.add_argument(
        "--subject", metavar="NAME", help='the name put in for {{ subject }} (default: "Example")'
    )
    parser.set_defaults(handler=try_survey)


def try_survey(args: argparse.Namespace) -> int:
    """Run the survey on stdin/stdout; 0 when finished, 1 when input ended too early."""
    try:
        definition = _find_survey(args)
    except SurveyFileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    subject = args.subject or MESSAGES[args.lang]["subject"]
    try:
        return take_survey(definition, args.lang, subject, sys.stdin, sys.stdout)
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly, like other CLI tools
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- Python flushes stdout at exit
        return 1


def _find_survey(args: argparse.Namespace) -> SurveyDefinition:
    given: str = args.survey
    path = Path(given)
    if path.suffix in SURVEY_SUFFIXES or path.is_file():
        return load_definition(path)
    catalog = load_catalog(settings_from(args))
    try:
        return catalog.latest(given)
    except UnknownSurvey as exc:
        raise CommandError(str(exc)) from None


def render(texts: Texts, lang: str, subject: str) -> str:
    """A text in `lang` with {{ subject }} replaced (a plain substitution, not a template)."""
    return _SUBJECT.sub(lambda _: subject, localize(texts, lang))


class _Terminal:
    """The messages of one run, in one language, written to one stream."""

    def __init__(self, lang: str, out: TextIO) -> None:
        self.messages = MESSAGES[lang]
        self.out = out

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def rejection(self, rejection: Rejection) -> str:
        expected = rejection.params.get("expected")
        specific = self.messages.get(f"{rejection.key}_{expected}")
        template = specific or self.messages.get(rejection.key, rejection.key)
        return template.format(**rejection.params)


def take_survey(
    definition: SurveyDefinition, lang: str, subject: str, stdin: TextIO, stdout: TextIO
) -> int:
    """Ask every question on `stdout`, read one answer per line from `stdin`, print the
    answers at the end. Returns 0 when done, 1 when the input ends first."""
    term = _Terminal(lang, stdout)
    term.say(render(definition.title, lang, subject))
    term.say(render(definition.intro, lang, subject))
    state = new_state()
    while not isinstance(step := next_step(definition, state), Done):
        term.say()
        _show(term, step, lang, subject)
        if stdin.isatty():
            print("> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            print(term.messages["eof"], file=sys.stderr)
            return 1
        result = _answer(definition, state, step, line)
        if isinstance(result, Rejection):
            term.say(term.rejection(result))
            continue
        state = result
    term.say()
    term.say(render(definition.thanks, lang, subject))
    term.say()
    term.say(term.messages["answers"])
    done: Done = step
    for question_id, value in done.answers.items():
        term.say(f"{question_id}: {_format_value(term, value)}")
    return 0


def _answer(
    definition: SurveyDefinition, state: SessionState, step: QuestionStep, line: str
) -> SessionState | Rejection:
    question_id = step.question.id
    command = line.strip().lower()
    if command == BACK:
        return go_back(definition, state, question_id)
    if command == SKIP:
        return skip(definition, state, question_id)
    value = parse_text(step.question, line)
    if isinstance(value, Rejection):
        return value
    return apply_answer(definition, state, question_id, value)


def _show(term: _Terminal, step: QuestionStep, lang: str, subject: str) -> None:
    question = step.question
    term.say(f"[{step.number}/{step.total}] {render(question.text, lang, subject)}")
    scale = question.scale
    if scale is not None:
        low, high = scale
        term.say("  " + " ".join(str(n) for n in range(low, high + 1)))
        if question.low_label and question.high_label:
            low_label = render(question.low_label, lang, subject)
            high_label = render(question.high_label, lang, subject)
            term.say(f"  {low} = {low_label}, {high} = {high_label}")
        hint = term.messages["hint_scale"].format(low=low, high=high)
    elif question.type in (QuestionType.SINGLE, QuestionType.MULTI):
        for number, choice in enumerate(question.choices, start=1):
            term.say(f"  {number}. {render(choice.text, lang, subject)}")
        hint = term.messages[f"hint_{question.type}"]
    else:
        hint = term.messages[f"hint_{question.type}"]
    commands = []
    if step.can_go_back:
        commands.append(term.messages["hint_back"])
    if step.can_skip:
        commands.append(term.messages["hint_skip"])
    term.say(f"{hint} ({', '.join(commands)})" if commands else hint)


def _format_value(term: _Terminal, value: AnswerValue) -> str:
    if value is None:
        return term.messages["skipped"]
    if isinstance(value, bool):
        return term.messages["yes" if value else "no"]
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)
