"""An update processor that runs users concurrently but each user's updates in order."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)

# Handlers running at once, across all users. A handler holds its slot while it waits:
# for each Bot API call (tens of milliseconds) and for the group commit of its answer. At
# 256, under a burst, every slot was at times waiting at once and the event loop stood
# idle while hundreds of updates queued for a slot (bench/burst: idle 9% of the run, none
# with 512; CPU per answer the same within noise).
MAX_CONCURRENT_UPDATES = 512
# Updates of one user waiting for their turn (or running) before the next ones are
# ignored. A person answering a survey has one or two; after a restart, those sent while
# the bot was down. Only a client sending hundreds a second fills it.
MAX_QUEUED_PER_USER = 32
# What PTB's own semaphore is given: more updates than a bot ever has in memory.
_UNLIMITED = 2**31 - 1


def update_key(update: object) -> int | None:
    """The key updates are serialized on: the user, else the chat; None for neither."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


@dataclass
class _Turns:
    """One user's updates in flight: the lock they take turns on, how many hold or wait
    for it, and how many were ignored since the queue last filled up."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    queued: int = 0
    ignored: int = 0


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across users, strictly ordered per user, fair to everyone.

    A user double-tapping a button sends two callback queries; handled concurrently
    they would both read the same session and both store an answer. Each user gets
    a lock that lives only while they have updates in flight, so memory stays
    proportional to the users active right now. asyncio locks wake waiters in FIFO
    order, and tasks reach the lock in the order PTB created them, so one user's
    updates run in the order Telegram delivered them.

    An update takes one of the `max_concurrent_updates` slots only once it is its
    user's turn. (PTB's `process_update` takes its semaphore before calling
    `do_process_update`: with the limit there, one user sending a thousand updates at
    once holds every slot with updates waiting for their own lock, and everyone else's
    updates queue behind the whole flood; so PTB's semaphore gets no real limit.) And one user
    cannot queue more than `max_queued_per_user` updates: the excess is ignored, with
    one WARNING per flood, instead of sending the flooder hundreds of replies that
    would use up the bot's sending rate shared by all users.
    """

    def __init__(
        self,
        max_concurrent_updates: int = MAX_CONCURRENT_UPDATES,
        *,
        max_queued_per_user: int = MAX_QUEUED_PER_USER,
    ) -> None:
        # PTB's semaphore (taken before do_process_update) gets a limit no flood reaches;
        # the real limit is `_slots`, taken in the user's turn.
        super().__init__(_UNLIMITED)
        self._max_queued = max_queued_per_user
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._users: dict[int, _Turns] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Await the handler coroutine while holding this user's lock and a slot."""
        key = update_key(update)
        if key is None:
            async with self._slots:
                await coroutine
            return
        turns = self._users.get(key)
        if turns is None:
            turns = self._users[key] = _Turns()
        if turns.queued >= self._max_queued:
            self._ignore(turns, coroutine)
            return
        turns.queued += 1
        try:
            async with turns.lock, self._slots:
                await coroutine
        finally:
            turns.queued -= 1
            if turns.queued == 0:
                del self._users[key]
                if turns.ignored:
                    # No user id: an internal respondent's id stays out of the log.
                    log.info("a flood is over: %d updates of one user ignored", turns.ignored)

    def _ignore(self, turns: _Turns, coroutine: Awaitable[Any]) -> None:
        if inspect.iscoroutine(coroutine):
            coroutine.close()  # never started: no "never awaited" warning
        if turns.ignored == 0:
            log.warning(
                "one user has %d updates waiting; ignoring their next ones until the bot "
                "catches up",
                turns.queued,
            )
        turns.ignored += 1

    @property
    def users_in_flight(self) -> int:
        """How many users have updates being processed or waiting."""
        return len(self._users)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
