"""GET /healthz for the load balancer: 200 when the database answers and its schema is
current, 503 otherwise."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from storage.connection import DatabaseUnavailable
from storage.db import MEMORY, Database
from storage.health import (
    applied_migrations,
    migrations_behind,
    postgres_problem,
    sqlite_file_problem,
)

log = logging.getLogger(__name__)

# A check that takes longer than this answers 503: the load balancer should not wait.
CHECK_TIMEOUT = 2.0

# None: healthy; else the reason (one line, shown in the 503's body).
HealthCheck = Callable[[], Awaitable[str | None]]


def database_check(db: Database, *, timeout: float = CHECK_TIMEOUT) -> HealthCheck:
    """Whether the database answers and is migrated; for SQLite also that the file is
    there and writable within a second by a new connection, for PostgreSQL that the
    server takes writes (the webhook must commit each update before it answers).

    A new connection each time, not the bot's own: an open connection keeps reading a
    file that was deleted or replaced, and the next instance to start would not."""

    async def check() -> str | None:
        try:
            if db.dialect == "postgresql":
                # A connection of the pool: asyncpg replaces one the server ended, and a
                # server that cannot be reached fails here (DatabaseUnavailable).
                return await asyncio.wait_for(postgres_problem(db.conn), timeout)
            if db.path == MEMORY:
                return await asyncio.wait_for(_check_open(db), timeout)
            return await asyncio.wait_for(asyncio.to_thread(sqlite_file_problem, db.path), timeout)
        except TimeoutError:
            return f"database did not answer within {timeout:g} s"
        except DatabaseUnavailable as exc:
            return str(exc)

    return check


async def _check_open(db: Database) -> str | None:
    return migrations_behind(await applied_migrations(db.conn))


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
