"""Invite links: unguessable tokens stored only as a keyed hash, checked, redeemed, revoked."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import replace
from datetime import datetime

from domain import invites as invite_rules
from storage.connection import Connection, Row
from storage.db import decode_optional_time, decode_time, encode_time
from storage.errors import AmbiguousPrefix, InviteError, NotFound
from storage.models import Invite, InviteKind, InviteProblem, MemberRole, SubjectKind
from storage.subjects import get_subject_by_id
from storage.updates import mark_processed

# secrets.token_urlsafe(32): 32 random bytes, 256 bits, as 43 characters of [A-Za-z0-9_-],
# within Telegram's 64-character /start payload. The 8-character display prefix leaves
# 35 characters (210 bits) unknown to anyone who only sees invite lists.
TOKEN_BYTES = 32
TOKEN_LENGTH = 43
PREFIX_LENGTH = 8
MIN_PREFIX_LENGTH = 4
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")

_COLUMNS = (
    "i.id, i.kind, i.subject_id, i.role, i.prefix, i.max_uses, i.uses, i.expires_at,"
    " i.revoked_at, i.created_at, i.created_by"
)
# An invite to an archived subject counts as revoked.
_SELECT = (
    f"SELECT {_COLUMNS}, COALESCE(s.archived, FALSE) AS subject_archived"
    " FROM invites AS i LEFT JOIN subjects AS s ON s.id = i.subject_id"
)


def token_hash(secret: bytes, token: str) -> str:
    """HMAC-SHA256 of a token with the server secret, as hex."""
    return hmac.new(secret, token.encode("ascii"), hashlib.sha256).hexdigest()


def is_well_formed(token: str) -> bool:
    """Whether a string could be a token at all (length and characters)."""
    return len(token) == TOKEN_LENGTH and _TOKEN.fullmatch(token) is not None


def _invite(row: Row) -> Invite:
    return Invite(
        id=row["id"],
        kind=InviteKind(row["kind"]),
        subject_id=row["subject_id"],
        role=None if row["role"] is None else MemberRole(row["role"]),
        prefix=row["prefix"],
        max_uses=row["max_uses"],
        uses=row["uses"],
        expires_at=decode_optional_time(row["expires_at"]),
        revoked_at=decode_optional_time(row["revoked_at"]),
        created_at=decode_time(row["created_at"]),
        created_by=row["created_by"],
    )


def _problem(row: Row, now: datetime) -> InviteProblem | None:
    if row["subject_archived"]:
        return InviteProblem.REVOKED
    return _invite(row).problem(now)


async def _check_kind(
    conn: Connection,
    kind: InviteKind,
    subject_id: int | None,
    role: MemberRole | None,
) -> MemberRole | None:
    """Validate the subject and role an invite of this kind needs (domain.invites); the
    role to store."""
    subject_kind: SubjectKind | None = None
    if subject_id is not None and invite_rules.needs_subject(kind):
        subject = await get_subject_by_id(conn, subject_id)
        if subject is None:
            raise NotFound(f"no subject with id {subject_id}")
        subject_kind = subject.kind
    return invite_rules.stored_role(kind, subject_kind, role, has_subject=subject_id is not None)


async def create_invite(
    conn: Connection,
    secret: bytes,
    *,
    kind: InviteKind,
    subject_id: int | None,
    role: MemberRole | None,
    max_uses: int | None,
    expires_at: datetime | None,
    created_by: int | None,
    now: datetime,
) -> tuple[Invite, str]:
    """Create an invite; returns it and the token, which is never stored and cannot be
    shown again. employee: a department (role employee); partner: no subject, role
    contractor or supplier; buyer: a product; owner: any subject (ValueError, NotFound)."""
    kind = InviteKind(kind)
    role = None if role is None else MemberRole(role)
    if max_uses is not None and max_uses < 1:
        raise ValueError(f"max_uses must be at least 1, not {max_uses}")
    role = await _check_kind(conn, kind, subject_id, role)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    cursor = await conn.execute(
        "INSERT INTO invites (kind, subject_id, role, token_hash, prefix, max_uses, uses,"
        " expires_at, revoked_at, created_at, created_by)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, ?, NULL, ?, ?) RETURNING id",
        (
            kind.value,
            subject_id,
            None if role is None else role.value,
            token_hash(secret, token),
            token[:PREFIX_LENGTH],
            max_uses,
            None if expires_at is None else encode_time(expires_at),
            encode_time(now),
            created_by,
        ),
    )
    invite = await _get(conn, "i.id = ?", (await cursor.fetchall())[0][0])
    assert invite is not None
    return _invite(invite), token


async def _get(conn: Connection, where: str, value: object) -> Row | None:
    async with conn.execute(f"{_SELECT} WHERE {where}", (value,)) as cur:
        return await cur.fetchone()


async def check_invite(conn: Connection, secret: bytes, token: str, *, now: datetime) -> Invite:
    """The invite a token opens, or InviteError with the problem: malformed (checked
    before any query), unknown, revoked (or its subject archived), expired, used up."""
    if not is_well_formed(token):
        raise InviteError(InviteProblem.MALFORMED)
    row = await _get(conn, "i.token_hash = ?", token_hash(secret, token))
    if row is None:
        raise InviteError(InviteProblem.UNKNOWN)
    problem = _problem(row, now)
    if problem is not None:
        raise InviteError(problem)
    return _invite(row)


async def find_invite(conn: Connection, secret: bytes, token: str) -> Invite | None:
    """The invite a token names, whatever its state (used up, expired or revoked since),
    or None: for an update whose redemption was already counted."""
    if not is_well_formed(token):
        return None
    row = await _get(conn, "i.token_hash = ?", token_hash(secret, token))
    return None if row is None else _invite(row)


async def redeem_invite(conn: Connection, secret: bytes, token: str, *, now: datetime) -> Invite:
    """Check an invite and count one use, atomically (InviteError as in check_invite)."""
    return await _count_use(conn, await check_invite(conn, secret, token, now=now))


async def _count_use(conn: Connection, invite: Invite) -> Invite:
    """Count one use of `invite`: the invite with its new count, or InviteError(USED_UP).
    The condition re-checks the limit in the UPDATE itself, so two concurrent
    redemptions (two bot instances) cannot both take the last use."""
    async with conn.execute(
        "UPDATE invites SET uses = uses + 1 WHERE id = ? AND (max_uses IS NULL OR uses < max_uses)"
        " RETURNING uses",
        (invite.id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise InviteError(InviteProblem.USED_UP)
    return replace(invite, uses=int(row[0]))


async def use_invite(
    conn: Connection, invite: Invite, *, update_id: int, now: datetime
) -> Invite | None:
    """Count one use of `invite` (checked by `check_invite` just before) for update
    `update_id`, recording the update as processed (storage.updates.mark_processed) in
    the same write: the invite with its new count, None when the update was processed
    already (nothing counted), InviteError(USED_UP) when its last use was taken
    meanwhile (and the update not recorded).

    For an invite whose opening stores nothing else (a buyer's: the survey starts in a
    write of its own). Run it in a `Database.one_statement()` block: on PostgreSQL it is
    one call of the `invite_use` function (migration 0014), a single round trip where
    BEGIN, the two statements and COMMIT would cost four, and the invite's row, which
    every /start of the product updates, is released at the commit on the server; on
    SQLite the same statements, in the block's transaction."""
    if conn.dialect != "postgresql":
        if not await mark_processed(conn, update_id, now=now):
            return None
        # USED_UP raised: the block's transaction is rolled back, the mark with it.
        return await _count_use(conn, invite)
    async with conn.execute(
        "SELECT outcome, new_uses FROM invite_use(?, ?, ?)",
        (update_id, encode_time(now), invite.id),
    ) as cursor:
        row = await cursor.fetchone()
    assert row is not None, "invite_use returns one row"
    outcome, uses = str(row[0]), row[1]
    if outcome == "duplicate":
        return None
    if outcome != "used":
        raise InviteError(InviteProblem.USED_UP)
    return replace(invite, uses=int(uses))


async def list_invites(
    conn: Connection, *, include_inactive: bool = False, now: datetime
) -> list[Invite]:
    """Invites by creation; only usable ones unless `include_inactive`."""
    async with conn.execute(f"{_SELECT} ORDER BY i.created_at, i.id") as cur:
        rows = await cur.fetchall()
    return [_invite(row) for row in rows if include_inactive or _problem(row, now) is None]


async def revoke_invite(
    conn: Connection, secret: bytes, token_or_prefix: str, *, now: datetime
) -> Invite:
    """Revoke an invite given its full token or a prefix of at least 4 characters of it
    (NotFound, AmbiguousPrefix). Revoking a revoked invite keeps the first time."""
    text = token_or_prefix.strip()
    if is_well_formed(text):
        row = await _get(conn, "i.token_hash = ?", token_hash(secret, text))
        if row is None:
            raise NotFound("no invite with this token")
    else:
        if not MIN_PREFIX_LENGTH <= len(text) <= PREFIX_LENGTH or not _TOKEN.fullmatch(text):
            raise NotFound(
                f"give the whole token or its first {MIN_PREFIX_LENGTH} to "
                f"{PREFIX_LENGTH} characters, not {token_or_prefix!r}"
            )
        # substr, not LIKE: tokens contain '_', which LIKE treats as a wildcard.
        async with conn.execute(
            f"{_SELECT} WHERE substr(i.prefix, 1, ?) = ?", (len(text), text)
        ) as cur:
            rows = list(await cur.fetchall())
        if not rows:
            raise NotFound(f"no invite starts with {text!r}")
        if len(rows) > 1:
            raise AmbiguousPrefix(text, len(rows))
        row = rows[0]
    await conn.execute(
        "UPDATE invites SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
        (encode_time(now), row["id"]),
    )
    updated = await _get(conn, "i.id = ?", row["id"])
    assert updated is not None
    return _invite(updated)


async def count_open_invites(conn: Connection, subject_id: int, *, now: datetime) -> int:
    """How many usable invites a subject has (for "share your link" hints)."""
    async with conn.execute(
        "SELECT COUNT(*) FROM invites AS i JOIN subjects AS s ON s.id = i.subject_id"
        " WHERE i.subject_id = ? AND NOT s.archived AND i.revoked_at IS NULL"
        " AND (i.expires_at IS NULL OR i.expires_at > ?)"
        " AND (i.max_uses IS NULL OR i.uses < i.max_uses)",
        (subject_id, encode_time(now)),
    ) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else 0


async def revoke_invite_by_id(conn: Connection, invite_id: int, *, now: datetime) -> bool:
    """Revoke an invite by its id (the dashboard's button); False when there is none.
    Revoking a revoked invite keeps the first time."""
    cursor = await conn.execute(
        "UPDATE invites SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
        (encode_time(now), invite_id),
    )
    return cursor.rowcount > 0
