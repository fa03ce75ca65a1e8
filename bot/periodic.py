"""Recurring jobs run once per period across all instances sharing the database."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from bot.context import FeedbotContext
from bot.delivery.sender import process_owner
from bot.services import Services
from storage import schedule as schedule_repo

log = logging.getLogger(__name__)

JobCallback = Callable[[FeedbotContext], Coroutine[Any, Any, None]]


def period_of(now: datetime, seconds: int) -> str:
    """The period of a job run every `seconds` that `now` falls in: its start (UTC, to the
    second) and length, e.g. "2026-11-30T13:40:00Z/600s". Counted from the epoch, so every
    instance names the same period the same way, whenever it started."""
    start = int(now.timestamp()) // seconds * seconds
    moment = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{moment}/{seconds}s"


async def claim_period(services: Services, job: str, seconds: int) -> bool:
    """Whether this instance runs `job` for the current period: the first instance to
    claim it does (a row in schedule_runs), every other one skips it."""
    now = services.now()
    async with services.db.transaction() as conn:
        return await schedule_repo.claim_run(
            conn, job, period_of(now, seconds), owner=process_owner(), now=now
        )


def once_per_period(job: str, seconds: int, callback: JobCallback) -> JobCallback:
    """`callback` (a job-queue callback run every `seconds`), run only by the instance
    that claims the period; the others log that it ran elsewhere."""

    async def run(context: FeedbotContext) -> None:
        if await claim_period(context.services, job, seconds):
            await callback(context)
        else:
            log.debug("job %s: this period's run is another instance's", job)

    run.__name__ = run.__qualname__ = getattr(callback, "__name__", job)
    return run
