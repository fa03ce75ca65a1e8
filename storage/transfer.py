"""Moving a deployment's rows from its SQLite file to an empty PostgreSQL database, checked
table by table with counts and checksums."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from storage.connection import Connection, SyncConnection
from storage.db import Database

# Every table of the schema, parents before the tables whose foreign keys point at them.
# schema_migrations is not moved: each database records its own.
TABLES = (
    "subjects",
    "users",
    "members",
    "member_invitations",
    "owners",
    "owner_settings",
    "invites",
    "processed_updates",
    "pending_thanks",
    "outbox",
    "answered_markers",
    "session_counts",
    "sessions",
    "responses",
    "answers",
    "disclosure_units",
    "disclosure_weeks",
    "dashboard_sessions",
    "dashboard_links",
)
CHUNK = 2000  # rows per INSERT batch


class TransferError(Exception):
    """Why the rows were not moved (or did not arrive intact); one line."""


@dataclass(frozen=True, slots=True)
class TableReport:
    """One table moved: its rows on each side and whether their checksums agree."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def intact(self) -> bool:
        return (self.source_rows, self.source_checksum) == (
            self.target_rows,
            self.target_checksum,
        )


def _canonical(value: object) -> bytes:
    """A value as the same bytes on both backends (SQLite keeps booleans as 0/1 and whole
    REALs may come back as int; moments are encode_time text on both)."""
    if value is None:
        return b"\x00"
    if isinstance(value, bool):
        return b"i" + str(int(value)).encode()
    if isinstance(value, int):
        return b"i" + str(value).encode()
    if isinstance(value, float):
        return b"f" + (str(int(value)) if value.is_integer() else repr(value)).encode()
    return b"s" + str(value).encode()


def checksum(rows: Sequence[Sequence[Any]]) -> str:
    """An order-independent checksum of rows: the sum of each row's SHA-256, mod 2**256
    (the backends need not return rows in the same order)."""
    total = 0
    for row in rows:
        digest = hashlib.sha256(b"\x1f".join(_canonical(v) for v in row)).digest()
        total = (total + int.from_bytes(digest, "big")) % (1 << 256)
    return f"{total:064x}"


def _select_all(table: str, columns: Sequence[str]) -> Callable[[SyncConnection], list[Any]]:
    sql = f"SELECT {', '.join(columns)} FROM {table}"
    return lambda conn: list(conn.execute(sql).fetchall())


async def _columns(target: Connection, table: str) -> list[tuple[str, str]]:
    """(name, PostgreSQL type) of each column of a target table, in order."""
    async with target.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    ) as cursor:
        return [(row[0], row[1]) for row in await cursor.fetchall()]


def _converter(pg_type: str) -> Callable[[Any], Any]:
    if pg_type == "boolean":
        return lambda v: None if v is None else bool(v)
    if pg_type == "double precision":
        return lambda v: None if v is None else float(v)
    return lambda v: v


async def _count(conn: Connection, table: str) -> int:
    async with conn.execute(f"SELECT COUNT(*) FROM {table}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def transfer(source: Database, target: Database) -> list[TableReport]:
    """Copy every row of `source` (SQLite) into `target` (PostgreSQL, migrated and empty)
    in one transaction, then compare each table's row count and checksum on both sides.

    TransferError when the target holds any row already (nothing is written then), when
    the two schemas differ, or when a table did not arrive intact (the rows stay: the
    report says which table; drop the target's tables and run again)."""
    if target.dialect != "postgresql" or source.dialect != "sqlite":
        raise TransferError("rows move from an SQLite database to a PostgreSQL one")
    for table in TABLES:
        present = await _count(target.conn, table)
        if present:
            raise TransferError(
                f"the target is not empty ({table} has {present} rows): migrate-data only "
                "writes into a new database"
            )
    plans: list[tuple[str, list[str], list[list[Any]]]] = []
    source_sums: dict[str, str] = {}
    for table in TABLES:
        columns = await _columns(target.conn, table)
        if not columns:
            raise TransferError(f"the target has no table {table}: is its schema current?")
        names = [name for name, _ in columns]
        try:
            rows = await source.read_in_thread(_select_all(table, names))
        except Exception as exc:
            raise TransferError(f"cannot read {table} from the source: {exc}") from None
        source_sums[table] = checksum(rows)  # of the rows as SQLite has them
        convert = [_converter(pg_type) for _, pg_type in columns]
        plans.append(
            (table, names, [[c(v) for c, v in zip(convert, row, strict=True)] for row in rows])
        )
    async with target.transaction() as conn:
        for table, names, rows in plans:
            insert = (
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            )
            for start in range(0, len(rows), CHUNK):
                await conn.executemany(insert, rows[start : start + CHUNK])
            if "id" in names and table in ("subjects", "invites", "outbox", "sessions"):
                # The identity goes on after the highest id moved, as AUTOINCREMENT would.
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"
                )
    reports = []
    for table, names, rows in plans:
        moved = await target.read_in_thread(_select_all(table, names))
        reports.append(
            TableReport(table, len(rows), len(moved), source_sums[table], checksum(moved))
        )
    broken = [r.table for r in reports if not r.intact]
    if broken:
        raise TransferError(f"rows did not arrive intact in: {', '.join(broken)}")
    return reports
