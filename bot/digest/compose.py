"""The aggregate queries behind a digest (compose_digest): only what its gates let through."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import aiosqlite

from bot.digest.build import build_digest, clip, nothing_to_report
from bot.digest.data import DigestData, Window
from bot.digest.gates import (
    closed_block,
    completed_by_week,
    decide_comparison,
    decide_gate,
    decide_gates,
    needs_block,
    pools_safely,
    roles_allowed,
)
from bot.digest.model import TREND_PERIODS, Basis, Block, Comparison, Digest, SubjectRef
from bot.digest.scores import headline_question
from storage import aggregates, invites
from storage.models import Subject
from surveys import periods
from surveys.schema import Audience, QuestionType, SurveyDefinition

# What callers and tests import from here (some of it lives in build, data and gates).
__all__ = [
    "DigestData",
    "Window",
    "build_digest",
    "clip",
    "closed_block",
    "completed_by_week",
    "compose_digest",
    "decide_gate",
    "latest_closed_period",
    "pools_safely",
    "subject_ref",
]

# Comments fetched before picking the longest few (the query sorts longest first).
COMMENT_CANDIDATES = 12


def subject_ref(subject: Subject) -> SubjectRef:
    """The digest's view of a stored subject."""
    return SubjectRef(subject.id, subject.slug, dict(subject.names), subject.kind.audience)


def latest_closed_period(now: datetime) -> str:
    """The key of the last week that had ended by `now` (in `now`'s time zone)."""
    return periods.previous(periods.week_key(now.date()))


async def compose_digest(
    conn: aiosqlite.Connection,
    subject: Subject,
    definition: SurveyDefinition,
    period_key: str,
    *,
    anonymity_min: int,
    comments_min: int,
    now: datetime,
    closed_only: bool,
) -> Digest:
    """Query the aggregates for a subject and week, then build its digest.

    `now` (timezone-aware, in the owner's zone) decides whether the period has ended.
    With `closed_only`, a period that has not ended yet is replaced by the latest one
    that has: the on-demand /digest of an internal subject must pass True, so that two
    requests minutes apart cannot be compared to learn one new answer.

    Runs a fixed number of queries (at most 12), one per aggregate and window, never
    one per question or per week."""
    ref = subject_ref(subject)
    in_progress = now.date() <= periods.span(period_key).end
    if closed_only and in_progress:
        period_key, in_progress = latest_closed_period(now), False
    this_week = (period_key,)
    previous_week = (periods.previous(period_key),)
    data = DigestData(
        Window(this_week, await aggregates.period_counts(conn, subject.id, this_week)),
        Window(previous_week, await aggregates.period_counts(conn, subject.id, previous_week)),
        open_invites=await invites.count_open_invites(conn, subject.id, now=now),
    )
    if not nothing_to_report(data.period.counts):
        block = closed_block(period_key, in_progress=in_progress)
        data = await _query_details(
            conn, ref, definition, period_key, block, data, anonymity_min, comments_min
        )
    return build_digest(
        ref,
        definition,
        period_key,
        data,
        anonymity_min=anonymity_min,
        comments_min=comments_min,
        in_progress=in_progress,
    )


async def _with_distributions(
    conn: aiosqlite.Connection, subject_id: int, window: Window
) -> Window:
    return replace(
        window, distributions=await aggregates.distributions(conn, subject_id, window.weeks)
    )


async def _query_details(
    conn: aiosqlite.Connection,
    subject: SubjectRef,
    definition: SurveyDefinition,
    period_key: str,
    block: Block,
    data: DigestData,
    anonymity_min: int,
    comments_min: int,
) -> DigestData:
    """The rest of the data for a period with responses: only what the gates let through.

    The trend comes first: it also counts each week's completed responses, which decide
    whether the block may be shown. Its TREND_PERIODS weeks end with the period and so
    always include the block and the block before (at most 11 weeks back)."""
    audience, sid = subject.audience, subject.id
    headline = headline_question(definition, audience)
    if headline is not None:
        trend_weeks = periods.last_n(period_key, TREND_PERIODS)
        data = replace(data, trend=await aggregates.trend(conn, sid, trend_weeks, headline.id))
    by_week = completed_by_week(definition, audience, data.trend)

    completed = data.period.counts.completed
    if needs_block(audience, completed, anonymity_min, comments_min):
        block_counts = await aggregates.period_counts(conn, sid, block.weeks)
        data = replace(data, block=Window(block.weeks, block_counts))
    scores_gate, comments_gate = decide_gates(
        audience, definition, data, anonymity_min, comments_min
    )

    basis_weeks: tuple[str, ...] = ()
    if scores_gate.basis is Basis.PERIOD:
        basis_weeks = data.period.weeks
        data = replace(data, period=await _with_distributions(conn, sid, data.period))
        comparison = decide_comparison(audience, data.previous, anonymity_min, scores_gate, by_week)
        if comparison is Comparison.SHOWN:
            data = replace(data, previous=await _with_distributions(conn, sid, data.previous))
    elif scores_gate.basis is Basis.BLOCK and data.block is not None:
        basis_weeks = block.weeks
        before_weeks = block.previous().weeks
        before = Window(before_weeks, await aggregates.period_counts(conn, sid, before_weeks))
        if (
            decide_comparison(audience, before, anonymity_min, scores_gate, by_week)
            is Comparison.SHOWN
        ):
            before = await _with_distributions(conn, sid, before)
        pooled = await _with_distributions(conn, sid, data.block)
        data = replace(data, block=pooled, block_previous=before)

    text_questions = [q.id for q in definition.questions if q.type is QuestionType.TEXT]
    if comments_gate.shown and text_questions:
        weeks = data.period.weeks if comments_gate.basis is Basis.PERIOD else block.weeks
        comments = await aggregates.comments(
            conn, sid, weeks, question_ids=text_questions, limit=COMMENT_CANDIDATES
        )
        data = replace(data, comments=comments)

    if audience is Audience.INTERNAL:
        data = replace(data, invited=await aggregates.invited_members(conn, sid, data.period.weeks))
        if basis_weeks and roles_allowed(scores_gate, data.block, by_week, anonymity_min):
            role_counts = await aggregates.role_counts(conn, sid, basis_weeks)
            data = replace(data, role_counts=role_counts)
            if len(role_counts) >= 2:
                by_role = await aggregates.distributions_by_role(conn, sid, basis_weeks)
                data = replace(data, role_distributions=by_role)
    return data
