"""Which sessions' current questions reached their respondents (the "prompt pending" flag),
and which thank-yous were sent (storage.thanks)."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from storage import sessions as session_repo
from storage import thanks as thanks_repo
from storage.db import Database
from storage.models import Session

log = logging.getLogger(__name__)

# Sessions remembered in memory; beyond that the database flag answers (one more resend
# at worst, never a lost question).
MEMORY = 50_000


class PromptLedger:
    """Knows whether a session's current question is on the respondent's screen.

    The database flag `sessions.prompt_pending` is set in the transaction of every answer
    and cleared once the next question was sent. Clearing it is an extra write per
    answer (with the id of the message carrying the question, which a restart needs to
    remove an old keyboard), so it is not awaited on the reply path: `shown` queues it
    and one task writes the queued ones in one block (a transaction joining the group
    commit on SQLite; a statement each, autocommitted, on PostgreSQL). Until that commit
    the flag lags behind; memory covers the gap."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Session id -> hash of the state whose question was sent (a hash, not the state:
        # states hold typed answers, and this keeps tens of thousands of sessions).
        self._shown: OrderedDict[int, int] = OrderedDict()
        self._queued: dict[int, tuple[int, str]] = {}
        self._thanked: set[int] = set()
        # Update ids whose thank-you this process sent, while the write forgetting them
        # is queued (and a while after).
        self._thanked_recently: OrderedDict[int, None] = OrderedDict()
        self._writer: asyncio.Task[None] | None = None

    def shown(self, session: Session, message_id: int) -> None:
        """The current question of `session` (in its state) was sent as `message_id`:
        clear the flag and keep the message id (to remove its keyboard after a restart)."""
        self._remember(session.id, session.state_json)
        self._queued[session.id] = (message_id, session.state_json)
        self._start_writer()

    def thanked(self, update_id: int) -> None:
        """The thank-you owed for `update_id` was sent (or given up on): forget it."""
        self._thanked.add(update_id)
        self._thanked_recently[update_id] = None
        while len(self._thanked_recently) > MEMORY:
            self._thanked_recently.popitem(last=False)
        self._start_writer()

    def was_thanked(self, update_id: int) -> bool:
        """Whether this process sent the thank-you `update_id` owed (the database may not
        know yet: its row is removed by the queued write)."""
        return update_id in self._thanked_recently

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._write_queued(), name="prompt-ledger"
            )

    def remember_stored(self, session: Session) -> None:
        """`session`'s flag was cleared (and its message noted) by the caller's own
        transaction."""
        self._remember(session.id, session.state_json)
        self._queued.pop(session.id, None)

    def on_screen(self, session: Session) -> None:
        """`session`'s question is on screen and its flag was stored clear with its state
        (a toggle pressed on the question)."""
        self._remember(session.id, session.state_json)

    def pending(self, session: Session) -> bool:
        """Whether `session`'s current question may be missing on the respondent's screen."""
        if self._shown.get(session.id) == hash(session.state_json):
            return False
        return session.prompt_pending

    async def flush(self) -> None:
        """Wait until every queued clearing is committed (shutdown, tests)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    def _remember(self, session_id: int, state_json: str) -> None:
        self._shown[session_id] = hash(state_json)
        self._shown.move_to_end(session_id)
        while len(self._shown) > MEMORY:
            self._shown.popitem(last=False)

    async def _write_queued(self) -> None:
        # One turn of the loop lets the other replies in flight queue theirs.
        await asyncio.sleep(0)
        while self._queued or self._thanked:
            queued, self._queued = self._queued, {}
            thanked, self._thanked = sorted(self._thanked), set()
            batch = [(message, state, session) for session, (message, state) in queued.items()]
            try:
                # Two independent writes of one statement each: no transaction around
                # them (on PostgreSQL that would be two more round trips per batch).
                async with self._db.one_statement() as conn:
                    if batch:
                        await session_repo.mark_prompted(conn, batch)
                    await thanks_repo.sent(conn, thanked)
            except Exception:
                # The flags stay set: at worst a question (or a thank-you) is sent once
                # more, if its update is delivered again.
                log.warning(
                    "could not clear %d prompt flags and %d owed thank-yous",
                    len(batch),
                    len(thanked),
                    exc_info=True,
                )
