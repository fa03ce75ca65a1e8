"""Detractor alerts: an owner who asked for them hears at once about an unhappy buyer.

External subjects only. An internal response is never alerted on: one colleague's
answer delivered on its own, minutes after they gave it, would undo the anonymity that
the digest thresholds protect.
"""

from __future__ import annotations

import json
import logging

from markupsafe import Markup

from bot.delivery import OutboxKind, alert_key
from bot.i18n import join, markup, t
from bot.services import Services
from storage import outbox as outbox_repo
from storage import owners as owner_repo
from storage import subjects as subject_repo
from storage.models import Session, Subject, SubjectKind
from surveys import anonymity
from surveys.schema import AnswerValue, Metric, QuestionType, SurveyDefinition

log = logging.getLogger(__name__)

NPS_DETRACTOR_MAX = 6
CSAT_LOW_MAX = 2
COMMENT_MAX_CHARS = 700


def _score(answers: dict[str, AnswerValue], question_id: str) -> int | None:
    value = answers.get(question_id)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def detractor_scores(
    definition: SurveyDefinition, answers: dict[str, AnswerValue]
) -> tuple[int | None, int | None] | None:
    """(NPS, CSAT) when the answers make the buyer a detractor (NPS 0-6 or CSAT 1-2),
    else None; always None for an internal survey."""
    if not anonymity.alerts_allowed(definition.audience):
        return None
    nps = csat = None
    for question in definition.questions:
        if question.type is QuestionType.NPS and nps is None:
            nps = _score(answers, question.id)
        elif (
            question.type is QuestionType.RATING and question.metric == Metric.CSAT and csat is None
        ):
            csat = _score(answers, question.id)
    low_nps = nps is not None and nps <= NPS_DETRACTOR_MAX
    low_csat = csat is not None and csat <= CSAT_LOW_MAX
    return (nps, csat) if low_nps or low_csat else None


def comments_of(definition: SurveyDefinition, answers: dict[str, AnswerValue]) -> list[str]:
    """The buyer's free-text answers, in survey order."""
    texts = []
    for question in definition.questions:
        value = answers.get(question.id)
        if question.type is QuestionType.TEXT and isinstance(value, str) and value.strip():
            texts.append(" ".join(value.split()))
    return texts


def consented(definition: SurveyDefinition, answers: dict[str, AnswerValue]) -> bool:
    """Whether the buyer said yes to being contacted."""
    return any(
        q.type is QuestionType.YES_NO and q.metric == Metric.CONSENT and answers.get(q.id) is True
        for q in definition.questions
    )


async def on_response_completed(
    services: Services,
    session: Session,
    definition: SurveyDefinition,
    answers: dict[str, AnswerValue],
) -> None:
    """Queue an alert for each owner of the product who turned alerts on, when this
    completed response is a detractor's. Never raises: the buyer's thank-you matters more."""
    try:
        await _enqueue_alerts(services, session, definition, answers)
    except Exception:
        log.exception("detractor alert for session %s failed", session.id)


async def _enqueue_alerts(
    services: Services,
    session: Session,
    definition: SurveyDefinition,
    answers: dict[str, AnswerValue],
) -> None:
    scores = detractor_scores(definition, answers)
    if scores is None or not anonymity.alerts_allowed(session.audience):
        return
    conn = services.db.conn
    subject = await subject_repo.get_subject_by_id(conn, session.subject_id)
    if subject is None or subject.kind is not SubjectKind.PRODUCT:
        return
    contact = session.respondent_id if consented(definition, answers) else None
    now = services.now()
    payload = {
        "subject_id": subject.id,
        "session": session.id,
        "nps": scores[0],
        "csat": scores[1],
        "comments": comments_of(definition, answers),
        "contact_id": contact,
    }
    queued = 0
    async with services.db.transaction() as conn:
        for owner, _ in await owner_repo.list_owners(conn, subject.id):
            settings = await owner_repo.get_owner_settings(
                conn, owner.telegram_id, default_timezone=services.settings.timezone
            )
            if not (settings.detractor_alerts and settings.active):
                continue
            queued += 1
            await outbox_repo.enqueue(
                conn,
                kind=OutboxKind.ALERT,
                dedup_key=alert_key(owner.telegram_id, session.id),
                chat_id=owner.telegram_id,
                payload_json=json.dumps({**payload, "owner": owner.telegram_id}),
                due_at=now,
                now=now,
            )
    if queued:
        # Committed: the sender of this process sends it now instead of at its next poll.
        services.outbox_wakeup.notify()


def _clip(text: str, limit: int = COMMENT_MAX_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


def render_alert(payload: dict[str, object], subject: Subject, lang: str) -> Markup:
    """The alert as Telegram HTML in the owner's language; the buyer's words are escaped."""
    lines = [t(lang, "delivery.alert.title", subject=subject.name(lang))]
    scores = []
    if isinstance(payload.get("nps"), int):
        scores.append(t(lang, "delivery.alert.nps", score=payload["nps"]))
    if isinstance(payload.get("csat"), int):
        scores.append(t(lang, "delivery.alert.csat", score=payload["csat"]))
    if scores:
        lines.append(join(" · ", scores))
    raw_comments = payload.get("comments")
    comments = (
        [c for c in raw_comments if isinstance(c, str)] if isinstance(raw_comments, list) else []
    )
    if comments:
        lines.append(Markup())
        lines.extend(
            markup("<i>{}</i>", t(lang, "delivery.alert.comment", comment=_clip(c)))
            for c in comments
        )
    lines.append(Markup())
    contact = payload.get("contact_id")
    if isinstance(contact, int):
        lines.append(t(lang, "delivery.alert.contact", link=f"tg://user?id={contact}", id=contact))
    else:
        lines.append(t(lang, "delivery.alert.anonymous"))
    lines.append(t(lang, "delivery.alert.footer"))
    return join("\n", lines)
