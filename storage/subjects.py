"""Subjects: the departments and products that are evaluated."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Literal

from storage.connection import Connection, Row
from storage.db import decode_time, encode_time
from storage.errors import DuplicateSlug, HasResponses, InvalidSlug, NotFound
from storage.models import Subject, SubjectKind

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SLUG_MAX_LENGTH = 64

_COLUMNS = "id, slug, kind, names_json, survey_id, archived, created_at"


def check_slug(slug: str) -> str:
    """The slug itself when valid, else InvalidSlug."""
    if len(slug) > SLUG_MAX_LENGTH or not SLUG.fullmatch(slug):
        raise InvalidSlug(slug)
    return slug


def subject_from_row(row: Row, prefix: str = "") -> Subject:
    """A Subject from a row holding the subject columns (by name, each after `prefix`)."""
    return Subject(
        id=row[prefix + "id"],
        slug=row[prefix + "slug"],
        kind=SubjectKind(row[prefix + "kind"]),
        names=json.loads(row[prefix + "names_json"]),
        survey_id=row[prefix + "survey_id"],
        archived=bool(row[prefix + "archived"]),
        created_at=decode_time(row[prefix + "created_at"]),
    )


def prefixed_columns(table: str, prefix: str) -> str:
    """The subject columns of `table` (an alias of subjects), each named `prefix` + its
    name: for reading a subject beside another table's columns."""
    return ", ".join(f"{table}.{c} AS {prefix}{c}" for c in _COLUMNS.split(", "))


async def add_subject(
    conn: Connection,
    *,
    slug: str,
    kind: SubjectKind,
    names: dict[str, str],
    survey_id: str,
    now: datetime,
) -> Subject:
    """Add a department or product (InvalidSlug, DuplicateSlug)."""
    check_slug(slug)
    kind = SubjectKind(kind)
    if await get_subject(conn, slug) is not None:
        raise DuplicateSlug(slug)
    async with conn.execute(
        "INSERT INTO subjects (slug, kind, names_json, survey_id, archived, created_at)"
        " VALUES (?, ?, ?, ?, FALSE, ?) ON CONFLICT (slug) DO NOTHING RETURNING id",
        (slug, kind.value, json.dumps(names, ensure_ascii=False), survey_id, encode_time(now)),
    ) as inserted:
        row = await inserted.fetchone()
    if row is None:  # another process added it since the check
        raise DuplicateSlug(slug)
    subject_id = row[0]
    subject = await get_subject_by_id(conn, subject_id)
    assert subject is not None
    return subject


async def get_subject(conn: Connection, slug: str) -> Subject | None:
    """The subject with this slug (archived too), or None."""
    async with conn.execute(f"SELECT {_COLUMNS} FROM subjects WHERE slug = ?", (slug,)) as cur:
        row = await cur.fetchone()
    return None if row is None else subject_from_row(row)


async def get_subject_by_id(conn: Connection, subject_id: int) -> Subject | None:
    """The subject with this id, or None."""
    # Awaited, not `async with`: one row, read for every answer.
    result = await conn.execute(f"SELECT {_COLUMNS} FROM subjects WHERE id = ?", (subject_id,))
    row = await result.fetchone()
    return None if row is None else subject_from_row(row)


async def list_subjects(
    conn: Connection,
    kind: SubjectKind | None = None,
    include_archived: bool = False,
) -> list[Subject]:
    """Subjects ordered by slug, optionally of one kind; archived ones only when asked."""
    where: list[str] = []
    params: list[object] = []
    if kind is not None:
        where.append("kind = ?")
        params.append(SubjectKind(kind).value)
    if not include_archived:
        where.append("NOT archived")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    async with conn.execute(
        f"SELECT {_COLUMNS} FROM subjects{clause} ORDER BY slug", params
    ) as cur:
        rows = await cur.fetchall()
    return [subject_from_row(row) for row in rows]


async def set_survey(conn: Connection, slug: str, survey_id: str) -> Subject:
    """Use another survey for this subject's future responses (NotFound)."""
    cursor = await conn.execute(
        "UPDATE subjects SET survey_id = ? WHERE slug = ?", (survey_id, slug)
    )
    if cursor.rowcount == 0:
        raise NotFound(f"no subject with slug {slug!r}")
    subject = await get_subject(conn, slug)
    assert subject is not None
    return subject


async def remove_subject(
    conn: Connection, slug: str, *, force: bool = False
) -> Literal["deleted", "archived"]:
    """Delete a subject without responses; one with responses only with `force`, which
    archives it (hidden from lists and new surveys) and never deletes history.

    Deleting also removes its owners, invites and unfinished sessions; its employees
    keep their registration without a department (NotFound, HasResponses)."""
    subject = await get_subject(conn, slug)
    if subject is None:
        raise NotFound(f"no subject with slug {slug!r}")
    async with conn.execute(
        "SELECT COUNT(*) FROM responses WHERE subject_id = ?", (subject.id,)
    ) as cur:
        row = await cur.fetchone()
    responses = int(row[0]) if row is not None else 0
    if responses == 0:
        await conn.execute("DELETE FROM subjects WHERE id = ?", (subject.id,))
        return "deleted"
    if not force:
        raise HasResponses(slug, responses)
    await conn.execute("UPDATE subjects SET archived = TRUE WHERE id = ?", (subject.id,))
    return "archived"
