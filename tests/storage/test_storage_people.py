"""Users, members (with their invitations) and owners (with their digest settings)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from storage.db import Database
from storage.errors import NotFound
from storage.members import (
    count_members,
    get_member,
    list_members,
    record_invitation,
    register_member,
    set_pulse_muted,
)
from storage.models import InvitationSource, MemberRole, Owner, OwnerSettings, Subject, User
from storage.owners import (
    add_owner,
    get_owner_settings,
    is_owner,
    list_active_owner_settings,
    list_owned_subjects,
    list_owners,
    mark_owner_inactive,
    remove_owner,
    update_owner_settings,
)
from storage.subjects import remove_subject
from storage.users import get_user, set_language, touch_user

WARSAW = "Europe/Warsaw"

# --- users ---------------------------------------------------------------------------------


async def test_a_user_follows_telegrams_language_until_they_choose_one(
    db: Database, now: datetime
) -> None:
    async with db.transaction() as conn:
        first = await touch_user(conn, 5, lang_hint="pl", now=now)
    assert (first.telegram_id, first.lang, first.first_seen) == (5, "pl", now)

    async with db.transaction() as conn:
        later = await touch_user(conn, 5, lang_hint="en", now=now + timedelta(days=1))
        assert later.lang == "en"
        assert later.first_seen == now  # the first time is kept
        assert (await touch_user(conn, 5, lang_hint=None, now=now)).lang == "en"
        await set_language(conn, 5, "pl")
        assert (await touch_user(conn, 5, lang_hint="en", now=now)).lang == "pl"
    user = await get_user(db.conn, 5)
    assert user is not None and user.lang == "pl"
    assert await get_user(db.conn, 6) is None


async def test_set_language_creates_an_unknown_user(db: Database, now: datetime) -> None:
    async with db.transaction() as conn:
        await set_language(conn, 7, "en", now=now)
    assert await get_user(db.conn, 7) == User(7, "en", now)


# --- members -------------------------------------------------------------------------------


async def test_an_employee_registers_in_a_department_and_can_move(
    db: Database, department: Subject, now: datetime
) -> None:
    async with db.transaction() as conn:
        await touch_user(conn, 10, lang_hint="pl", now=now)
        member = await register_member(
            conn, 10, role=MemberRole.EMPLOYEE, department_id=department.id, now=now
        )
    assert member.role is MemberRole.EMPLOYEE
    assert member.department_id == department.id
    assert member.lang == "pl"
    assert member.pulse_muted is False
    assert member.registered_at == now

    async with db.transaction() as conn:
        moved = await register_member(
            conn, 10, role=MemberRole.CONTRACTOR, department_id=None, now=now + timedelta(1)
        )
    assert (moved.role, moved.department_id, moved.registered_at) == (
        MemberRole.CONTRACTOR,
        None,
        now,
    )
    assert await get_member(db.conn, 10) == moved
    assert await get_member(db.conn, 11) is None


async def test_registration_needs_a_consistent_role_and_department(
    db: Database, department: Subject, product: Subject, now: datetime
) -> None:
    async with db.transaction() as conn:
        with pytest.raises(ValueError, match="needs a department"):
            await register_member(conn, 1, role=MemberRole.EMPLOYEE, department_id=None, now=now)
        with pytest.raises(ValueError, match="has no department"):
            await register_member(
                conn, 1, role=MemberRole.SUPPLIER, department_id=department.id, now=now
            )
        with pytest.raises(ValueError, match="not a department"):
            await register_member(
                conn, 1, role=MemberRole.EMPLOYEE, department_id=product.id, now=now
            )
        with pytest.raises(NotFound):
            await register_member(conn, 1, role=MemberRole.EMPLOYEE, department_id=999, now=now)
    assert await count_members(db.conn) == 0


async def test_members_are_listed_without_muted_ones_unless_asked(
    db: Database, department: Subject, now: datetime
) -> None:
    async with db.transaction() as conn:
        await register_member(conn, 3, role=MemberRole.SUPPLIER, department_id=None, now=now)
        await register_member(
            conn, 1, role=MemberRole.EMPLOYEE, department_id=department.id, now=now
        )
        await register_member(conn, 2, role=MemberRole.CONTRACTOR, department_id=None, now=now)
        await set_pulse_muted(conn, 2, True)
    assert [m.telegram_id for m in await list_members(db.conn)] == [1, 3]
    assert [m.telegram_id for m in await list_members(db.conn, include_muted=True)] == [1, 2, 3]
    assert await count_members(db.conn) == 3

    async with db.transaction() as conn:
        await set_pulse_muted(conn, 2, False)
        with pytest.raises(NotFound):
            await set_pulse_muted(conn, 99, True)
    assert [m.telegram_id for m in await list_members(db.conn)] == [1, 2, 3]


async def test_removing_a_department_leaves_its_employees_without_one(
    db: Database, department: Subject, now: datetime
) -> None:
    async with db.transaction() as conn:
        await register_member(
            conn, 1, role=MemberRole.EMPLOYEE, department_id=department.id, now=now
        )
        await remove_subject(conn, department.slug)
    member = await get_member(db.conn, 1)
    assert member is not None and member.department_id is None


async def test_an_invitation_is_recorded_once_per_member_and_week(db: Database) -> None:
    async with db.transaction() as conn:
        await record_invitation(conn, 1, week_key="2026-W48", source=InvitationSource.LINK)
        await record_invitation(conn, 1, week_key="2026-W48", source=InvitationSource.PULSE)
        await record_invitation(conn, 1, week_key="2026-W49", source=InvitationSource.PULSE)
    async with db.conn.execute(
        "SELECT week_key, source FROM member_invitations ORDER BY week_key"
    ) as cur:
        assert [tuple(r) for r in await cur.fetchall()] == [
            ("2026-W48", "link"),
            ("2026-W49", "pulse"),
        ]


# --- owners --------------------------------------------------------------------------------


async def test_an_owner_is_added_once_and_listed(
    db: Database, department: Subject, product: Subject, now: datetime
) -> None:
    async with db.transaction() as conn:
        first = await add_owner(conn, 42, product.id, now=now)
        again = await add_owner(conn, 42, product.id, now=now + timedelta(days=3))
        await add_owner(conn, 42, department.id, now=now)
        await add_owner(conn, 7, department.id, now=now)
        with pytest.raises(NotFound):
            await add_owner(conn, 7, 999, now=now)
    assert first == again == Owner(42, product.id, now)
    assert [s.slug for s in await list_owned_subjects(db.conn, 42)] == ["sales", "widget"]
    assert await is_owner(db.conn, 42, product.id)
    assert not await is_owner(db.conn, 7, product.id)
    assert [(o.telegram_id, s.slug) for o, s in await list_owners(db.conn)] == [
        (7, "sales"),
        (42, "sales"),
        (42, "widget"),
    ]
    assert [o.telegram_id for o, _ in await list_owners(db.conn, department.id)] == [7, 42]

    async with db.transaction() as conn:
        assert await remove_owner(conn, 7, department.id)
        assert not await remove_owner(conn, 7, department.id)
    assert not await is_owner(db.conn, 7, department.id)


async def test_owner_settings_default_to_monday_nine_in_the_configured_zone(
    db: Database, department: Subject, now: datetime
) -> None:
    settings = await get_owner_settings(db.conn, 42, default_timezone=WARSAW)
    assert settings == OwnerSettings(42, 0, 9, WARSAW, False, False, True, "en")


async def test_owner_settings_change_and_follow_the_users_language(
    db: Database, department: Subject, now: datetime
) -> None:
    async with db.transaction() as conn:
        await touch_user(conn, 42, lang_hint="pl", now=now)
        changed = await update_owner_settings(
            conn, 42, default_timezone=WARSAW, weekday=4, hour=16, detractor_alerts=True
        )
    assert changed == OwnerSettings(42, 4, 16, WARSAW, False, True, True, "pl")

    async with db.transaction() as conn:
        changed = await update_owner_settings(
            conn, 42, default_timezone=WARSAW, timezone="America/New_York", paused=True
        )
    assert (changed.weekday, changed.timezone, changed.paused) == (4, "America/New_York", True)
    assert await get_owner_settings(db.conn, 42, default_timezone=WARSAW) == changed


@pytest.mark.parametrize(
    "change", [{"weekday": 7}, {"hour": 24}, {"hour": -1}, {"timezone": "Mars/Base"}]
)
async def test_impossible_owner_settings_are_refused(
    db: Database, change: dict[str, object]
) -> None:
    async with db.transaction() as conn:
        with pytest.raises(ValueError):
            await update_owner_settings(conn, 42, default_timezone=WARSAW, **change)  # type: ignore[arg-type]


async def test_active_owner_settings_skip_blocked_owners_and_archived_subjects(
    db: Database, department: Subject, product: Subject, now: datetime
) -> None:
    async with db.transaction() as conn:
        await add_owner(conn, 1, department.id, now=now)
        await add_owner(conn, 2, product.id, now=now)
        await add_owner(conn, 3, product.id, now=now)
        await update_owner_settings(conn, 3, default_timezone=WARSAW, paused=True)
        await add_owner(conn, 4, department.id, now=now)
        await mark_owner_inactive(conn, 4)
    settings = await list_active_owner_settings(db.conn, default_timezone=WARSAW)
    assert [(s.telegram_id, s.paused) for s in settings] == [(1, False), (2, False), (3, True)]
    assert not (await get_owner_settings(db.conn, 4, default_timezone=WARSAW)).active

    async with db.transaction() as conn:
        await update_owner_settings(conn, 4, default_timezone=WARSAW, active=True)
        await db.conn.execute("UPDATE subjects SET archived = TRUE WHERE id = ?", (product.id,))
    settings = await list_active_owner_settings(db.conn, default_timezone=WARSAW)
    assert [s.telegram_id for s in settings] == [1, 4]


async def test_an_owners_digest_language_is_set_then_follows_their_latest_choice(
    db: Database, now: datetime
) -> None:
    async with db.transaction() as conn:
        await touch_user(conn, 42, lang_hint="en", now=now)
        settings = await update_owner_settings(conn, 42, default_timezone=WARSAW, lang="pl")
        assert settings.lang == "pl"
        assert (await touch_user(conn, 42, lang_hint="en", now=now)).lang == "en"
        assert (await get_owner_settings(conn, 42, default_timezone=WARSAW)).lang == "pl"
        await set_language(conn, 42, "en")
        assert (await get_owner_settings(conn, 42, default_timezone=WARSAW)).lang == "en"
