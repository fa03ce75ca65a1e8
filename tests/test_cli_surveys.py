"""`feedbot validate` and `feedbot try`, run in-process as an author would from a terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.try_survey import MESSAGES
from surveys.engine import Rejection

# An author's script through the external survey: a promoter who answers everything but
# the comment, picks two things to improve and agrees to be contacted.
EXTERNAL_SCRIPT = ["10", "Fast delivery", "5", "6", "1,3", "s"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No .env and no extra surveys folder from the developer's machine."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FEEDBOT_SURVEYS_DIR", raising=False)


def feed(monkeypatch: pytest.MonkeyPatch, *lines: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{line}\n" for line in lines)))


def test_a_scripted_pass_through_external_in_english(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed(monkeypatch, *EXTERNAL_SCRIPT, "yes")
    assert main(["try", "external", "--lang", "en", "--subject", "Coffee Grinder"]) == 0
    out = capsys.readouterr().out
    assert "[1/7] How likely are you to recommend Coffee Grinder to a friend or colleague?" in out
    assert "0 = not at all likely, 10 = extremely likely" in out
    assert "[2/7] We're glad to hear it!" in out
    assert "  3. Delivery" in out
    assert "(b = back, s = skip)" in out
    assert "[7/7] May we contact you" in out
    assert "{{" not in out
    assert out.rstrip().endswith(
        "Answers:\n"
        "nps: 10\n"
        "nps_promoter: Fast delivery\n"
        "csat: 5\n"
        "effort: 6\n"
        "improve: price, delivery\n"
        "comment: (skipped)\n"
        "contact_consent: yes"
    )


def test_a_scripted_pass_through_external_in_polish(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed(monkeypatch, "3", "Za drogo", "2", "3", "1", "Szkoda", "nie")
    assert main(["try", "external", "--lang", "pl"]) == 0
    out = capsys.readouterr().out
    assert "[1/7] Na ile prawdopodobne jest, że polecisz produkt „Przykład”" in out
    assert "[2/7] Przykro nam" in out
    assert "(b = wstecz, s = pomiń)" in out
    assert "  4. Obsługa klienta" in out
    assert "Dziękujemy za poświęcony czas!" in out
    assert out.rstrip().endswith(
        "Odpowiedzi:\n"
        "nps: 3\n"
        "nps_detractor: Za drogo\n"
        "csat: 2\n"
        "effort: 3\n"
        "improve: price\n"
        "comment: Szkoda\n"
        "contact_consent: nie"
    )


def test_an_invalid_line_prints_the_reason_and_asks_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed(monkeypatch, "11", "ten", "9", "b", "b", "8", "s", "5", "6", "1,9", "s", "s", "maybe", "n")
    assert main(["try", "external"]) == 0
    out = capsys.readouterr().out
    assert out.count("[1/7] How likely") == 5  # 11, "ten", back from the follow-up, back
    assert "Please give a number from 0 to 10." in out
    assert "Please type a number." in out
    assert "This is the first question; there is nothing to go back to." in out
    assert "[2/7] Thank you! What would make it a 10 for you?" in out  # 8 is a passive
    assert "There is no such option" not in out
    assert "Please give a number from 1 to 5." in out  # choice 9 of 5
    assert "Please answer yes or no." in out
    assert "nps: 8\nnps_passive: (skipped)" in out


def test_a_required_question_cannot_be_skipped_in_the_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed(monkeypatch, "s")
    assert main(["try", "internal", "--lang", "pl"]) == 1
    captured = capsys.readouterr()
    assert "To pytanie wymaga odpowiedzi; nie można go pominąć." in captured.out
    assert "Dane wejściowe skończyły się przed końcem ankiety." in captured.err


def test_input_that_ends_early_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed(monkeypatch, "4", "5")
    assert main(["try", "internal"]) == 1
    captured = capsys.readouterr()
    assert "[3/8]" in captured.out
    assert "Answers:" not in captured.out
    assert "Input ended before the survey was finished." in captured.err


def test_try_takes_a_survey_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pulse.yaml"
    path.write_text(
        """\
id: pulse
version: 1
audience: internal
title: {pl: Puls, en: Pulse}
intro: {pl: Dwa pytania., en: Two questions.}
thanks: {pl: Dzięki!, en: Thanks!}
questions:
  - id: happy
    type: yes_no
    text:
      pl: Czy lubisz pracować z {{ subject }}?
      en: Do you enjoy working with {{subject}}?
  - id: why
    type: single
    show_if: {question: happy, equals: false}
    text: {pl: "Dlaczego?", en: "Why not?"}
    choices:
      - {id: slow, text: {pl: Powolność, en: Too slow}}
      - {id: rude, text: {pl: Nieuprzejmość, en: Unfriendly}}
""",
        encoding="utf-8",
    )
    feed(monkeypatch, "n", "too slow")
    assert main(["try", str(path), "--subject", "IT"]) == 0
    out = capsys.readouterr().out
    assert "[1/2] Do you enjoy working with IT?" in out
    assert "happy: no\nwhy: slow" in out


def test_try_an_unknown_survey_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["try", "nope"]) == 1
    assert "unknown survey 'nope' (known: external, internal)" in capsys.readouterr().err


def test_try_a_broken_file_lists_its_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: bad\n", encoding="utf-8")
    assert main(["try", str(path)]) == 1
    assert f"{path}: version is missing" in capsys.readouterr().err


@pytest.mark.parametrize("lang", ["pl", "en"])
def test_every_validation_message_exists_in_both_languages(lang: str) -> None:
    assert MESSAGES[lang].keys() == MESSAGES["en"].keys()
    samples = {
        "out_of_range": {"low": 1, "high": 5},
        "too_few_choices": {"min": 2},
        "too_many_choices": {"max": 2},
        "too_long": {"max": 10, "length": 12},
        "hint_scale": {"low": 1, "high": 5},
    }
    for key, template in MESSAGES[lang].items():
        text = template.format(**samples.get(key, {}))
        assert text and "{" not in text, key
    assert Rejection("finished").key in MESSAGES[lang]


# ---------------------------------------------------------------- validate


def test_validate_the_bundled_surveys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0
    assert capsys.readouterr().out == (
        "ok: external v1 (external, 9 questions), internal v1 (internal, 8 questions)\n"
    )


def test_validate_a_folder_of_good_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "surveys"
    folder.mkdir()
    internal = Path(__file__).parent.parent / "surveys" / "definitions" / "internal.yaml"
    text = internal.read_text(encoding="utf-8").replace("version: 1", "version: 2")
    (folder / "internal-v2.yml").write_text(text, encoding="utf-8")
    (folder / "notes.txt").write_text("not a survey", encoding="utf-8")
    assert main(["validate", str(folder)]) == 0
    assert "internal v1 (internal, 8 questions), internal v2 (internal, 8 questions)" in (
        capsys.readouterr().out
    )


def test_validate_a_broken_file_lists_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        """\
id: broken
version: 1
audience: external
title: {pl: Tytuł, en: Title}
intro: {pl: Wstęp, en: Intro}
thanks: {pl: Dzięki}
questions:
  - {id: score, type: stars, text: {pl: x, en: x}}
  - {id: why, type: text, text: {pl: x, en: x}, show_if: {question: later, less_than: 7}}
  - {id: later, type: nps, text: {pl: x, en: x}}
""",
        encoding="utf-8",
    )
    missing = tmp_path / "missing.yaml"
    assert main(["validate", str(path), str(missing)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{path}: thanks has no English translation (en)",
        f"{path}: question score: unknown type 'stars' "
        "(allowed: rating, nps, ces, single, multi, text, yes_no)",
        f"{path}: question why: show_if refers to question 'later', which comes later; "
        "it may only depend on an earlier question",
        f"{missing}: no such file or folder",
        "4 problems found",
    ]
