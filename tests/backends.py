"""Both database backends for the tests: SQLite, and PostgreSQL in a schema of its own.

The PostgreSQL server is FEEDBOT_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test,
the one `.ci/run` starts and names). A test on the PostgreSQL half FAILS when that server
cannot be reached: the half is never skipped silently. Setting FEEDBOT_TEST_POSTGRES=off
leaves the PostgreSQL half out on purpose (a machine without a server); `.ci/run` never
does. Each test gets a fresh schema (CREATE SCHEMA t_<random>, the URL's search_path),
dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import asyncpg
import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
SERVER_URL = os.environ.get("FEEDBOT_TEST_POSTGRES", DEFAULT_URL)
POSTGRES_ON = SERVER_URL.lower() not in ("off", "")

BACKENDS = ["sqlite", "postgres"] if POSTGRES_ON else ["sqlite"]


def backend_params() -> list[object]:
    """pytest params for a fixture parametrized over the backends, ids 'sqlite'/'postgres'."""
    return [pytest.param(name, id=name) for name in BACKENDS]


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(SERVER_URL, timeout=60)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {SERVER_URL} is unreachable ({exc!r}): start it "
            "(.ci/run does) or set FEEDBOT_TEST_POSTGRES=off to leave the PostgreSQL half out",
            pytrace=False,
        )


async def create_schema() -> tuple[str, str]:
    """A new, empty schema on the test server: (its name, a URL whose search_path it is)."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = await _admin()
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
    finally:
        await admin.close()
    separator = "&" if urlsplit(SERVER_URL).query else "?"
    # synchronous_commit=off: a test database need not survive a power cut, and each
    # commit then costs no fsync (the server is shared by the whole suite).
    return schema, f"{SERVER_URL}{separator}search_path={schema}&synchronous_commit=off"


async def drop_schema(schema: str) -> None:
    admin = await _admin()
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await admin.close()


@asynccontextmanager
async def postgres_url() -> AsyncIterator[str]:
    """A URL of the test server whose search_path is a new, empty schema (dropped after)."""
    schema, url = await create_schema()
    try:
        yield url
    finally:
        await drop_schema(schema)


@asynccontextmanager
async def database_target(backend: str, sqlite_target: str) -> AsyncIterator[str]:
    """What to give Database.open / FEEDBOT_DATABASE for `backend`."""
    if backend == "postgres":
        async with postgres_url() as url:
            yield url
    else:
        yield sqlite_target
