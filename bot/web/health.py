"""GET /healthz for the load balancer: 200 when the database answers and its schema is
current, 503 otherwise."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from storage.db import MEMORY, Database, migration_names

log = logging.getLogger(__name__)

# A check that takes longer than this answers 503: the load balancer should not wait.
CHECK_TIMEOUT = 2.0

# None: healthy; else the reason (one line, shown in the 503's body).
HealthCheck = Callable[[], Awaitable[str | None]]


def database_check(db: Database, *, timeout: float = CHECK_TIMEOUT) -> HealthCheck:
    """Whether the database answers and is migrated; for SQLite also that the file is
    there and writable within a second by a new connection (the webhook must commit each
    update before it answers).

    A new connection each time, not the bot's own: an open connection keeps reading a
    file that was deleted or replaced, and the next instance to start would not."""

    async def check() -> str | None:
        try:
            if db.dialect != "sqlite" or db.path == MEMORY:
                # PostgreSQL: the pool's connection is checked by the server on each use.
                return await asyncio.wait_for(_check_open(db), timeout)
            return await asyncio.wait_for(asyncio.to_thread(_check_file, db.path), timeout)
        except TimeoutError:
            return f"database did not answer within {timeout:g} s"

    return check


async def _check_open(db: Database) -> str | None:
    async with db.conn.execute("SELECT name FROM schema_migrations") as cursor:
        applied = {str(row[0]) for row in await cursor.fetchall()}
    return _behind(applied)


def _check_file(path: str) -> str | None:
    if not Path(path).is_file():
        return "database file is missing"
    try:
        # mode=rw: a missing file is an error, never a new empty database.
        uri = f"file:{path}?mode=rw"
        with closing(sqlite3.connect(uri, uri=True, timeout=1.0, isolation_level=None)) as conn:
            # The write lock, taken and given back (nothing is written): a database another
            # process keeps locked cannot take the webhook's updates.
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute("SELECT name FROM schema_migrations").fetchall()
            finally:
                conn.execute("ROLLBACK")
            applied = {str(row[0]) for row in rows}
    except sqlite3.Error as exc:
        return f"database error: {exc}"
    return _behind(applied)


def _behind(applied: set[str]) -> str | None:
    missing = [name for name in migration_names() if name not in applied]
    return f"migrations not applied: {', '.join(missing)}" if missing else None


def health_routes(check: HealthCheck) -> list[BaseRoute]:
    """GET /healthz answering 200 "ok" or 503 with the reason."""

    async def healthz(request: Request) -> Response:
        try:
            problem = await check()
        except Exception as exc:  # a check that breaks is a failed check
            problem = f"health check failed: {type(exc).__name__}"
        if problem is None:
            return PlainTextResponse("ok\n")
        log.warning("healthz: 503: %s", problem)
        return PlainTextResponse(problem + "\n", status_code=503)

    return [Route("/healthz", healthz, methods=["GET"])]
