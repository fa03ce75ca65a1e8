"""Period keys (ISO weeks, months, quarters) computed in Python, never in SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from surveys.schema import Period

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True, order=True)
class PeriodSpan:
    """A period: its key and its first and last day (inclusive)."""

    key: str
    start: date
    end: date

    @property
    def next_start(self) -> date:
        """The first day after this period."""
        return self.end + timedelta(days=1)


def week_key(day: date) -> str:
    """The ISO week key of a day, e.g. 2026-W48."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def period_key(day: date, period: Period = Period.WEEK) -> str:
    """The key of the period (week, month or quarter) containing `day`."""
    if isinstance(day, datetime):
        day = day.date()
    if period is Period.WEEK:
        return week_key(day)
    if period is Period.MONTH:
        return f"{day.year}-{day.month:02d}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def span(key: str) -> PeriodSpan:
    """The span of a period key (ValueError for a malformed key)."""
    if m := _WEEK.match(key):
        year, week = int(m[1]), int(m[2])
        try:
            start = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"no such week: {key}") from None
        return PeriodSpan(key, start, start + timedelta(days=6))
    if m := _MONTH.match(key):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise ValueError(f"no such month: {key}")
        start = date(year, month, 1)
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        return PeriodSpan(key, start, nxt - timedelta(days=1))
    if m := _QUARTER.match(key):
        year, quarter = int(m[1]), int(m[2])
        start = date(year, 3 * quarter - 2, 1)
        nxt = date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)
        return PeriodSpan(key, start, nxt - timedelta(days=1))
    raise ValueError(f"not a period key: {key!r} (expected e.g. 2026-W48, 2026-11 or 2026-Q4)")


def shift(key: str, periods: int) -> str:
    """The key `periods` periods after (negative: before) the given one."""
    s = span(key)
    if _WEEK.match(key):
        return week_key(s.start + timedelta(weeks=periods))
    if _MONTH.match(key):
        months = s.start.year * 12 + s.start.month - 1 + periods
        return f"{months // 12}-{months % 12 + 1:02d}"
    quarters = s.start.year * 4 + (s.start.month - 1) // 3 + periods
    return f"{quarters // 4}-Q{quarters % 4 + 1}"


def previous(key: str) -> str:
    """The period before."""
    return shift(key, -1)


def last_n(key: str, n: int) -> list[str]:
    """The n periods ending with `key`, oldest first."""
    return [shift(key, -i) for i in range(n - 1, -1, -1)]
