"""Rendering a digest as Telegram HTML: Jinja2 templates and filters, splitting, captions."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, pass_context
from jinja2.runtime import Context
from markupsafe import escape

from bot.digest.model import Digest, Distribution, ScoreKind
from bot.i18n import plain
from surveys.periods import PeriodSpan
from surveys.schema import Texts, localize
from surveys.scoring import Change, Estimate

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGS = ("pl", "en")
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
MINUS = "−"  # U+2212: a real minus sign, distinct from the hyphen and the en dash
DASH = "–"  # ranges of numbers and days
ELLIPSIS = "…"

_DIGITS = {ScoreKind.NPS: 0, ScoreKind.PERCENT: 0, ScoreKind.MEAN: 1}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*>")
_TOKEN = re.compile(r"<[^>]*>|&#?[a-zA-Z0-9]+;|.", re.DOTALL)
_SUBJECT = re.compile(r"{{\s*subject\s*}}")
_BLANK_RUNS = re.compile(r"\n{3,}")


# ------------------------------------------------------------------ numbers and dates


def normalize_lang(lang: str) -> str:
    """ "pl" or "en" (anything else falls back to English)."""
    return lang if lang in LANGS else "en"


def format_number(value: float, digits: int = 0, lang: str = "en") -> str:
    """A number rounded to `digits` decimals, with a decimal comma in Polish and a real
    minus sign; a value that rounds to zero never shows as "-0"."""
    text = f"{value:.{digits}f}"
    if text[:1] == "-":
        text = text[1:] if float(text) == 0 else MINUS + text[1:]
    # normalize_lang(lang) == "pl", for the one language it is true of.
    return text.replace(".", ",") if lang == "pl" else text


def format_percent(ratio: float, lang: str = "en") -> str:
    """A 0..1 ratio as a whole percent, e.g. "40%"."""
    return format_number(100.0 * ratio, 0, lang) + "%"


def month_name(month: int, lang: str = "en") -> str:
    """The month (1-12) as a date writes it, from the locale catalog: "Nov" in English,
    the genitive "listopada" in Polish."""
    return _months(normalize_lang(lang))[month - 1]


@cache
def _months(lang: str) -> tuple[str, ...]:
    return tuple(plain(lang, f"calendar.month_{month}") for month in range(1, 13))


def format_day(day: date, lang: str = "en", *, year: bool = True) -> str:
    """ "23 Nov 2026" in English, "23 listopada 2026" in Polish."""
    month = month_name(day.month, lang)
    return f"{day.day} {month} {day.year}" if year else f"{day.day} {month}"


def format_day_short(day: date, lang: str = "en") -> str:
    """A compact day for chart axes: "23 Nov" in English, "23.11" in Polish."""
    if normalize_lang(lang) == "pl":
        return f"{day.day}.{day.month:02d}"
    return f"{day.day} {month_name(day.month, 'en')}"


def format_dates(start: date, end: date, lang: str = "en") -> str:
    """A day range without repeating what both ends share: "23–29 Nov 2026",
    "30 Nov – 6 Dec 2026", "29 Dec 2025 – 4 Jan 2026"."""
    if start.year != end.year:
        return f"{format_day(start, lang)} {DASH} {format_day(end, lang)}"
    if start.month != end.month:
        return f"{format_day(start, lang, year=False)} {DASH} {format_day(end, lang)}"
    return f"{start.day}{DASH}{format_day(end, lang)}"


def week_number(span: PeriodSpan) -> int:
    """The ISO week number of a weekly period."""
    return span.start.isocalendar()[1]


def plural(n: int, lang: str, *forms: str) -> str:
    """The form for `n`: English (one, other); Polish (one, few, many), e.g.
    odpowiedź / odpowiedzi / odpowiedzi."""
    if normalize_lang(lang) == "pl" and len(forms) >= 3:
        if n == 1:
            return forms[0]
        if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
            return forms[1]
        return forms[2]
    return forms[0] if n == 1 else forms[-1]


def score_digits(kind: ScoreKind | str) -> int:
    """Decimals shown for a score of this kind (NPS and percents whole, means one)."""
    return _DIGITS[ScoreKind(kind)]


def _score_format(kind: ScoreKind | str) -> tuple[int, str]:
    """(score_digits(kind), the unit after the number): "%" for percents, else none."""
    try:
        found = _SCORE_FORMATS.get(kind)
    except TypeError:  # unhashable: let ScoreKind say what is wrong with it
        found = None
    if found is None:
        kind = ScoreKind(kind)
        found = _DIGITS[kind], "%" if kind is ScoreKind.PERCENT else ""
    return found


# By kind, and by its text: a template passes either ("percent" or s.kind).
_SCORE_FORMATS: dict[str, tuple[int, str]] = {
    kind.value: (digits, "%" if kind is ScoreKind.PERCENT else "")
    for kind, digits in _DIGITS.items()
}


# ------------------------------------------------------------------ Jinja filters


def _lang(context: Context) -> str:
    """The language of the template calling a filter: its `lang` (a `_labels` template
    sets its own), English when it has none."""
    return normalize_lang(str(context.get("lang", "en")))


@pass_context
def _num(context: Context, value: float, digits: int = 0) -> str:
    return format_number(value, digits, _lang(context))


@pass_context
def _score(context: Context, estimate: Estimate, kind: ScoreKind | str) -> str:
    digits, unit = _score_format(kind)
    return format_number(estimate.value, digits, _lang(context)) + unit


@pass_context
def _interval(context: Context, estimate: Estimate, kind: ScoreKind | str) -> str:
    """ "3.8–4.6"; spaced around the dash when a bound is negative ("−30 – −5"); empty when
    both bounds round to the same number (a point, not a range)."""
    digits, unit = _score_format(kind)
    lang = _lang(context)
    low = format_number(estimate.low, digits, lang)
    high = format_number(estimate.high, digits, lang)
    if low == high:
        return ""
    sep = f" {DASH} " if MINUS in low or MINUS in high else DASH
    return f"{low}{sep}{high}{unit}"


@pass_context
def _delta(context: Context, value: Change | float, digits: int = 0) -> str:
    """ "▲ +12", "▼ −0.3" or "= 0": the sign and arrow of the rounded change."""
    delta = value.delta if isinstance(value, Change) else float(value)
    text = format_number(delta, digits, _lang(context))
    rounded = round(delta, digits)
    if rounded > 0:
        return f"▲ +{text}"
    return f"▼ {text}" if rounded < 0 else f"= {text}"


@pass_context
def _percent(context: Context, ratio: float) -> str:
    return format_percent(ratio, _lang(context))


@pass_context
def _dates(context: Context, span: PeriodSpan) -> str:
    return format_dates(span.start, span.end, _lang(context))


@pass_context
def _date_range(context: Context, start: date, end: date) -> str:
    return format_dates(start, end, _lang(context))


@pass_context
def _day(context: Context, day: date) -> str:
    return format_day(day, _lang(context))


@pass_context
def _plural(context: Context, n: int, *forms: str) -> str:
    return plural(n, _lang(context), *forms)


@pass_context
def _text(context: Context, texts: Texts) -> str:
    return localize(dict(texts), _lang(context))


@pass_context
def _question(context: Context, texts: Texts, subject: str, limit: int = 80) -> str:
    """A question's text with its subject filled in, clipped for use as a label."""
    text = _SUBJECT.sub(subject, localize(dict(texts), _lang(context)))
    return clip_words(" ".join(text.split()), limit)


def clip_words(text: str, limit: int) -> str:
    """`text` cut at a word boundary to at most `limit` characters, "…" included."""
    if len(text) <= limit:
        return text
    room = text[: limit - len(ELLIPSIS) + 1]
    cut = room.rfind(" ")
    head = room[:cut] if cut > limit // 3 else room[:-1]
    return head.rstrip(" ,;:–—-") + ELLIPSIS


@pass_context
def _bars(context: Context, distribution: Distribution) -> str:
    """The distribution's rows for a <pre> block: value, bar, count and share."""
    lang = _lang(context)
    width = max(len(str(bar.value)) for bar in distribution.bars)
    count_width = max(len(str(bar.answers)) for bar in distribution.bars)
    return "\n".join(
        f"{bar.value:>{width}} {bar.bar} {bar.answers:>{count_width}}"
        f"  {format_number(bar.percent, 0, lang):>3}%"
        for bar in distribution.bars
    )


def _digits(kind: ScoreKind | str) -> int:
    return _score_format(kind)[0]


@cache
def environment() -> Environment:
    """The Jinja2 environment of the digest templates (autoescape on, strict undefined)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # Templates ship with the package; checking their mtimes on every digest costs
        # a stat() per template per render for nothing.
        auto_reload=False,
    )
    filters: dict[str, Callable[..., Any]] = {
        "num": _num,
        "score": _score,
        "interval": _interval,
        "delta": _delta,
        "percent": _percent,
        "dates": _dates,
        "date_range": _date_range,
        "day": _day,
        "plural": _plural,
        "text": _text,
        "question": _question,
        "week_no": week_number,
        "digits": _digits,
        "bars": _bars,
    }
    env.filters.update(filters)
    return env


def template(name: str, lang: str) -> Template:
    """A template by base name and language, e.g. ("digest", "pl") -> digest.pl.html.j2."""
    return environment().get_template(f"{name}.{normalize_lang(lang)}.html.j2")


def labels(lang: str) -> Any:
    """The macros of `_labels.<lang>.html.j2` (metric and role names), callable from Python."""
    return template("_labels", lang).module


# ------------------------------------------------------------------ Telegram limits


def telegram_length(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts; the raw HTML is never shorter
    than the text Telegram shows, so a limit met here is met there."""
    return len(text.encode("utf-16-le")) // 2


def plain_text(text: str) -> str:
    """Telegram HTML as a terminal shows it: tags removed, entities unescaped."""
    return html.unescape(_TAG.sub("", text))


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split HTML into parts of at most `limit` characters, at line boundaries outside any
    tag, preferring the blank lines between sections; a single over-long line is cut
    between characters with its open tags closed and reopened (never fails)."""
    text = text.strip("\n")
    parts: list[str] = []
    while telegram_length(text) > limit:
        head, text = _cut(text, limit)
        if head:
            parts.append(head)
    if text or not parts:
        parts.append(text)
    return parts


def _cut(text: str, limit: int) -> tuple[str, str]:
    """The first part and the rest: the last section boundary that fills at least half a
    message, else the last line not followed by an indented continuation line, else
    the last line boundary outside any tag, else a cut inside a line."""
    section_cut = item_cut = line_cut = -1
    depth = 0
    position = 0
    used = 0
    for line in text.split("\n"):
        end = position + len(line)
        used += telegram_length(line) + (1 if position else 0)
        if used > limit:
            break
        for match in _TAG.finditer(line):
            depth += -1 if match.group(1) else 1
        if depth <= 0 and line.strip():
            line_cut = end
            following = text[end + 1 : end + 2]
            if text.startswith("\n\n", end):
                section_cut = item_cut = end
            elif following and not following.isspace():
                item_cut = end
        position = end + 1
    for cut in (section_cut if section_cut >= limit // 2 else -1, item_cut, line_cut):
        if cut > 0:
            return text[:cut].rstrip("\n"), text[cut:].lstrip("\n")
    return _hard_cut(text, limit)


def _hard_cut(text: str, limit: int) -> tuple[str, str]:
    """Cut inside a line: the longest prefix that, with its open tags closed, fits."""
    stack: list[tuple[str, str]] = []  # (name, opening tag)
    best = ""
    best_rest = text
    best_space = ""
    best_space_rest = text
    position = 0
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token.startswith("<") and len(token) > 1:
            tag = _TAG.fullmatch(token)
            if tag is not None and tag.group(1):
                if stack and stack[-1][0] == tag.group(2).lower():
                    stack.pop()
            elif tag is not None:
                stack.append((tag.group(2).lower(), token))
        position = match.end()
        closers = "".join(f"</{name}>" for name, _ in reversed(stack))
        head = text[:position]
        if telegram_length(head) + telegram_length(closers) > limit:
            break
        openers = "".join(opening for _, opening in stack)
        best, best_rest = head + closers, openers + text[position:]
        if token.isspace():
            best_space, best_space_rest = best, best_rest
    if best_space and telegram_length(best_space) > limit // 2:
        return best_space.rstrip(), best_space_rest.lstrip()
    if not best:  # cannot happen for limit >= a few characters
        raise ValueError(f"limit {limit} is too small to split this text")
    return best, best_rest


def clip_html(text: str, limit: int) -> str:
    """HTML that fits `limit`: unchanged when it does, else its plain text clipped at a
    word boundary with "…" and escaped again (a caption may not be split)."""
    if telegram_length(text) <= limit:
        return text
    plain = " ".join(plain_text(text).split())
    room = limit
    while room > 0:
        clipped = str(escape(clip_words(plain, room)))
        if telegram_length(clipped) <= limit:
            return clipped
        room -= max(1, telegram_length(clipped) - limit)
    return ""


# ------------------------------------------------------------------ the digest


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines))


def render_html(digest: Digest, lang: str) -> str:
    """The whole digest as one Telegram HTML text (possibly over the message limit)."""
    lang = normalize_lang(lang)
    name = "nothing" if digest.nothing_to_report else "digest"
    return _tidy(template(name, lang).render(digest=digest, lang=lang))


def render_digest(digest: Digest, lang: str) -> list[str]:
    """The digest as Telegram HTML messages, each within the 4096-character limit."""
    return split_message(render_html(digest, lang), MESSAGE_LIMIT)


def caption(digest: Digest, lang: str) -> str:
    """The caption of the trend chart photo, within the 1024-character limit."""
    lang = normalize_lang(lang)
    text = _tidy(template("caption", lang).render(digest=digest, lang=lang))
    return clip_html(text, CAPTION_LIMIT)


def render_plain(parts: Sequence[str]) -> str:
    """Rendered parts as terminal text, separated by a rule."""
    return "\n\n―――\n\n".join(plain_text(part) for part in parts)
