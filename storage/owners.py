"""Owners of subjects and their digest settings."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.connection import Connection, Row
from storage.db import decode_time, encode_time
from storage.errors import NotFound
from storage.models import Owner, OwnerSettings, Subject
from storage.subjects import get_subject_by_id, subject_from_row

DEFAULT_WEEKDAY = 0  # Monday
DEFAULT_HOUR = 9
DEFAULT_LANG = "en"

_SUBJECT_COLUMNS = "s.id, s.slug, s.kind, s.names_json, s.survey_id, s.archived, s.created_at"
# One row per owner: their settings (defaults when they have no row) and language.
_SETTINGS_SELECT = (
    "SELECT o.telegram_id AS telegram_id,"
    " COALESCE(st.weekday, ?) AS weekday, COALESCE(st.hour, ?) AS hour,"
    " st.timezone AS timezone, COALESCE(st.paused, FALSE) AS paused,"
    " COALESCE(st.detractor_alerts, FALSE) AS detractor_alerts,"
    " COALESCE(st.active, TRUE) AS active, COALESCE(st.lang, u.lang) AS lang"
    " FROM (SELECT DISTINCT telegram_id FROM owners) AS o"
    " LEFT JOIN owner_settings AS st ON st.telegram_id = o.telegram_id"
    " LEFT JOIN users AS u ON u.telegram_id = o.telegram_id"
)


async def add_owner(conn: Connection, telegram_id: int, subject_id: int, *, now: datetime) -> Owner:
    """Make a user an owner of a subject; idempotent (keeps the first `since`) (NotFound)."""
    if await get_subject_by_id(conn, subject_id) is None:
        raise NotFound(f"no subject with id {subject_id}")
    await conn.execute(
        "INSERT INTO owners (telegram_id, subject_id, since) VALUES (?, ?, ?)"
        " ON CONFLICT (telegram_id, subject_id) DO NOTHING",
        (telegram_id, subject_id, encode_time(now)),
    )
    async with conn.execute(
        "SELECT since FROM owners WHERE telegram_id = ? AND subject_id = ?",
        (telegram_id, subject_id),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return Owner(telegram_id, subject_id, decode_time(row["since"]))


async def remove_owner(conn: Connection, telegram_id: int, subject_id: int) -> bool:
    """Stop a user owning a subject; False if they did not own it."""
    cursor = await conn.execute(
        "DELETE FROM owners WHERE telegram_id = ? AND subject_id = ?", (telegram_id, subject_id)
    )
    return cursor.rowcount > 0


async def list_owned_subjects(
    conn: Connection, telegram_id: int, *, include_archived: bool = False
) -> list[Subject]:
    """The subjects a user owns, ordered by slug (archived ones only when asked)."""
    clause = "" if include_archived else " AND NOT s.archived"
    async with conn.execute(
        f"SELECT {_SUBJECT_COLUMNS} FROM owners AS o JOIN subjects AS s ON s.id = o.subject_id"
        f" WHERE o.telegram_id = ?{clause} ORDER BY s.slug",
        (telegram_id,),
    ) as cur:
        rows = await cur.fetchall()
    return [subject_from_row(row) for row in rows]


async def is_owner(conn: Connection, telegram_id: int, subject_id: int) -> bool:
    """Whether the user owns the subject."""
    async with conn.execute(
        "SELECT 1 FROM owners WHERE telegram_id = ? AND subject_id = ?",
        (telegram_id, subject_id),
    ) as cur:
        return await cur.fetchone() is not None


async def list_owners(
    conn: Connection, subject_id: int | None = None
) -> list[tuple[Owner, Subject]]:
    """Every ownership (of one subject, or of all, archived included), by slug then user."""
    clause = "" if subject_id is None else " WHERE o.subject_id = ?"
    params = () if subject_id is None else (subject_id,)
    async with conn.execute(
        f"SELECT o.telegram_id AS owner_id, o.since, {_SUBJECT_COLUMNS}"
        f" FROM owners AS o JOIN subjects AS s ON s.id = o.subject_id{clause}"
        " ORDER BY s.slug, o.telegram_id",
        params,
    ) as cur:
        rows = await cur.fetchall()
    return [
        (Owner(row["owner_id"], row["id"], decode_time(row["since"])), subject_from_row(row))
        for row in rows
    ]


def _settings(row: Row, default_timezone: str) -> OwnerSettings:
    return OwnerSettings(
        telegram_id=row["telegram_id"],
        weekday=row["weekday"],
        hour=row["hour"],
        timezone=row["timezone"] or default_timezone,
        paused=bool(row["paused"]),
        detractor_alerts=bool(row["detractor_alerts"]),
        active=bool(row["active"]),
        lang=row["lang"] or DEFAULT_LANG,
    )


async def get_owner_settings(
    conn: Connection, telegram_id: int, *, default_timezone: str
) -> OwnerSettings:
    """An owner's digest settings; defaults (Monday 09:00 in `default_timezone`, not paused,
    alerts off, active) for anything never changed. `lang`: the one set here, else the
    user's language (see users.set_language), else English."""
    async with conn.execute(
        "SELECT CAST(? AS BIGINT) AS telegram_id,"
        " COALESCE(st.weekday, ?) AS weekday, COALESCE(st.hour, ?) AS hour,"
        " st.timezone AS timezone, COALESCE(st.paused, FALSE) AS paused,"
        " COALESCE(st.detractor_alerts, FALSE) AS detractor_alerts,"
        " COALESCE(st.active, TRUE) AS active,"
        " COALESCE(st.lang, (SELECT lang FROM users WHERE telegram_id = ?)) AS lang"
        " FROM (SELECT 1 AS one) AS d"
        " LEFT JOIN owner_settings AS st ON st.telegram_id = ?",
        (telegram_id, DEFAULT_WEEKDAY, DEFAULT_HOUR, telegram_id, telegram_id),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return _settings(row, default_timezone)


async def update_owner_settings(
    conn: Connection,
    telegram_id: int,
    *,
    default_timezone: str,
    weekday: int | None = None,
    hour: int | None = None,
    timezone: str | None = None,
    paused: bool | None = None,
    detractor_alerts: bool | None = None,
    active: bool | None = None,
    lang: str | None = None,
) -> OwnerSettings:
    """Change some settings (None leaves one unchanged) and return them all (ValueError
    for a weekday outside 0-6, an hour outside 0-23 or an unknown time zone).

    `default_timezone` (the configured one) is what an owner who never chose a zone
    follows; it is not stored, so changing the configuration moves them too."""
    if weekday is not None and not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday}")
    if hour is not None and not 0 <= hour <= 23:
        raise ValueError(f"hour must be 0 to 23, not {hour}")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
    changes: dict[str, object] = {
        name: value
        for name, value in (
            ("weekday", weekday),
            ("hour", hour),
            ("timezone", timezone),
            ("paused", paused),
            ("detractor_alerts", detractor_alerts),
            ("active", active),
            ("lang", lang),
        )
        if value is not None
    }
    await conn.execute(
        "INSERT INTO owner_settings (telegram_id) VALUES (?) ON CONFLICT (telegram_id) DO NOTHING",
        (telegram_id,),
    )
    if changes:
        # Column names come from the fixed list above, never from the caller.
        assignments = ", ".join(f"{name} = ?" for name in changes)
        await conn.execute(
            f"UPDATE owner_settings SET {assignments} WHERE telegram_id = ?",
            (*changes.values(), telegram_id),
        )
    return await get_owner_settings(conn, telegram_id, default_timezone=default_timezone)


async def mark_owner_inactive(conn: Connection, telegram_id: int) -> None:
    """The owner blocked the bot: stop sending until they come back (set active again)."""
    await conn.execute(
        "INSERT INTO owner_settings (telegram_id, active) VALUES (?, FALSE)"
        " ON CONFLICT (telegram_id) DO UPDATE SET active = FALSE",
        (telegram_id,),
    )


async def list_active_owner_settings(
    conn: Connection, *, default_timezone: str
) -> list[OwnerSettings]:
    """Settings of every owner who has not blocked the bot and owns a subject that is not
    archived, by Telegram id. Paused owners are included (`paused` says so)."""
    async with conn.execute(
        f"{_SETTINGS_SELECT} WHERE COALESCE(st.active, TRUE)"
        " AND EXISTS (SELECT 1 FROM owners AS ow JOIN subjects AS s ON s.id = ow.subject_id"
        "  WHERE ow.telegram_id = o.telegram_id AND NOT s.archived)"
        " ORDER BY o.telegram_id",
        (DEFAULT_WEEKDAY, DEFAULT_HOUR),
    ) as cur:
        rows = await cur.fetchall()
    return [_settings(row, default_timezone) for row in rows]
