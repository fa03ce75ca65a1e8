"""Waking the outbox sender when something urgent is queued, instead of at its next poll."""

from __future__ import annotations

import asyncio


class OutboxWakeup:
    """A signal from whoever queues an urgent outbox item (a detractor alert) to the
    sender loop of the same process (`scheduler.DeliveryLoop`), which waits on it between
    polls with its poll interval as the time-out.

    Set it only after the item's transaction has committed: the sender that wakes reads
    the outbox from the database. A sender in another process sharing the database is
    not woken; it finds the item at its next poll."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        # Bound to no loop until awaited (Python >= 3.10), so it can be made anywhere.
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake the sender (or make its next wait return at once, if it is busy)."""
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """Until notified or `seconds` have passed; True when notified. A
        notification is consumed by the wait that sees it, so one given while the sender
        was busy is not lost: the next wait returns at once."""
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except TimeoutError:
            return False
        self._event.clear()
        return True
