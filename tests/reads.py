"""`read`: one digest query of storage.aggregates.Reads, awaited from a test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from storage.aggregates import Reads
from storage.connection import Connection, SyncConnection

P = ParamSpec("P")
T = TypeVar("T")


async def read(
    conn: Connection,
    query: Callable[Concatenate[Reads, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`query` (a method of Reads, e.g. `Reads.distributions`) run as production runs it:
    in a function handed to the connection's `read_in_thread`."""

    def run(sync: SyncConnection) -> T:
        return query(Reads(sync), *args, **kwargs)

    return await conn.read_in_thread(run)
