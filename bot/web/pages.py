"""The dashboard's pages: Jinja2 templates (autoescaped) and the numbers worded for them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from bot.digest.model import Digest, Gate, Score, ScoreKind
from bot.digest.render import format_dates, format_day, format_number, format_percent, score_digits
from bot.i18n import t
from bot.web.data import QuestionBars, SubjectView
from bot.web.svg import trend_svg
from storage.models import MemberRole
from surveys.schema import localize
from surveys.scoring import Estimate


@cache
def environment() -> Environment:
    """Templates under bot/templates/web, every value escaped unless it is Markup."""
    return Environment(
        loader=PackageLoader("bot", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, lang: str, **context: Any) -> str:
    """A page in `lang`; `_` in the template is `t` in that language."""

    def translate(key: str, **params: object) -> Markup:
        return t(lang, key, **params)

    return (
        environment()
        .get_template(f"web/{template}.html.j2")
        .render(lang=lang, _=translate, **context)
    )


_SUBJECT = re.compile(r"\{\{\s*subject\s*\}\}|\{subject\}")


def question_text(texts: Mapping[str, str], lang: str, subject: str) -> str:
    """A question in `lang` with the subject's name in it (escaped later, as all text)."""
    return _SUBJECT.sub(lambda _: subject, localize(dict(texts), lang))


def score_text(estimate: Estimate, kind: ScoreKind | str, lang: str) -> str:
    """A score as the digest prints it ("42", "4.3", "81%")."""
    unit = "%" if kind == ScoreKind.PERCENT else ""
    return format_number(estimate.value, score_digits(kind), lang) + unit


def interval_text(estimate: Estimate, kind: ScoreKind | str, lang: str) -> str:
    """ "3.8–4.6" (empty for an interval of one answer or of no width)."""
    if not estimate.has_interval:
        return ""
    digits = score_digits(kind)
    unit = "%" if kind == ScoreKind.PERCENT else ""
    low, high = (
        format_number(estimate.low, digits, lang),
        format_number(estimate.high, digits, lang),
    )
    return "" if low == high else f"{low}–{high}{unit}"


def period_text(digest: Digest, lang: str) -> Markup:
    """Which responses the numbers come from: the week, or the pooled block."""
    if digest.scores_gate.block:
        return t(
            lang, "dashboard.pooled", dates=format_dates(digest.block.start, digest.block.end, lang)
        )
    span = digest.period
    return t(
        lang,
        "dashboard.week",
        week=span.key,
        dates=format_dates(span.start, span.end, lang),
    )


def gate_note(digest: Digest, lang: str) -> Markup | None:
    """Why the numbers are withheld (None when shown or when there was nothing)."""
    gate = digest.scores_gate
    if gate.shown:
        return None
    if digest.nothing_to_report:
        return t(lang, "dashboard.nothing")
    if gate.block_withheld:
        return t(lang, "dashboard.withheld_for_good", threshold=gate.threshold)
    note = t(lang, "dashboard.withheld", threshold=gate.threshold)
    if gate.pooled_after is not None:
        date = format_day(gate.pooled_after, lang)
        note += Markup(" ") + t(lang, "dashboard.pending", date=date, needed=gate.needed)
    return note


def _comments_note(gate: Gate, lang: str) -> Markup | None:
    return None if gate.shown else t(lang, "dashboard.comments_withheld", threshold=gate.threshold)


def _change(score: Score, lang: str) -> str:
    if score.change is None:
        return "—"
    delta = score.change.delta
    text = format_number(delta, score_digits(score.kind), lang)
    return ("+" + text) if round(delta, score_digits(score.kind)) > 0 else text


def _bars_svg(bars: QuestionBars, lang: str) -> Markup:
    """One horizontal bar per scale value, labelled with its answers and percent."""
    total = max(1, bars.n)
    row, width, label_w = 22, 420, 32
    height = row * len(bars.bars)
    parts = [f'<svg class="bars" viewBox="0 0 {width} {height}" role="img">']
    for i, (value, answers) in enumerate(bars.bars):
        y = i * row
        share = answers / total
        bar_w = (width - label_w - 90) * share
        parts.append(
            f'<text class="barlabel" x="{label_w - 8}" y="{y + 15}" '
            f'text-anchor="end">{escape(value)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{bar_w:.1f}" '
            f'height="{row - 8}" rx="3"/>'
            f'<text class="barlabel" x="{label_w + bar_w + 6:.1f}" y="{y + 15}">'
            f"{answers} · {escape(format_percent(share, lang))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def subject_page(
    view: SubjectView, lang: str, *, weeks: int, lengths: Sequence[int]
) -> dict[str, Any]:
    """The template context of a subject's page."""
    digest = view.digest
    name = view.subject.name(lang)
    kind = digest.headline_kind or ScoreKind.MEAN
    headline = digest.headline
    scores = [
        {
            "metric": s.metric,
            "question": question_text(s.texts, lang, name),
            "value": score_text(s.estimate, s.kind, lang),
            "interval": interval_text(s.estimate, s.kind, lang),
            "change": _change(s, lang),
        }
        for s in digest.scores
    ]
    roles = [
        {
            "name": t(lang, f"dashboard.role_{r.role}") if r.role in tuple(MemberRole) else r.role,
            "responses": r.responses,
            "value": score_text(r.headline, kind, lang) if r.headline else "—",
            "interval": interval_text(r.headline, kind, lang) if r.headline else "",
        }
        for r in digest.roles
    ]
    comments = [
        {
            "question": question_text(c.question.text, lang, name) if c.question else "",
            "text": c.text,
        }
        for c in view.comments
    ]
    choices = [{"label": localize(dict(c.texts), lang), "count": c.count} for c in digest.choices]
    distributions = [
        {
            "question": question_text(d.question.text, lang, name),
            "n": d.n,
            "svg": _bars_svg(d, lang),
        }
        for d in view.distributions
    ]
    title = t(lang, "dashboard.trend", metric=digest.headline_metric or "")
    return {
        "name": name,
        "slug": view.subject.slug,
        "digest": digest,
        "internal": digest.internal,
        "period_text": period_text(digest, lang),
        "metric": digest.headline_metric,
        "headline": {
            "value": score_text(headline.estimate, headline.kind, lang),
            "interval": interval_text(headline.estimate, headline.kind, lang),
        }
        if headline is not None
        else None,
        "response_rate": format_percent(digest.response_rate, lang)
        if digest.response_rate is not None
        else None,
        "completion_rate": format_percent(digest.completion_rate, lang)
        if digest.completion_rate is not None
        else None,
        "gate_note": gate_note(digest, lang),
        "comments_note": _comments_note(digest.comments_gate, lang)
        if digest.counts.completed
        else None,
        "comments": comments,
        "roles": roles,
        "threshold": digest.scores_gate.threshold or 0,
        "scores": scores,
        "choices": choices,
        "distributions": distributions,
        "chart": trend_svg(view.trend, kind, digest.headline_scale, lang, str(title)),
        "weeks": weeks,
        "lengths": lengths,
    }


def local_time(moment: datetime | None, zone: Any, lang: str) -> str:
    """A moment as a day in the configured zone (None: never)."""
    if moment is None:
        return str(t(lang, "dashboard.invite_never"))
    return format_day(moment.astimezone(zone).date(), lang)
