"""Invites: tokens stored as keyed hashes, each problem told apart, redemption, revocation."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from storage.db import Database
from storage.errors import AmbiguousPrefix, InviteError, NotFound
from storage.invites import (
    check_invite,
    count_open_invites,
    create_invite,
    list_invites,
    redeem_invite,
    revoke_invite,
)
from storage.models import Invite, InviteKind, InviteProblem, MemberRole, Subject
from storage.subjects import remove_subject


async def _create(
    db: Database,
    secret: bytes,
    now: datetime,
    *,
    kind: InviteKind = InviteKind.BUYER,
    subject: Subject | None = None,
    role: MemberRole | None = None,
    max_uses: int | None = None,
    expires_at: datetime | None = None,
) -> tuple[Invite, str]:
    async with db.transaction() as conn:
        return await create_invite(
            conn,
            secret,
            kind=kind,
            subject_id=None if subject is None else subject.id,
            role=role,
            max_uses=max_uses,
            expires_at=expires_at,
            created_by=1,
            now=now,
        )


async def _problem(db: Database, secret: bytes, token: str, now: datetime) -> InviteProblem:
    with pytest.raises(InviteError) as caught:
        await check_invite(db.conn, secret, token, now=now)
    return caught.value.problem


async def test_a_token_has_256_bits_and_fits_a_start_payload(
    db: Database, product: Subject, secret: bytes, now: datetime
) -> None:
    invite, token = await _create(db, secret, now, subject=product)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert invite.prefix == token[:8]
    assert (invite.kind, invite.subject_id, invite.uses, invite.created_by) == (
        InviteKind.BUYER,
        product.id,
        0,
        1,
    )
    assert await check_invite(db.conn, secret, token, now=now) == invite


async def test_the_token_is_stored_only_as_a_keyed_hash(
    db: Database, product: Subject, secret: bytes, now: datetime
) -> None:
    _, token = await _create(db, secret, now, subject=product)
    async with db.conn.execute("SELECT * FROM invites") as cur:
        row = await cur.fetchone()
    assert row is not None
    assert not any(isinstance(value, str) and token in value for value in tuple(row))
    assert await _problem(db, b"another secret", token, now) is InviteProblem.UNKNOWN


@pytest.mark.parametrize(
    "token",
    ["", "short", "x" * 42, "x" * 44, "a" * 42 + "!", "ą" * 43, "a" * 42 + " ", "a" * 64],
)
async def test_a_malformed_token_is_told_apart(
    db: Database, secret: bytes, now: datetime, token: str
) -> None:
    assert await _problem(db, secret, token, now) is InviteProblem.MALFORMED


async def test_each_problem_is_told_apart(
    db: Database, product: Subject, department: Subject, secret: bytes, now: datetime
) -> None:
    assert await _problem(db, secret, "A" * 43, now) is InviteProblem.UNKNOWN

    _, expiring = await _create(db, secret, now, subject=product, expires_at=now + timedelta(1))
    await check_invite(db.conn, secret, expiring, now=now + timedelta(hours=23))
    assert await _problem(db, secret, expiring, now + timedelta(1)) is InviteProblem.EXPIRED

    _, revoked = await _create(db, secret, now, subject=product)
    async with db.transaction() as conn:
        await revoke_invite(conn, secret, revoked, now=now)
    assert await _problem(db, secret, revoked, now) is InviteProblem.REVOKED

    _, single = await _create(
        db, secret, now, kind=InviteKind.OWNER, subject=department, max_uses=1
    )
    async with db.transaction() as conn:
        redeemed = await redeem_invite(conn, secret, single, now=now)
    assert redeemed.uses == 1
    assert await _problem(db, secret, single, now) is InviteProblem.USED_UP
    with pytest.raises(InviteError) as caught:
        async with db.transaction() as conn:
            await redeem_invite(conn, secret, single, now=now)
    assert caught.value.problem is InviteProblem.USED_UP


async def test_an_invite_to_an_archived_subject_counts_as_revoked(
    db: Database, product: Subject, secret: bytes, now: datetime
) -> None:
    _, token = await _create(db, secret, now, subject=product)
    async with db.transaction() as conn:
        await conn.execute("UPDATE subjects SET archived = TRUE WHERE id = ?", (product.id,))
    assert await _problem(db, secret, token, now) is InviteProblem.REVOKED


async def test_a_multi_use_invite_counts_every_use_up_to_its_limit(
    db: Database, department: Subject, secret: bytes, now: datetime
) -> None:
    _, token = await _create(
        db, secret, now, kind=InviteKind.EMPLOYEE, subject=department, max_uses=3
    )
    for expected in (1, 2, 3):
        async with db.transaction() as conn:
            invite = await redeem_invite(conn, secret, token, now=now)
        assert invite.uses == expected
        assert invite.role is MemberRole.EMPLOYEE
    assert await _problem(db, secret, token, now) is InviteProblem.USED_UP


async def test_invite_kinds_need_their_subject_and_role(
    db: Database, department: Subject, product: Subject, secret: bytes, now: datetime
) -> None:
    partner, _ = await _create(db, secret, now, kind=InviteKind.PARTNER, role=MemberRole.CONTRACTOR)
    assert (partner.subject_id, partner.role) == (None, MemberRole.CONTRACTOR)
    bad = [
        {"kind": InviteKind.PARTNER, "role": None},
        {"kind": InviteKind.PARTNER, "role": MemberRole.EMPLOYEE},
        {"kind": InviteKind.PARTNER, "role": MemberRole.SUPPLIER, "subject": department},
        {"kind": InviteKind.EMPLOYEE, "subject": product},
        {"kind": InviteKind.EMPLOYEE, "subject": None},
        {"kind": InviteKind.BUYER, "subject": department},
        {"kind": InviteKind.BUYER, "subject": product, "role": MemberRole.SUPPLIER},
        {"kind": InviteKind.BUYER, "subject": product, "max_uses": 0},
    ]
    for arguments in bad:
        with pytest.raises(ValueError):
            await _create(db, secret, now, **arguments)  # type: ignore[arg-type]


async def test_revoking_by_prefix(
    db: Database, product: Subject, secret: bytes, now: datetime
) -> None:
    invite, token = await _create(db, secret, now, subject=product)
    async with db.transaction() as conn:
        with pytest.raises(NotFound):
            await revoke_invite(conn, secret, token[:3], now=now)  # too short to be safe
        with pytest.raises(NotFound):
            await revoke_invite(
                conn, secret, "zzzz" if not token.startswith("zzzz") else "yyyy", now=now
            )
        revoked = await revoke_invite(conn, secret, token[:5], now=now)
    assert revoked.id == invite.id and revoked.revoked_at == now

    async with db.transaction() as conn:  # again: the first revocation time is kept
        again = await revoke_invite(conn, secret, token, now=now + timedelta(1))
    assert again.revoked_at == now


async def test_an_ambiguous_prefix_revokes_nothing(
    db: Database, product: Subject, secret: bytes, now: datetime
) -> None:
    await _create(db, secret, now, subject=product)
    await _create(db, secret, now, subject=product)
    # Give both the same display prefix, as a collision would.
    await db.conn.execute("UPDATE invites SET prefix = 'AbCd_123'")
    async with db.transaction() as conn:
        with pytest.raises(AmbiguousPrefix):
            await revoke_invite(conn, secret, "AbCd_1", now=now)
    assert len(await list_invites(db.conn, now=now)) == 2
    # '_' is matched literally, not as a LIKE wildcard.
    async with db.transaction() as conn:
        with pytest.raises(NotFound):
            await revoke_invite(conn, secret, "AbCdX1", now=now)


async def test_open_invites_are_listed_and_counted(
    db: Database, product: Subject, department: Subject, secret: bytes, now: datetime
) -> None:
    open_one, _ = await _create(db, secret, now, subject=product)
    await _create(db, secret, now, subject=product, expires_at=now - timedelta(1))
    _, used_token = await _create(db, secret, now, subject=product, max_uses=1)
    async with db.transaction() as conn:
        await redeem_invite(conn, secret, used_token, now=now)
    _, revoked_token = await _create(db, secret, now, subject=product)
    async with db.transaction() as conn:
        await revoke_invite(conn, secret, revoked_token, now=now)
    await _create(db, secret, now, kind=InviteKind.OWNER, subject=department)

    assert [i.id for i in await list_invites(db.conn, now=now) if i.subject_id == product.id] == [
        open_one.id
    ]
    assert len(await list_invites(db.conn, include_inactive=True, now=now)) == 5
    assert await count_open_invites(db.conn, product.id, now=now) == 1
    assert await count_open_invites(db.conn, department.id, now=now) == 1
    assert await count_open_invites(db.conn, product.id, now=now - timedelta(days=2)) == 2


async def test_deleting_a_subject_deletes_its_invites(
    db: Database, product: Subject, secret: bytes, now: datetime
) -> None:
    _, token = await _create(db, secret, now, subject=product)
    async with db.transaction() as conn:
        await remove_subject(conn, product.slug)
    assert await _problem(db, secret, token, now) is InviteProblem.UNKNOWN
