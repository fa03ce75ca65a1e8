"""The writes made on every update, in a `Database.one_statement()` block: the webhook's
store-and-claim (storage.inbox.accept), an answer's mark-and-save
(storage.sessions.save_answer), an update's finish, and a buyer's /start: the invite's
use (storage.invites.use_invite) and the survey's start (storage.sessions.start_session).
The same outcomes on both backends as the transactions they replace; one statement each
on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from storage import inbox
from storage.connection import Connection, Statement
from storage.db import Database
from storage.errors import ActiveSessionExists, InviteError, SessionNotActive
from storage.invites import check_invite, create_invite, use_invite
from storage.models import Audience, InviteKind, InviteProblem, Subject
from storage.sessions import cancel_session, get_session, save_answer, start_session
from storage.updates import is_processed
from tests.storage.conftest import StartSession

LEASE = timedelta(seconds=30)


class Counting:
    """A connection that counts the statements run through it (and passes them on)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.statements: list[str] = []

    @property
    def dialect(self) -> str:
        return self._conn.dialect

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> Statement:
        self.statements.append(sql)
        return self._conn.execute(sql, parameters)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[object]]) -> None:
        self.statements.append(sql)
        await self._conn.executemany(sql, parameters)

    def read_in_thread(self, fn: Any) -> Any:
        return self._conn.read_in_thread(fn)

    def read_at_once(self, fn: Any) -> Any:
        return self._conn.read_at_once(fn)


@asynccontextmanager
async def counted(db: Database) -> AsyncIterator[Counting]:
    async with db.one_statement() as conn:
        yield Counting(conn)


async def _accept(
    db: Database, update_id: int, user: int | None, now: datetime, worker: str | None = "a"
) -> inbox.Accepted:
    async with db.one_statement() as conn:
        return await inbox.accept(
            conn,
            update_id,
            user,
            f'{{"update_id": {update_id}}}',
            now=now,
            claim_for=worker,
            until=now + LEASE,
        )


async def _rows(db: Database, sql: str) -> list[tuple[object, ...]]:
    async with db.conn.execute(sql) as cursor:
        return [tuple(r) for r in await cursor.fetchall()]


async def test_an_accepted_update_is_stored_once_and_a_redelivery_changes_nothing(
    db: Database, now: datetime
) -> None:
    first = await _accept(db, 1, 7, now)
    again = await _accept(db, 1, 7, now + timedelta(seconds=1), worker="b")
    assert first.stored and first.claimed is not None
    assert (first.claimed.update_id, first.claimed.body, first.claimed.attempts) == (
        1,
        '{"update_id": 1}',
        1,
    )
    assert not again.stored and again.claimed is None
    assert await _rows(db, "SELECT update_id, user_key, claimed_by, attempts FROM inbox") == [
        (1, 7, "a", 1)
    ]


async def test_accept_claims_only_the_head_of_its_users_queue(db: Database, now: datetime) -> None:
    head = await _accept(db, 1, 7, now)
    behind = await _accept(db, 2, 7, now)
    other_user = await _accept(db, 3, 8, now)
    no_user = await _accept(db, 4, None, now)
    unasked = await _accept(db, 5, 9, now, worker=None)  # the worker is full
    assert head.claimed is not None and other_user.claimed is not None
    assert no_user.claimed is not None
    assert behind.stored and behind.claimed is None  # user 7's update 1 is not done
    assert unasked.stored and unasked.claimed is None
    assert await _rows(db, "SELECT update_id, attempts FROM inbox ORDER BY update_id") == [
        (1, 1),
        (2, 0),
        (3, 1),
        (4, 1),
        (5, 0),
    ]
    # 2 waits for 1; 5 was left to the claim rounds.
    async with db.transaction() as conn:
        claimed = await inbox.claim(conn, "b", now=now, until=now + LEASE, limit=10)
    assert [c.update_id for c in claimed] == [5]
    async with db.one_statement() as conn:
        assert await inbox.finish(conn, 1, now=now)
        assert not await inbox.finish(conn, 1, now=now)
    async with db.transaction() as conn:
        claimed = await inbox.claim(conn, "b", now=now, until=now + LEASE, limit=10)
    assert [c.update_id for c in claimed] == [2]


async def test_an_update_accepted_while_a_newer_one_of_its_user_is_applied_waits(
    db: Database, now: datetime
) -> None:
    # The load balancer delivered update 2 first, and it is being applied: 1 must wait.
    assert (await _accept(db, 2, 7, now)).claimed is not None
    late = await _accept(db, 1, 7, now)
    assert late.stored and late.claimed is None


async def test_accept_and_finish_are_one_statement_each_on_postgresql(
    db: Database, now: datetime
) -> None:
    async with counted(db) as conn:
        await inbox.accept(conn, 1, 7, "{}", now=now, claim_for="a", until=now + LEASE)
        accepted = len(conn.statements)
        await inbox.finish(conn, 1, now=now)
    if db.dialect == "postgresql":
        assert (accepted, len(conn.statements)) == (1, 2)
    else:  # lock (nothing on SQLite), store, claim: in one group-committed transaction
        assert (accepted, len(conn.statements)) == (2, 3)


async def test_an_answer_is_saved_once_and_its_redelivery_is_a_duplicate(
    db: Database, department: Subject, start: StartSession, now: datetime
) -> None:
    session = await start(5, department)
    later = now + timedelta(minutes=1)
    async with counted(db) as conn:
        saved = await save_answer(
            conn,
            session.id,
            update_id=1001,
            state_json='{"q": 1}',
            now=later,
            prompt_pending=False,
        )
        statements = len(conn.statements)
    async with db.one_statement() as conn:
        again = await save_answer(
            conn, session.id, update_id=1001, state_json='{"q": "again"}', now=later + LEASE
        )
    assert (saved, again) == (True, False)
    stored = await get_session(db.conn, session.id)
    assert stored is not None
    assert (stored.state_json, stored.updated_at, stored.prompt_pending) == (
        '{"q": 1}',
        later,
        False,
    )
    assert await is_processed(db.conn, 1001)
    assert statements == (1 if db.dialect == "postgresql" else 2)


async def test_an_answer_without_an_update_id_is_saved_each_time(
    db: Database, department: Subject, start: StartSession, now: datetime
) -> None:
    session = await start(5, department)
    for state in ('{"q": 1}', '{"q": 2}'):
        async with db.one_statement() as conn:
            assert await save_answer(conn, session.id, update_id=None, state_json=state, now=now)
    stored = await get_session(db.conn, session.id)
    assert stored is not None and (stored.state_json, stored.prompt_pending) == ('{"q": 2}', True)


@pytest.mark.parametrize("update_id", [1002, None])
async def test_an_answer_to_an_ended_session_is_refused_and_leaves_no_mark(
    db: Database, department: Subject, start: StartSession, now: datetime, update_id: int | None
) -> None:
    session = await start(5, department)
    async with db.transaction() as conn:
        assert await cancel_session(conn, session.id, now=now)
    with pytest.raises(SessionNotActive) as refused:
        async with db.one_statement() as conn:
            await save_answer(conn, session.id, update_id=update_id, state_json="{}", now=now)
    assert (refused.value.session_id, refused.value.status) == (session.id, None)
    # Not recorded as processed: as the rollback of a transaction doing both would.
    assert not await is_processed(db.conn, 1002)


async def test_the_one_trip_migration_is_recorded_on_both_backends(db: Database) -> None:
    assert await _rows(
        db, "SELECT name FROM schema_migrations WHERE name = '0013_one_trip_writes.sql'"
    ) == [("0013_one_trip_writes.sql",)]
    if db.dialect == "postgresql":
        assert await _rows(
            db,
            "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace"
            " ORDER BY proname",
        ) == [("inbox_accept",), ("invite_use",), ("session_answer",), ("session_start",)]


async def _start(db: Database, respondent: int, subject: Subject, now: datetime) -> list[str]:
    """Start an external session in a one_statement block: the statements it ran."""
    async with counted(db) as conn:
        await start_session(
            conn,
            respondent_id=respondent,
            chat_id=respondent,
            survey_id=subject.survey_id,
            survey_version=1,
            subject_id=subject.id,
            audience=Audience.EXTERNAL,
            role=None,
            state_json='{"answers": {}}',
            now=now,
            week_key="2026-W48",
        )
        return conn.statements


async def test_a_session_starts_and_is_counted_in_one_statement_on_postgresql(
    db: Database, product: Subject, now: datetime
) -> None:
    statements = await _start(db, 5, product, now)
    await _start(db, 6, product, now)
    assert len(statements) == (1 if db.dialect == "postgresql" else 2), statements
    assert await _rows(
        db,
        "SELECT respondent_id, chat_id, subject_id, audience, status, role, week_key,"
        " prompt_pending, message_id FROM sessions ORDER BY respondent_id",
    ) == [
        (5, 5, product.id, "external", "active", None, "2026-W48", True, None),
        (6, 6, product.id, "external", "active", None, "2026-W48", True, None),
    ]
    assert await _rows(
        db, "SELECT subject_id, week_key, started, completed FROM session_counts"
    ) == [(product.id, "2026-W48", 2, 0)]
    [(first,)] = await _rows(db, "SELECT id FROM sessions WHERE respondent_id = 5")
    session = await get_session(db.conn, int(str(first)))
    assert session is not None and session.started_at == now == session.updated_at


async def test_a_second_active_session_is_refused_and_not_counted(
    db: Database, product: Subject, now: datetime
) -> None:
    await _start(db, 5, product, now)
    [(first,)] = await _rows(db, "SELECT id FROM sessions")
    with pytest.raises(ActiveSessionExists) as refused:
        await _start(db, 5, product, now + timedelta(minutes=1))
    assert refused.value.session_id == first
    assert await _rows(db, "SELECT count(*) FROM sessions") == [(1,)]
    assert await _rows(db, "SELECT started FROM session_counts") == [(1,)]


async def _buyer_invite(db: Database, product: Subject, now: datetime, max_uses: int) -> str:
    async with db.transaction() as conn:
        _, token = await create_invite(
            conn,
            b"k" * 32,
            kind=InviteKind.BUYER,
            subject_id=product.id,
            role=None,
            max_uses=max_uses,
            expires_at=None,
            created_by=None,
            now=now,
        )
    return token


async def _use(db: Database, token: str, update_id: int, now: datetime) -> tuple[Any, list[str]]:
    """Check the invite and use it for `update_id` in a one_statement block: what
    use_invite returned (or the InviteError it raised), and the statements of the use."""
    invite = await check_invite(db.conn, b"k" * 32, token, now=now)
    try:
        async with counted(db) as conn:
            return await use_invite(conn, invite, update_id=update_id, now=now), conn.statements
    except InviteError as exc:
        return exc, []


async def test_a_buyers_invite_use_is_counted_once_per_update_in_one_statement(
    db: Database, product: Subject, now: datetime
) -> None:
    token = await _buyer_invite(db, product, now, max_uses=2)
    used, statements = await _use(db, token, 501, now)
    assert used.uses == 1 and used.subject_id == product.id
    assert len(statements) == (1 if db.dialect == "postgresql" else 2), statements
    again, _ = await _use(db, token, 501, now)  # the same update again: nothing counted
    assert again is None
    assert await _rows(db, "SELECT uses FROM invites") == [(1,)]
    assert await is_processed(db.conn, 501)


async def test_the_last_use_taken_meanwhile_is_refused_and_leaves_no_mark(
    db: Database, product: Subject, now: datetime
) -> None:
    token = await _buyer_invite(db, product, now, max_uses=1)
    invite = await check_invite(db.conn, b"k" * 32, token, now=now)  # checked: 0 of 1 used
    first, _ = await _use(db, token, 601, now)
    assert first.uses == 1
    # Another /start that passed its check before the first one's use was counted.
    with pytest.raises(InviteError) as refused:
        async with db.one_statement() as conn:
            await use_invite(conn, invite, update_id=602, now=now)
    assert refused.value.problem is InviteProblem.USED_UP
    assert await _rows(db, "SELECT uses FROM invites") == [(1,)]
    # Not recorded as processed: as the rollback of a transaction doing both would.
    assert await is_processed(db.conn, 601) and not await is_processed(db.conn, 602)
