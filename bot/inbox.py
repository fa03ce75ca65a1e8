"""Webhook mode's inbox: the receiver that stores each posted update before the webhook
answers, and the worker that applies stored updates through the bot's handlers."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.context import feedbot_application
from bot.delivery.sender import process_owner
from storage import inbox as inbox_repo
from storage.connection import DatabaseUnavailable
from storage.db import Database

log = logging.getLogger(__name__)

# A claim taken this often without the update ever finishing is given up on (logged,
# marked done): one poison update must not block its user's queue for ever.
MAX_ATTEMPTS = 5
# How many updates one worker applies at once (across users; one per user at a time).
CAPACITY = 256
# How often an idle worker looks for updates another instance stored (its own webhook
# wakes it at once).
IDLE_POLL = 1.0


class InboxReceiver:
    """Stores what the webhook receives; `accept` returns once the update is committed."""

    def __init__(self, db: Database, clock: Callable[[], datetime], worker: InboxWorker) -> None:
        self._db = db
        self._clock = clock
        self._worker = worker

    async def accept(self, update_id: int, user_key: int | None, body: str) -> bool:
        """Store one update (True), or nothing for a redelivery (False).

        An update its user has nothing older pending for is claimed in the same
        write (storage.inbox.accept: one statement on PostgreSQL) and handed to this
        instance's worker at once: most updates then cost no claim round of their own.
        Anything else wakes the worker."""
        worker = self._worker
        now = self._clock()
        async with self._db.one_statement() as conn:
            accepted = await inbox_repo.accept(
                conn,
                update_id,
                user_key,
                body,
                now=now,
                claim_for=worker.worker_id if worker.has_room else None,
                until=now + worker.lease,
            )
        if accepted.claimed is not None:
            worker.take(accepted.claimed)
        else:
            worker.wake()
        return accepted.stored


class InboxWorker:
    """Claims pending updates with a lease and applies them through the Application.

    Claims come from the inbox in update-id order, only the head of each user's queue
    (see storage.inbox.claim), so a user's updates run one at a time and in order on
    every instance together; inside this process PTB's update processor
    (PerUserUpdateProcessor) bounds the concurrency as in polling mode. An update is
    marked done when its handlers returned; its effects were committed exactly once by
    the handlers themselves, which record the update id in `processed_updates` in the
    transaction of the effect. A worker that dies leaves its claims to lapse after
    `lease` seconds; the update is then applied by another worker (or this one after a
    restart), and an effect already committed is recognised as a redelivery."""

    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        db: Database,
        *,
        lease: float,
        clock: Callable[[], datetime],
        capacity: int = CAPACITY,
        idle_poll: float = IDLE_POLL,
        worker_id: str | None = None,
    ) -> None:
        self._app = app
        self._db = db
        self.lease = timedelta(seconds=lease)
        self._clock = clock
        self._capacity = capacity
        self._idle_poll = idle_poll
        self.worker_id = worker_id or process_owner()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.applied = 0

    def wake(self) -> None:
        """Look for pending updates now (one was just stored, or one finished)."""
        self._wakeup.set()

    @property
    def in_flight(self) -> int:
        """Updates being applied right now."""
        return len(self._in_flight)

    @property
    def has_room(self) -> bool:
        """Whether an update claimed now would be applied at once (running, not full)."""
        return bool(self._tasks) and not self._stopping and len(self._in_flight) < self._capacity

    def take(self, item: inbox_repo.Claimed) -> None:
        """Apply an update claimed for this worker elsewhere (by the receiver)."""
        task = asyncio.create_task(self._apply(item), name=f"update-{item.update_id}")
        self._in_flight[item.update_id] = task

    def start(self) -> None:
        """Start claiming and applying updates, and renewing the claims held."""
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="inbox-claims"),
            asyncio.create_task(self._renew_loop(), name="inbox-leases"),
        ]

    async def stop(self) -> None:
        """Claim nothing more, let the updates being applied finish, then return."""
        self._stopping = True
        self._wakeup.set()
        if self._tasks:
            await self._tasks[0]
        while self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            room = self._capacity - len(self._in_flight)
            claimed: list[inbox_repo.Claimed] = []
            if room > 0:
                try:
                    claimed = await self._claim(room)
                except (sqlite3.Error, DatabaseUnavailable) as exc:
                    log.warning("inbox: claiming updates failed, retrying: %s", exc)
                except Exception:  # the loop must outlive any surprise, or nothing is applied
                    log.exception("inbox: claiming updates failed, retrying")
            for item in claimed:
                self.take(item)
            if claimed and len(claimed) == room:
                continue  # there may be more right away
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._idle_poll)
            except TimeoutError:
                pass

    async def _claim(self, limit: int) -> list[inbox_repo.Claimed]:
        now = self._clock()
        if not await inbox_repo.claimable(self._db.conn, now=now):
            return []
        async with self._db.transaction() as conn:
            return await inbox_repo.claim(
                conn, self.worker_id, now=now, until=now + self.lease, limit=limit
            )

    async def _apply(self, item: inbox_repo.Claimed) -> None:
        try:
            if item.attempts > MAX_ATTEMPTS:
                log.error(
                    "inbox: update %s was claimed %d times without finishing; given up",
                    item.update_id,
                    item.attempts - 1,
                )
            else:
                await self._process(item)
            async with self._db.one_statement() as conn:
                await inbox_repo.finish(conn, item.update_id, now=self._clock())
            self.applied += 1
        except Exception:
            # Left claimed: the lease lapses and the update is tried again.
            log.exception("inbox: applying update %s failed; retried later", item.update_id)
        finally:
            self._in_flight.pop(item.update_id, None)
            self._wakeup.set()  # the user's next update may be claimed now

    async def _process(self, item: inbox_repo.Claimed) -> None:
        try:
            update = Update.de_json(json.loads(item.body), self._app.bot)
        except (ValueError, TypeError, KeyError) as exc:
            # The webhook checked it before storing; a row that still fails is dropped.
            log.error("inbox: update %s cannot be read (%s); dropped", item.update_id, exc)
            return
        if item.attempts > 1:
            # Taken again after a claim lapsed: the instance that held it (maybe another
            # one, after this one's start-up) may have applied it. Have the handlers look
            # it up in processed_updates, whatever the horizon this process started with.
            services = feedbot_application(self._app).services
            services.redelivery_horizon = max(services.redelivery_horizon or 0, item.update_id)
        processor = self._app.update_processor
        await processor.process_update(update, self._app.process_update(update))

    async def _renew_loop(self) -> None:
        """Keep the claims of updates still being applied (a slow Bot API, retries)."""
        period = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            held = list(self._in_flight)
            if not held:
                continue
            try:
                async with self._db.transaction() as conn:
                    await inbox_repo.renew(
                        conn, self.worker_id, held, until=self._clock() + self.lease
                    )
            except (sqlite3.Error, DatabaseUnavailable) as exc:
                log.warning("inbox: renewing claims failed: %s", exc)
