"""Rendering digests: statistics as owners read them, both languages, escaping, Telegram limits."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest

from bot.digest.data import DigestData
from bot.digest.model import Digest, SubjectRef
from bot.digest.render import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    TEMPLATES,
    caption,
    format_dates,
    format_number,
    plain_text,
    plural,
    render_digest,
    render_html,
    split_message,
)
from surveys.schema import Audience, Question, QuestionType, SurveyDefinition
from tests.digest.digest_support import (
    BLOCK_BEFORE_W48,
    BLOCK_W48,
    DEPARTMENT,
    EXTERNAL,
    INTERNAL,
    PRODUCT,
    W47,
    W48,
    Counts,
    all_lines,
    assert_telegram_html,
    block_window,
    build,
    comment,
    disclose,
    nps_answers,
    window,
)

# Hand-computed fixtures (see each value's derivation next to it).
# NPS, 10 promoters / 5 passives / 5 detractors: (10 - 5) / 20 = 25. Adjusted Wald:
# n' = 23, p' = 10.75/23 = .4674, d' = 5.75/23 = .25, centre .2174,
# var = p' + d' - (p' - d')^2 = .6701, margin = 1.96 * sqrt(.6701/23) = .3346
# -> -11.7 .. 55.2, shown as "−12 – 55".
NPS_NOW = nps_answers(10, 5, 5)
# Previous week 9 / 5 / 6 = 15: a change of +10, far from significant (p = .72).
NPS_BEFORE = nps_answers(9, 5, 6)
# CSAT: 14 of 20 answered 4-5 = 70%; Wilson: centre (.7 + 1.92/20) / 1.192 = .668,
# half-width 1.96 * sqrt(.21/20 + 3.84/1600) / 1.192 = .187 -> 48.1 .. 85.5.
CSAT_NOW: Counts = {5: 8, 4: 6, 3: 3, 2: 2, 1: 1}
# CES: mean 108/20 = 5.4; s^2 = 36.8/19 = 1.937, t(.975, 19) = 2.093,
# margin = 2.093 * sqrt(1.937/20) = .651 -> 4.7 .. 6.1.
CES_NOW: Counts = {7: 4, 6: 8, 5: 4, 3: 4}
# Overall rating 3.9 (39/10); s^2 = 8.9/9, t(.975, 9) = 2.262, margin .711 -> 3.2 .. 4.6;
# favourable 7/10 = 70%, Wilson 39.7 .. 89.2.
OVERALL_NOW: Counts = {5: 3, 4: 4, 3: 2, 2: 1}


def external_digest(**data: object) -> Digest:
    current: dict[str, Counts] = {
        "nps": NPS_NOW,
        "csat": CSAT_NOW,
        "effort": CES_NOW,
        "improve": {"price": 4},
    }
    defaults: dict[str, object] = {
        "period": window(W48, 20, current, started=25, partial=2),
        "previous": window(W47, 20, {"nps": NPS_BEFORE}),
        "comments": [comment("Works fine", question_id="nps_promoter")],
        "trend": {W48: NPS_NOW, W47: NPS_BEFORE},
    }
    defaults.update(data)
    return build(PRODUCT, EXTERNAL, DigestData(**defaults))  # type: ignore[arg-type]


def internal_digest(**data: object) -> Digest:
    current = {
        q: OVERALL_NOW
        for q in ("overall", "reliability", "responsiveness", "communication", "quality")
    }
    defaults: dict[str, object] = {
        "period": window(W48, 10, current, started=12),
        "previous": window(W47, 0),
        "evaluators": 40,
        "trend": {W48: OVERALL_NOW},
    }
    defaults.update(data)
    return build(DEPARTMENT, INTERNAL, disclose(DigestData(**defaults)))  # type: ignore[arg-type]


def test_external_statistics_in_english() -> None:
    text = plain_text(render_html(external_digest(), "en"))
    assert "Week 48, 23–29 Nov 2026 · external customers" in text
    assert "Completed: 20 (same as the previous week) · unfinished: 2" in text
    assert "Completion rate: 80% (20 of the 25 surveys started this week completed)" in text
    assert "NPS: 25 (95% CI −12 – 55) ▲ +10 (within noise)" in text
    assert "promoters 10 · passives 5 · detractors 5" in text
    assert "CSAT: 70% (95% CI 48–85%)" in text
    assert "Ease (CES): 5.4/7 (95% CI 4.7–6.1)" in text
    assert "What to improve\nPrice: 4" in text
    assert "Response rate" not in text  # internal subjects only


def test_external_statistics_in_polish() -> None:
    text = plain_text(render_html(external_digest(), "pl"))
    assert "Tydzień 48, 23–29 listopada 2026 · klienci zewnętrzni" in text
    assert "NPS: 25 (przedział 95%: −12 – 55) ▲ +10 (w granicach błędu)" in text
    assert "promotorzy 10 · neutralni 5 · krytycy 5" in text
    assert "CSAT: 70% (przedział 95%: 48–85%)" in text
    assert "Łatwość (CES): 5,4/7 (przedział 95%: 4,7–6,1)" in text
    assert "Odsetek ukończonych: 80% (ukończono 20 z 25 ankiet rozpoczętych w tym tygodniu)" in text


def test_a_significant_change_is_marked_so() -> None:
    # 2/3/15 (NPS -65) -> 10/5/5 (25): +90, p < .001.
    digest = external_digest(previous=window(W47, 20, {"nps": nps_answers(2, 3, 15)}))
    assert "NPS: 25 (95% CI −12 – 55) ▲ +90 (significant)" in plain_text(render_html(digest, "en"))
    assert "▲ +90 (zmiana istotna)" in plain_text(render_html(digest, "pl"))


def test_a_fall_uses_a_real_minus_sign() -> None:
    digest = external_digest(previous=window(W47, 20, {"nps": nps_answers(12, 4, 4)}))
    assert "▼ −15 (within noise)" in plain_text(render_html(digest, "en"))


def test_internal_statistics() -> None:
    text = plain_text(render_html(internal_digest(), "en"))
    assert "Overall: 3.9/5 (95% CI 3.2–4.6)" in text
    assert "favourable (4–5): 70% (95% CI 40–89%)" in text
    assert "Response rate: 25% (10 of the 40 members who could evaluate" in text
    assert "No comparison: no responses the previous week." in text
    pl = plain_text(render_html(internal_digest(), "pl"))
    assert "Ocena ogólna: 3,9/5 (przedział 95%: 3,2–4,6)" in pl
    assert "oceny pozytywne (4–5): 70% (przedział 95%: 40–89%)" in pl
    assert "Odsetek odpowiedzi: 25% (10 z 40 osób, które mogły ocenić ten dział)" in pl


def test_headline_distribution_is_a_monospace_block() -> None:
    html = render_html(external_digest(), "en")
    block = re.search(r"<pre>(.*?)</pre>", html, re.DOTALL)
    assert block is not None
    rows = block.group(1).split("\n")
    assert len(rows) == 11  # NPS 10 down to 0
    assert rows[0].startswith("10 ") and rows[0].endswith(" 10   50%")
    assert rows[-1].startswith(" 0 ")


def test_free_text_is_always_escaped() -> None:
    evil = 'Use <b>bold</b> & <a href="x">this link</a>'
    subject = SubjectRef(1, "evil", {"en": "R&D <Lab>", "pl": "R&D <Lab>"}, Audience.EXTERNAL)
    digest = build(
        subject,
        EXTERNAL,
        DigestData(window(W48, 5, {"nps": {10: 5}}), window(W47, 0), comments=[comment(evil)]),
    )
    for lang in ("en", "pl"):
        for html in [*render_digest(digest, lang), caption(digest, lang)]:
            assert_telegram_html(html)
            assert "<b>bold" not in html and '<a href="x">' not in html
        html = render_html(digest, lang)
        assert "Use &lt;b&gt;bold&lt;/b&gt; &amp; &lt;a href=" in html
        assert "R&amp;D &lt;Lab&gt;" in html
        assert evil in plain_text(html)


TEMPLATE_NAME = re.compile(r"^(?P<base>[^.]+)\.(?P<lang>pl|en)\.html\.j2$")


def every_digest_shape() -> list[Digest]:
    """A digest in every shape the templates branch on."""
    hidden = internal_digest(period=window(W48, 3, {"overall": {4: 3}}))
    # Weekly counts (from the headline's trend): every week below 5, so the blocks pool.
    quiet_weeks = {W48: {4: 3}, "2026-W46": {4: 4}, "2026-W42": {3: 3}, "2026-W43": {3: 3}}
    pooled = internal_digest(
        period=window(W48, 3),
        block=block_window(BLOCK_W48, 7, {"overall": {4: 7}}),
        block_previous=block_window(BLOCK_BEFORE_W48, 6, {"overall": {3: 6}}),
        comments=[comment("pooled", question_id="works_well")],
        trend=quiet_weeks,
    )
    withheld = internal_digest(
        period=window(W48, 3),
        block=block_window(BLOCK_W48, 7, {"overall": {4: 7}}),
        block_previous=block_window(BLOCK_BEFORE_W48, 2),
        trend={W48: {4: 3}, "2026-W46": {4: 4}, "2026-W42": {3: 2}},
    )
    # W45's 5 were shown on their own: the block minus them would be W48's 2.
    block_withheld = internal_digest(
        period=window(W48, 2),
        block=block_window(BLOCK_W48, 7, {"overall": {4: 7}}),
        comments=[comment("pooled", question_id="works_well")],
        trend={W48: {4: 2}, "2026-W45": {4: 5}},
    )
    roles = internal_digest(
        period=window(W48, 10, {"overall": OVERALL_NOW}),
        role_counts={"employee": 5, "supplier": 5},
        role_distributions={"employee": {"overall": {5: 5}}, "supplier": {"overall": {3: 5}}},
        comments=[comment("better notes", question_id="should_change")],
    )
    nothing_internal = internal_digest(period=window(W48, 0), open_invites=0)
    nothing_external = external_digest(period=window(W48, 0), open_invites=1)
    return [
        external_digest(),
        hidden,
        pooled,
        withheld,
        roles,
        nothing_internal,
        nothing_external,
        block_withheld,
    ]


def test_every_template_exists_and_renders_in_both_languages() -> None:
    names: dict[str, set[str]] = {}
    for path in TEMPLATES.glob("*.j2"):
        match = TEMPLATE_NAME.match(path.name)
        assert match, f"{path.name}: expected NAME.pl.html.j2 / NAME.en.html.j2"
        names.setdefault(match["base"], set()).add(match["lang"])
    assert {"digest", "caption", "nothing", "_labels"} <= set(names)
    for base, langs in names.items():
        assert langs == {"pl", "en"}, f"{base} is missing a language"
    shapes = every_digest_shape()
    assert shapes[2].scores_gate.block and shapes[2].comparison == "shown"
    assert shapes[3].scores_gate.block and shapes[3].comparison == "withheld"
    assert shapes[4].roles and shapes[5].nothing_to_report
    assert shapes[7].scores_gate.block_withheld and shapes[7].comments_gate.block_withheld
    for digest in shapes:
        for lang in ("pl", "en"):
            parts = render_digest(digest, lang)
            texts = [*parts, caption(digest, lang)]
            for text in texts:
                assert text.strip()
                assert "{{" not in text and "{%" not in text
                assert "\n\n\n" not in text
                assert_telegram_html(text)
        # The same sections in both languages: a drift between them shows up here.
        en, pl = render_html(digest, "en"), render_html(digest, "pl")
        assert en.count("\n\n") == pl.count("\n\n")
        assert en.count("<b>") == pl.count("<b>")


def test_nothing_to_report_message() -> None:
    digest = external_digest(period=window(W48, 0), open_invites=3)
    parts = render_digest(digest, "en")
    assert len(parts) == 1
    text = plain_text(parts[0])
    # A closed week is named: "this week" would be wrong in the Monday digest.
    assert "No buyer has rated Kettle in week 48." in text
    assert "There are 3 open invite links for Kettle." in text
    assert "/invite buyer kettle" in text
    assert "NPS" not in text and "Completed" not in text  # no empty tables
    polish = plain_text(render_html(digest, "pl"))
    assert "W tygodniu 48 nikt nie ocenił produktu „Czajnik”." in polish
    assert "Otwarte zaproszenia do oceny produktu „Czajnik”: 3." in polish
    one = plain_text(render_html(external_digest(period=window(W48, 0), open_invites=1), "en"))
    assert "There is 1 open invite link for Kettle." in one
    running = replace(digest, in_progress=True)
    assert "No buyer has rated Kettle this week so far." in plain_text(render_html(running, "en"))
    assert "W tym tygodniu nikt jeszcze nie ocenił produktu „Czajnik”." in plain_text(
        render_html(running, "pl")
    )
    internal = plain_text(render_html(internal_digest(period=window(W48, 0)), "en"))
    assert "No colleague has evaluated Sales in week 48." in internal
    # Its own invite links bring a department no evaluations: say where they come from.
    assert "evaluated by people from other departments" in internal
    assert "open invite" not in internal


def long_survey(questions: int) -> SurveyDefinition:
    """A custom internal survey with many rated questions (long texts, no metric names)."""
    return SurveyDefinition(
        id="long",
        version=1,
        audience=Audience.INTERNAL,
        title={"en": "Long", "pl": "Długa"},
        intro={"en": "Intro", "pl": "Wstęp"},
        thanks={"en": "Thanks", "pl": "Dzięki"},
        questions=[
            Question(
                id=f"q{i}",
                type=QuestionType.RATING,
                metric="overall" if i == 0 else None,
                text={
                    "en": f"Question {i}: how well does {{{{ subject }}}} handle topic {i}?",
                    "pl": f"Pytanie {i}: jak {{{{ subject }}}} radzi sobie z tematem {i}?",
                },
            )
            for i in range(questions)
        ],
    )


def test_a_long_digest_is_split_between_sections_within_the_limit() -> None:
    survey = long_survey(70)
    answers: dict[str, Counts] = {f"q{i}": {1 + i % 5: 3, 5: 3, 4: 2} for i in range(70)}
    comments = [comment("Long & <detailed> comment " * 20, day=20 + i) for i in range(3)]
    digest = build(
        DEPARTMENT,
        survey,
        disclose(DigestData(window(W48, 8, answers), window(W47, 8, answers), comments=comments)),
    )
    for lang in ("en", "pl"):
        whole = render_html(digest, lang)
        assert len(whole) > MESSAGE_LIMIT
        parts = render_digest(digest, lang)
        assert len(parts) >= 2
        for part in parts:
            assert len(part) <= MESSAGE_LIMIT
            assert_telegram_html(part)  # no part ends (or starts) inside a tag
            assert not part.startswith("\n") and not part.endswith("\n")
        assert all_lines(parts) == all_lines([whole])


def test_split_message_prefers_blank_lines_and_never_cuts_a_tag() -> None:
    sections = [f"<b>Section {i}</b>\n" + "\n".join(["line"] * 40) for i in range(5)]
    text = "\n\n".join(sections)
    parts = split_message(text, 500)
    assert all(len(p) <= 500 for p in parts)
    assert all_lines(parts) == all_lines([text])
    # A pre block longer than a message: cut, closed and reopened, never left open.
    pre = "<pre>" + "\n".join(f"row {i:03d} ████░░░░" for i in range(100)) + "</pre>"
    parts = split_message("Header\n\n" + pre, 400)
    assert all(len(p) <= 400 for p in parts)
    for part in parts:
        assert_telegram_html(part)
    # One endless line with tags and entities.
    line = "<i>" + "word &amp; " * 1000 + "</i>"
    parts = split_message(line, 300)
    assert all(len(p) <= 300 for p in parts)
    for part in parts:
        assert_telegram_html(part)
    assert plain_text("".join(parts)).split() == plain_text(line).split()


def test_a_short_text_is_one_part() -> None:
    assert split_message("<b>hi</b>") == ["<b>hi</b>"]


def test_caption_fits_telegram() -> None:
    text = caption(external_digest(), "en")
    assert len(text) <= CAPTION_LIMIT
    assert "Kettle" in text and "NPS" in text and "25 (95% CI −12 – 55)" in plain_text(text)
    assert "przedział 95%" in caption(external_digest(), "pl")
    huge = SubjectRef(1, "huge", {"en": "Very & long " * 200}, Audience.EXTERNAL)
    digest = build(huge, EXTERNAL, DigestData(window(W48, 5, {"nps": {9: 5}}), window(W47, 0)))
    for lang in ("en", "pl"):
        clipped = caption(digest, lang)
        assert len(clipped) <= CAPTION_LIMIT
        assert clipped.endswith("…")
        assert_telegram_html(clipped)


@pytest.mark.parametrize(
    ("value", "digits", "lang", "expected"),
    [
        (25.0, 0, "en", "25"),
        (-11.7, 0, "en", "−12"),
        (-0.4, 0, "en", "0"),
        (3.95, 1, "pl", "4,0"),
        (4.25, 2, "pl", "4,25"),
        (-1.5, 1, "pl", "−1,5"),
    ],
)
def test_number_format(value: float, digits: int, lang: str, expected: str) -> None:
    assert format_number(value, digits, lang) == expected


def test_dates_and_plurals() -> None:
    assert format_dates(date(2026, 11, 23), date(2026, 11, 29), "en") == "23–29 Nov 2026"
    assert format_dates(date(2026, 11, 30), date(2026, 12, 6), "pl") == (
        "30 listopada – 6 grudnia 2026"
    )
    assert format_dates(date(2025, 12, 29), date(2026, 1, 4), "en") == ("29 Dec 2025 – 4 Jan 2026")
    forms = ("odpowiedź", "odpowiedzi", "odpowiedzi")
    assert [plural(n, "pl", "osoba", "osoby", "osób") for n in (1, 2, 5, 12, 22, 25)] == [
        "osoba", "osoby", "osób", "osób", "osoby", "osób",
    ]  # fmt: skip
    assert plural(1, "pl", *forms) == "odpowiedź"
    assert plural(1, "en", "response", "responses") == "response"
    assert plural(0, "en", "response", "responses") == "responses"
