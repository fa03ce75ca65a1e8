"""Internal members (employees, contractors, suppliers) and the weeks they were invited."""

from __future__ import annotations

from datetime import datetime

from storage.connection import Connection, Row
from storage.db import decode_time, encode_time
from storage.errors import NotFound
from storage.models import InvitationSource, Member, MemberRole, SubjectKind
from storage.subjects import get_subject_by_id

_SELECT = (
    "SELECT m.telegram_id, m.role, m.department_id, m.pulse_muted, m.registered_at, u.lang"
    " FROM members AS m LEFT JOIN users AS u ON u.telegram_id = m.telegram_id"
)


def _member(row: Row) -> Member:
    return Member(
        telegram_id=row["telegram_id"],
        role=MemberRole(row["role"]),
        department_id=row["department_id"],
        lang=row["lang"],
        pulse_muted=bool(row["pulse_muted"]),
        registered_at=decode_time(row["registered_at"]),
    )


async def register_member(
    conn: Connection,
    telegram_id: int,
    *,
    role: MemberRole,
    department_id: int | None,
    now: datetime,
) -> Member:
    """Register (or re-register) an internal member. Employees belong to a department;
    contractors and suppliers to none (ValueError, NotFound for an unknown department).
    Re-registering keeps the first registration time and the pulse setting."""
    role = MemberRole(role)
    if role is MemberRole.EMPLOYEE:
        if department_id is None:
            raise ValueError("an employee needs a department")
        department = await get_subject_by_id(conn, department_id)
        if department is None:
            raise NotFound(f"no department with id {department_id}")
        if department.kind is not SubjectKind.DEPARTMENT:
            raise ValueError(f"subject {department.slug!r} is not a department")
    elif department_id is not None:
        raise ValueError(f"a {role.value} has no department")
    await conn.execute(
        "INSERT INTO members (telegram_id, role, department_id, pulse_muted, registered_at)"
        " VALUES (?, ?, ?, FALSE, ?)"
        " ON CONFLICT (telegram_id) DO UPDATE SET"
        "  role = excluded.role, department_id = excluded.department_id",
        (telegram_id, role.value, department_id, encode_time(now)),
    )
    member = await get_member(conn, telegram_id)
    assert member is not None
    return member


async def get_member(conn: Connection, telegram_id: int) -> Member | None:
    """The member, or None if this user never registered."""
    async with conn.execute(f"{_SELECT} WHERE m.telegram_id = ?", (telegram_id,)) as cur:
        row = await cur.fetchone()
    return None if row is None else _member(row)


async def list_members(conn: Connection, *, include_muted: bool = False) -> list[Member]:
    """Members ordered by Telegram id; those who muted pulses only when asked."""
    clause = "" if include_muted else " WHERE NOT m.pulse_muted"
    async with conn.execute(f"{_SELECT}{clause} ORDER BY m.telegram_id") as cur:
        rows = await cur.fetchall()
    return [_member(row) for row in rows]


async def set_pulse_muted(conn: Connection, telegram_id: int, muted: bool) -> None:
    """Mute or unmute pulse invitations for a member (NotFound)."""
    cursor = await conn.execute(
        "UPDATE members SET pulse_muted = ? WHERE telegram_id = ?", (bool(muted), telegram_id)
    )
    if cursor.rowcount == 0:
        raise NotFound(f"no member with Telegram id {telegram_id}")


async def count_members(conn: Connection) -> int:
    """How many members are registered (muted ones included)."""
    async with conn.execute("SELECT COUNT(*) FROM members") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else 0


async def record_invitation(
    conn: Connection, telegram_id: int, *, week_key: str, source: InvitationSource
) -> None:
    """Note that a member was invited to answer in a week (by a pulse or by registering
    through a link); once per member and week, the first source is kept."""
    await conn.execute(
        "INSERT INTO member_invitations (week_key, telegram_id, source) VALUES (?, ?, ?)"
        " ON CONFLICT (week_key, telegram_id) DO NOTHING",
        (week_key, telegram_id, source.value),
    )
