"""The aggregate queries behind a digest (compose_digest): only what its gates let through."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache, partial

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
from storage.db import read_at_once, read_in_thread
from storage.models import Comment, Subject
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
# A digest whose period and the period before hold at most this many responses (its
# trend reads some six times as many) queries them at once on the event loop's thread,
# well within the inline read budget (about half a millisecond, bench.digest shows);
# a bigger one in one trip to the reader's thread, since tried at once it would only be
# interrupted and redone there. Either way the same queries and the same results.
INLINE_RESPONSES = 20


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
    one per question or per week. The counts of the period and the one before come
    first, at once (`storage.db.read_at_once`); the rest, when there is anything to
    report, in one go: at once too when those periods hold few responses
    (INLINE_RESPONSES), else in one trip to the reader's thread
    (`storage.db.read_in_thread`), the open invites being counted meanwhile."""
    ref = subject_ref(subject)
    in_progress = now.date() <= periods.span(period_key).end
    if closed_only and in_progress:
        period_key, in_progress = latest_closed_period(now), False
    weeks = _weeks(period_key, in_progress)
    period, previous = await read_at_once(conn, partial(_windows, subject_id=ref.id, weeks=weeks))
    if nothing_to_report(period.counts):
        open_invites = await invites.count_open_invites(conn, subject.id, now=now)
        data = DigestData(period, previous, open_invites=open_invites)
    else:
        details = partial(
            _query_details,
            subject=ref,
            definition=definition,
            weeks=weeks,
            period=period,
            previous=previous,
            anonymity_min=anonymity_min,
            comments_min=comments_min,
        )
        small = _responses(period) + _responses(previous) <= INLINE_RESPONSES
        job = read_at_once(conn, details) if small else read_in_thread(conn, details)
        try:
            open_invites = await invites.count_open_invites(conn, subject.id, now=now)
        finally:
            data = await job
        data = replace(data, open_invites=open_invites)
    return build_digest(
        ref,
        definition,
        period_key,
        data,
        anonymity_min=anonymity_min,
        comments_min=comments_min,
        in_progress=in_progress,
    )


def _responses(window: Window) -> int:
    return window.counts.completed + window.counts.partial


@dataclass(frozen=True, slots=True)
class _Weeks:
    """The weeks a digest of one period queries (computed once per period, not per subject)."""

    period: tuple[str, ...]
    previous: tuple[str, ...]
    trend: tuple[str, ...]  # the TREND_PERIODS weeks ending with the period
    block: Block  # the last closed block (`closed_block`)
    block_previous: Block


@lru_cache(maxsize=64)
def _weeks(period_key: str, in_progress: bool) -> _Weeks:
    block = closed_block(period_key, in_progress=in_progress)
    return _Weeks(
        (period_key,),
        (periods.previous(period_key),),
        tuple(periods.last_n(period_key, TREND_PERIODS)),
        block,
        block.previous(),
    )


def _windows(
    connection: sqlite3.Connection, *, subject_id: int, weeks: _Weeks
) -> tuple[Window, Window]:
    """The counts of the period and of the one before."""
    reads = aggregates.Reads(connection)
    return (
        Window(weeks.period, reads.period_counts(subject_id, weeks.period)),
        Window(weeks.previous, reads.period_counts(subject_id, weeks.previous)),
    )


def _query_details(
    connection: sqlite3.Connection,
    *,
    subject: SubjectRef,
    definition: SurveyDefinition,
    weeks: _Weeks,
    period: Window,
    previous: Window,
    anonymity_min: int,
    comments_min: int,
) -> DigestData:
    """The rest of the aggregates of a period with responses (but its open invites): only
    what the gates let through. Synchronous, for `read_at_once` or `read_in_thread`.

    The trend comes first: it also counts each week's completed responses, which decide
    whether the block may be shown. Its TREND_PERIODS weeks end with the period and so
    always include the block and the block before (at most 11 weeks back)."""
    reads = aggregates.Reads(connection)
    audience, sid = subject.audience, subject.id
    headline = headline_question(definition, audience)
    trend = reads.trend(sid, weeks.trend, headline.id) if headline is not None else {}
    by_week = completed_by_week(definition, audience, trend)

    block: Window | None = None
    if needs_block(audience, period.counts.completed, anonymity_min, comments_min):
        block = Window(weeks.block.weeks, reads.period_counts(sid, weeks.block.weeks))
    scores_gate, comments_gate = decide_gates(
        audience,
        definition,
        DigestData(period, previous, block=block, trend=trend),
        anonymity_min,
        comments_min,
    )

    block_previous: Window | None = None
    basis_weeks: tuple[str, ...] = ()
    if scores_gate.basis is Basis.PERIOD:
        basis_weeks = period.weeks
        period = _with_distributions(reads, sid, period)
        comparison = decide_comparison(audience, previous, anonymity_min, scores_gate, by_week)
        if comparison is Comparison.SHOWN:
            previous = _with_distributions(reads, sid, previous)
    elif scores_gate.basis is Basis.BLOCK and block is not None:
        basis_weeks = block.weeks
        before_weeks = weeks.block_previous.weeks
        block_previous = Window(before_weeks, reads.period_counts(sid, before_weeks))
        if (
            decide_comparison(audience, block_previous, anonymity_min, scores_gate, by_week)
            is Comparison.SHOWN
        ):
            block_previous = _with_distributions(reads, sid, block_previous)
        block = _with_distributions(reads, sid, block)

    comments: Sequence[Comment] = ()
    text_questions = [q.id for q in definition.questions if q.type is QuestionType.TEXT]
    if comments_gate.shown and text_questions:
        comment_weeks = period.weeks if comments_gate.basis is Basis.PERIOD else weeks.block.weeks
        comments = reads.comments(
            sid, comment_weeks, question_ids=text_questions, limit=COMMENT_CANDIDATES
        )

    invited: int | None = None
    role_counts: dict[str, int] = {}
    by_role: dict[str, dict[str, aggregates.Distribution]] = {}
    if audience is Audience.INTERNAL:
        invited = reads.invited_members(sid, period.weeks)
        if basis_weeks and roles_allowed(scores_gate, block, by_week, anonymity_min):
            role_counts = reads.role_counts(sid, basis_weeks)
            if len(role_counts) >= 2:
                by_role = reads.distributions_by_role(sid, basis_weeks)
    return DigestData(
        period,
        previous,
        block=block,
        block_previous=block_previous,
        comments=comments,
        role_counts=role_counts,
        role_distributions=by_role,
        trend=trend,
        invited=invited,
    )


def _with_distributions(reads: aggregates.Reads, subject_id: int, window: Window) -> Window:
    return Window(window.weeks, window.counts, reads.distributions(subject_id, window.weeks))
