"""Subjects: departments and products, their slugs, surveys and removal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest

from storage.db import Database
from storage.errors import DuplicateSlug, HasResponses, InvalidSlug, NotFound
from storage.models import Session, Subject, SubjectKind
from storage.owners import add_owner, list_owners
from storage.sessions import complete_session
from storage.subjects import (
    add_subject,
    get_subject,
    get_subject_by_id,
    list_subjects,
    remove_subject,
    set_survey,
)
from surveys.schema import Audience

StartSession = Callable[..., Awaitable[Session]]


async def _add(db: Database, slug: str, kind: SubjectKind, now: datetime) -> Subject:
    async with db.transaction() as conn:
        return await add_subject(
            conn, slug=slug, kind=kind, names={"pl": slug.upper()}, survey_id="s", now=now
        )


async def test_a_department_is_added_and_found_by_slug_and_id(db: Database, now: datetime) -> None:
    async with db.transaction() as conn:
        added = await add_subject(
            conn,
            slug="customer-service",
            kind=SubjectKind.DEPARTMENT,
            names={"pl": "Obsługa klienta", "en": "Customer service"},
            survey_id="internal",
            now=now,
        )
    assert added.slug == "customer-service"
    assert added.kind is SubjectKind.DEPARTMENT
    assert added.kind.audience is Audience.INTERNAL
    assert added.names == {"pl": "Obsługa klienta", "en": "Customer service"}
    assert added.archived is False
    assert added.created_at == now
    assert await get_subject(db.conn, "customer-service") == added
    assert await get_subject_by_id(db.conn, added.id) == added
    assert await get_subject(db.conn, "nope") is None
    assert await get_subject_by_id(db.conn, 999) is None


def test_a_name_falls_back_to_the_other_language(now: datetime) -> None:
    polish_only = Subject(1, "sales", SubjectKind.DEPARTMENT, {"pl": "Sprzedaż"}, "s", False, now)
    assert polish_only.name("pl") == "Sprzedaż"
    assert polish_only.name("en") == "Sprzedaż"
    english_only = Subject(2, "x", SubjectKind.PRODUCT, {"en": "Widget"}, "s", False, now)
    assert english_only.name("pl") == "Widget"


@pytest.mark.parametrize("slug", ["", "Sales", "-sales", "sa les", "sprzedaż", "a_b", "x" * 65])
async def test_a_slug_outside_the_alphabet_is_refused(
    db: Database, now: datetime, slug: str
) -> None:
    with pytest.raises(InvalidSlug):
        await _add(db, slug, SubjectKind.DEPARTMENT, now)


async def test_a_duplicate_slug_is_refused_even_across_kinds(db: Database, now: datetime) -> None:
    await _add(db, "sales", SubjectKind.DEPARTMENT, now)
    with pytest.raises(DuplicateSlug):
        await _add(db, "sales", SubjectKind.PRODUCT, now)


async def test_subjects_are_listed_by_slug_and_kind(db: Database, now: datetime) -> None:
    for slug, kind in [
        ("marketing", SubjectKind.DEPARTMENT),
        ("b-phone", SubjectKind.PRODUCT),
        ("sales", SubjectKind.DEPARTMENT),
        ("a-laptop", SubjectKind.PRODUCT),
    ]:
        await _add(db, slug, kind, now)
    assert [s.slug for s in await list_subjects(db.conn)] == [
        "a-laptop",
        "b-phone",
        "marketing",
        "sales",
    ]
    assert [s.slug for s in await list_subjects(db.conn, SubjectKind.DEPARTMENT)] == [
        "marketing",
        "sales",
    ]
    assert [s.slug for s in await list_subjects(db.conn, kind=SubjectKind.PRODUCT)] == [
        "a-laptop",
        "b-phone",
    ]


async def test_set_survey_changes_the_survey_for_future_responses(
    db: Database, department: Subject
) -> None:
    async with db.transaction() as conn:
        changed = await set_survey(conn, "sales", "internal-v2")
    assert changed.survey_id == "internal-v2"
    assert (await get_subject(db.conn, "sales")) == changed
    with pytest.raises(NotFound):
        async with db.transaction() as conn:
            await set_survey(conn, "nope", "x")


async def test_a_subject_without_responses_is_deleted_with_its_owners(
    db: Database, department: Subject, now: datetime
) -> None:
    async with db.transaction() as conn:
        await add_owner(conn, 42, department.id, now=now)
        assert await remove_subject(conn, "sales") == "deleted"
    assert await get_subject(db.conn, "sales") is None
    assert await list_owners(db.conn) == []
    with pytest.raises(NotFound):
        async with db.transaction() as conn:
            await remove_subject(conn, "sales")


async def test_a_subject_with_responses_is_archived_only_with_force(
    db: Database,
    department: Subject,
    start: StartSession,
    now: datetime,
) -> None:
    session = await start(111, department)
    async with db.transaction() as conn:
        await complete_session(
            conn,
            session,
            records=[],
            marker="p",
            next_possible=now.date(),
            contact_id=None,
            now=now,
            week_key="2026-W48",
        )
    with pytest.raises(HasResponses) as refused:
        async with db.transaction() as conn:
            await remove_subject(conn, "sales")
    assert refused.value.responses == 1

    async with db.transaction() as conn:
        assert await remove_subject(conn, "sales", force=True) == "archived"
    archived = await get_subject(db.conn, "sales")
    assert archived is not None and archived.archived
    assert await list_subjects(db.conn) == []
    assert [s.slug for s in await list_subjects(db.conn, include_archived=True)] == ["sales"]
    async with db.conn.execute("SELECT COUNT(*) FROM responses") as cur:
        assert [tuple(row) for row in await cur.fetchall()] == [(1,)]  # history kept
