"""Dashboard logins: sessions behind a cookie and one-time login links, stored as keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.connection import Connection
from storage.db import decode_time, encode_time

TOKEN_BYTES = 32
LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=12)


def _hash(secret: bytes, kind: str, token: str) -> str:
    # Keyed and typed: a link token can never be replayed as a session cookie.
    return hmac.new(secret, f"dashboard-{kind}:{token}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """A signed-in dashboard user: who, the page language they picked, and until when."""

    telegram_id: int
    lang: str | None
    expires_at: datetime


async def create_link(conn: Connection, secret: bytes, telegram_id: int, *, now: datetime) -> str:
    """A one-time login token for `telegram_id`, valid LINK_LIFETIME (returned, never stored)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await conn.execute(
        "INSERT INTO dashboard_links (token_hash, telegram_id, created_at, expires_at, used_at)"
        " VALUES (?, ?, ?, ?, NULL)",
        (
            _hash(secret, "link", token),
            telegram_id,
            encode_time(now),
            encode_time(now + LINK_LIFETIME),
        ),
    )
    return token


async def redeem_link(conn: Connection, secret: bytes, token: str, *, now: datetime) -> int | None:
    """The user a login token was made for, once: marked used in the same statement, so
    two requests with one token cannot both sign in. None when unknown, used or expired."""
    if not token or len(token) > 100:
        return None
    async with conn.execute(
        "UPDATE dashboard_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
        " AND expires_at > ? RETURNING telegram_id",
        (encode_time(now), _hash(secret, "link", token), encode_time(now)),
    ) as cur:
        row = await cur.fetchone()
    return None if row is None else int(row[0])


async def create_session(
    conn: Connection,
    secret: bytes,
    telegram_id: int,
    *,
    lang: str | None,
    now: datetime,
    lifetime: timedelta = SESSION_LIFETIME,
) -> str:
    """A new session for `telegram_id`; returns the cookie value (only its hash is kept).
    Expired sessions and links are deleted on the way."""
    await conn.execute("DELETE FROM dashboard_sessions WHERE expires_at <= ?", (encode_time(now),))
    await conn.execute("DELETE FROM dashboard_links WHERE expires_at <= ?", (encode_time(now),))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await conn.execute(
        "INSERT INTO dashboard_sessions (token_hash, telegram_id, lang, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            _hash(secret, "session", token),
            telegram_id,
            lang,
            encode_time(now),
            encode_time(now + lifetime),
        ),
    )
    return token


async def get_session(
    conn: Connection, secret: bytes, token: str, *, now: datetime
) -> DashboardSession | None:
    """The live session a cookie value stands for, or None (unknown or expired)."""
    if not token or len(token) > 100:
        return None
    async with conn.execute(
        "SELECT telegram_id, lang, expires_at FROM dashboard_sessions"
        " WHERE token_hash = ? AND expires_at > ?",
        (_hash(secret, "session", token), encode_time(now)),
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    return DashboardSession(int(row[0]), row[1], decode_time(row[2]))


async def set_session_language(conn: Connection, secret: bytes, token: str, lang: str) -> None:
    """The language the dashboard is shown in for this session."""
    await conn.execute(
        "UPDATE dashboard_sessions SET lang = ? WHERE token_hash = ?",
        (lang, _hash(secret, "session", token)),
    )


async def end_session(conn: Connection, secret: bytes, token: str) -> None:
    """Sign out: the session is deleted."""
    await conn.execute(
        "DELETE FROM dashboard_sessions WHERE token_hash = ?", (_hash(secret, "session", token),)
    )
