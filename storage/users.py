"""Users: everyone who has talked to the bot, and the language they use."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.connection import Connection, Row
from storage.db import decode_time, encode_time
from storage.models import User


async def touch_user(
    conn: Connection, telegram_id: int, *, lang_hint: str | None, now: datetime
) -> User:
    """Record a user (first time) and follow their Telegram language, unless they chose
    one explicitly with `set_language`, which is kept. One statement: it may run in a
    `Database.one_statement()` block."""
    async with conn.execute(
        "INSERT INTO users (telegram_id, lang, lang_chosen, first_seen) VALUES (?, ?, FALSE, ?)"
        " ON CONFLICT (telegram_id) DO UPDATE SET lang = CASE"
        "  WHEN users.lang_chosen OR excluded.lang IS NULL THEN users.lang"
        "  ELSE excluded.lang END"
        " RETURNING telegram_id, lang, first_seen",
        (telegram_id, lang_hint, encode_time(now)),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None  # DO UPDATE: the row is returned whether new or not
    return _user(row)


async def set_language(
    conn: Connection, telegram_id: int, lang: str, *, now: datetime | None = None
) -> None:
    """Set the language a user chose; Telegram's hint no longer overrides it, and an
    owner's digests follow it (the latest explicit choice wins)."""
    first_seen = encode_time(now if now is not None else datetime.now(UTC))
    await conn.execute(
        "INSERT INTO users (telegram_id, lang, lang_chosen, first_seen) VALUES (?, ?, TRUE, ?)"
        " ON CONFLICT (telegram_id) DO UPDATE SET lang = excluded.lang, lang_chosen = TRUE",
        (telegram_id, lang, first_seen),
    )
    await conn.execute(
        "UPDATE owner_settings SET lang = NULL WHERE telegram_id = ?", (telegram_id,)
    )


async def get_user(conn: Connection, telegram_id: int) -> User | None:
    """The user, or None if they never talked to the bot."""
    async with conn.execute(
        "SELECT telegram_id, lang, first_seen FROM users WHERE telegram_id = ?", (telegram_id,)
    ) as cur:
        row = await cur.fetchone()
    return None if row is None else _user(row)


def _user(row: Row) -> User:
    return User(
        telegram_id=row["telegram_id"], lang=row["lang"], first_seen=decode_time(row["first_seen"])
    )
