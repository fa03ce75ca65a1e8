"""The aggregate queries behind a digest (compose_digest): only what its gates let through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from functools import lru_cache, partial

from bot.digest.build import build_digest, nothing_to_report
from bot.digest.data import DigestData, Window
from bot.digest.model import TREND_PERIODS, Block, Digest, SubjectRef, closed_block, trend_weeks
from bot.digest.scores import headline_question
from storage import aggregates, disclosures, invites
from storage.connection import SyncConnection
from storage.db import Database, read_at_once, read_in_thread
from storage.models import Comment, Subject
from surveys import anonymity, periods
from surveys.anonymity import Disclosure, WeekCounts
from surveys.schema import Audience, QuestionType, SurveyDefinition

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


async def disclose_digest(
    db: Database,
    subject_id: int,
    period_key: str,
    *,
    in_progress: bool,
    today: date,
    now: datetime,
    anonymity_min: int,
    comments_min: int,
) -> tuple[Disclosure, WeekCounts]:
    """What a digest of an internal subject for `period_key` may show (see
    `anonymity.digest_disclosure`): its week, the block it falls back on and its trend
    weeks are settled first."""
    fallback = closed_block(period_key, in_progress=in_progress)
    trend = trend_weeks(period_key)
    settled, counts = await disclosures.settle_weeks(
        db,
        subject_id,
        [*trend, *fallback.weeks],
        last_closed=anonymity.last_closed_week(today),
        anonymity_min=anonymity_min,
        comments_min=comments_min,
        now=now,
    )
    disclosure = anonymity.digest_disclosure(
        period_key, fallback.weeks[0], settled.units, settled.pending, counts, trend
    )
    return disclosure, counts


async def compose_digest(
    db: Database,
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

    `now` (timezone-aware, in the zone periods are filed by) decides whether the period
    has ended. With `closed_only`, a period that has not ended yet is replaced by the
    latest one that has; an internal subject is always treated so (only closed weeks
    are ever shown of it), and what its digest shows is decided by its disclosure units
    (`disclose_digest`), recorded the first time a path needs them.

    Runs a fixed number of queries, one per aggregate and window, never one per
    question or per week. The counts of the period and the one before come
    first, at once (`storage.db.read_at_once`); the rest, when there is anything to
    report, in one go: at once too when those periods hold few responses
    (INLINE_RESPONSES), else in one trip to the reader's thread
    (`storage.db.read_in_thread`), the open invites being counted meanwhile."""
    ref = subject_ref(subject)
    conn = db.conn
    internal = ref.audience is Audience.INTERNAL
    in_progress = now.date() <= periods.span(period_key).end
    if (closed_only or internal) and in_progress:
        period_key, in_progress = latest_closed_period(now), False
    weeks = _weeks(period_key, in_progress)
    disclosure: Disclosure | None = None
    if internal:
        disclosure, _ = await disclose_digest(
            db,
            ref.id,
            period_key,
            in_progress=in_progress,
            today=now.date(),
            now=now,
            anonymity_min=anonymity_min,
            comments_min=comments_min,
        )
    period, previous = await read_at_once(conn, partial(_windows, subject_id=ref.id, weeks=weeks))
    if nothing_to_report(period.counts):
        # The chart is drawn whenever a week of the trend has answers, this one or not.
        trend = await read_at_once(
            conn,
            partial(
                _query_trend, subject=ref, definition=definition, weeks=weeks, disclosure=disclosure
            ),
        )
        open_invites = await invites.count_open_invites(conn, subject.id, now=now)
        data = DigestData(
            period, previous, trend=trend, open_invites=open_invites, disclosure=disclosure
        )
    else:
        details = partial(
            _query_details,
            subject=ref,
            definition=definition,
            weeks=weeks,
            period=period,
            previous=previous,
            disclosure=disclosure,
            # Members registered by the end of the period (midnight after it, in the zone
            # periods are filed by) are the population of its response rate.
            registered_before=datetime.combine(
                periods.span(period_key).next_start, time(0), tzinfo=now.tzinfo
            ),
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


@lru_cache(maxsize=64)
def _weeks(period_key: str, in_progress: bool) -> _Weeks:
    block = closed_block(period_key, in_progress=in_progress)
    return _Weeks(
        (period_key,),
        (periods.previous(period_key),),
        tuple(periods.last_n(period_key, TREND_PERIODS)),
        block,
    )


def _windows(
    connection: SyncConnection, *, subject_id: int, weeks: _Weeks
) -> tuple[Window, Window]:
    """The counts of the period and of the one before."""
    reads = aggregates.Reads(connection)
    return (
        Window(weeks.period, reads.period_counts(subject_id, weeks.period)),
        Window(weeks.previous, reads.period_counts(subject_id, weeks.previous)),
    )


def _query_details(
    connection: SyncConnection,
    *,
    subject: SubjectRef,
    definition: SurveyDefinition,
    weeks: _Weeks,
    period: Window,
    previous: Window,
    disclosure: Disclosure | None,
    registered_before: datetime,
) -> DigestData:
    """The rest of the aggregates of a period with responses (but its open invites): only
    what the disclosure lets through (everything, for an external subject: it has none).
    Synchronous, for `read_at_once` or `read_in_thread`."""
    reads = aggregates.Reads(connection)
    sid = subject.id
    text_questions = [q.id for q in definition.questions if q.type is QuestionType.TEXT]
    trend = _query_trend(
        connection, subject=subject, definition=definition, weeks=weeks, disclosure=disclosure
    )

    if disclosure is None:  # external: the period itself, compared with the week before
        period = _with_distributions(reads, sid, period)
        if previous.counts.completed:
            previous = _with_distributions(reads, sid, previous)
        comments: Sequence[Comment] = ()
        if text_questions:
            comments = reads.comments(
                sid, period.weeks, question_ids=text_questions, limit=COMMENT_CANDIDATES
            )
        return DigestData(period, previous, comments=comments, trend=trend)

    unit = disclosure.scores
    block: Window | None = None
    block_previous: Window | None = None
    comments = ()
    role_counts: dict[str, int] = {}
    by_role: dict[str, dict[str, aggregates.Distribution]] = {}
    if unit is not None:
        shown = _with_distributions(reads, sid, _window(reads, sid, unit.weeks, period))
        before = disclosure.previous
        compared: Window | None = None
        if before is not None:
            compared = _with_distributions(reads, sid, _window(reads, sid, before.weeks, previous))
        if unit.pooled:
            block = shown
            earlier = Block.containing(unit.weeks[0]).previous().weeks
            block_previous = compared or Window(earlier, reads.period_counts(sid, earlier))
        else:
            period = shown
            previous = compared or previous
        if unit.comments_shown and text_questions:
            comments = reads.comments(
                sid, unit.weeks, question_ids=text_questions, limit=COMMENT_CANDIDATES
            )
        if unit.roles_shown:
            role_counts = reads.role_counts(sid, unit.weeks)
            if len(role_counts) >= 2:
                by_role = reads.distributions_by_role(sid, unit.weeks)
    return DigestData(
        period,
        previous,
        block=block,
        block_previous=block_previous,
        comments=comments,
        role_counts=role_counts,
        role_distributions=by_role,
        trend=trend,
        evaluators=reads.evaluators(sid, registered_before=registered_before),
        disclosure=disclosure,
    )


def _query_trend(
    connection: SyncConnection,
    *,
    subject: SubjectRef,
    definition: SurveyDefinition,
    weeks: _Weeks,
    disclosure: Disclosure | None,
) -> dict[str, dict[float, int]]:
    """The headline's answers per week of the trend: external, the TREND_PERIODS weeks;
    internal, every week of the units its disclosure shows (a pooled unit is one point,
    of all its weeks). Synchronous, for `read_at_once` or `read_in_thread`."""
    headline = headline_question(definition, subject.audience)
    if headline is None:
        return {}
    reads = aggregates.Reads(connection)
    if disclosure is None:
        return reads.trend(subject.id, weeks.trend, headline.id)
    shown = sorted({w for unit in disclosure.trend for w in unit.weeks})
    return reads.trend(subject.id, shown, headline.id) if shown else {}


def _window(
    reads: aggregates.Reads, subject_id: int, weeks: tuple[str, ...], known: Window
) -> Window:
    """The counts of some weeks (those of `known`, already counted, are not asked again)."""
    if weeks == known.weeks:
        return known
    return Window(weeks, reads.period_counts(subject_id, weeks))


def _with_distributions(reads: aggregates.Reads, subject_id: int, window: Window) -> Window:
    return Window(window.weeks, window.counts, reads.distributions(subject_id, window.weeks))
