"""The dashboard URL each chat's menu button was last set to (see bot.menus)."""

from __future__ import annotations

from datetime import datetime

from storage.connection import Connection
from storage.db import encode_time


async def stored_urls(conn: Connection) -> dict[int, str]:
    """Every chat whose menu button opens the dashboard -> the URL it opens."""
    async with conn.execute("SELECT telegram_id, url FROM menu_buttons") as cur:
        rows = await cur.fetchall()
    return {int(row[0]): str(row[1]) for row in rows}


async def record(conn: Connection, telegram_id: int, url: str, *, now: datetime) -> None:
    """The chat's menu button now opens `url`."""
    await conn.execute(
        "INSERT INTO menu_buttons (telegram_id, url, set_at) VALUES (?, ?, ?)"
        " ON CONFLICT (telegram_id) DO UPDATE SET url = excluded.url, set_at = excluded.set_at",
        (telegram_id, url, encode_time(now)),
    )


async def forget(conn: Connection, telegram_id: int) -> None:
    """The chat's menu button is Telegram's default again."""
    await conn.execute("DELETE FROM menu_buttons WHERE telegram_id = ?", (telegram_id,))
