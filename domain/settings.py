"""An owner's /settings: the values typed (`/settings hour 8`) or pressed (a button) are
parsed and checked here, into the changes storage.owners applies. Asked by the chat's
/settings; the words are the ones both languages accept."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from functools import cache
from typing import TypedDict
from zoneinfo import available_timezones

from domain.errors import (
    AlertsProductsOnly,
    BadButton,
    BadDay,
    BadHour,
    BadTimezone,
    SettingsUsage,
)


class SettingsView(StrEnum):
    """What the /settings message shows: the menu, or the picker of one setting."""

    MAIN = "main"
    DAY = "day"
    HOUR = "hour"
    TZ = "tz"


class SettingsButton(StrEnum):
    """What a /settings button does (its callback data names it): open a view, or set."""

    SHOW = "show"
    DAY = "day"
    HOUR = "hour"
    TZ = "tz"
    PAUSE = "pause"
    ALERTS = "alerts"


class Changes(TypedDict, total=False):
    """Settings to change, as storage.owners.update_owner_settings takes them."""

    weekday: int
    hour: int
    timezone: str
    paused: bool
    detractor_alerts: bool


ON = frozenset({"on", "1", "yes", "tak", "true", "włącz", "wlacz"})
OFF = frozenset({"off", "0", "no", "nie", "false", "wyłącz", "wylacz"})
_PAUSE = frozenset({"pause", "pauza", "wstrzymaj"})
_RESUME = frozenset({"resume", "wznów", "wznow"})
_ZONE_NAMES = ("tz", "timezone", "zone", "strefa")
_HOUR_NAMES = ("hour", "godzina")
_DAY_NAMES = ("day", "dzień", "dzien")
_ALERT_NAMES = ("alerts", "alerty")
# The words typed for a day, 0 = Monday (what is shown comes from the locale catalogs).
_DAY_WORDS = {
    0: ("monday", "mon", "poniedziałek", "poniedzialek", "pon", "pn"),
    1: ("tuesday", "tue", "tues", "wtorek", "wt", "wto"),
    2: ("wednesday", "wed", "środa", "sroda", "śr", "sr", "śro"),
    3: ("thursday", "thu", "thur", "thurs", "czwartek", "czw", "cz"),
    4: ("friday", "fri", "piątek", "piatek", "pt", "pią", "pia"),
    5: ("saturday", "sat", "sobota", "sob", "so"),
    6: ("sunday", "sun", "niedziela", "ndz", "nd", "nie"),
}


def parse_switch(word: str) -> bool | None:
    """True for an "on" word, False for an "off" word (either language), else None."""
    folded = word.lower()
    return True if folded in ON else False if folded in OFF else None


def parse_weekday(word: str) -> int | None:
    """0-6 from a day name or abbreviation (Polish or English) or 1-7 (1 = Monday)."""
    folded = word.strip().lower().rstrip(".")
    if folded.isdigit() and 1 <= int(folded) <= 7:
        return int(folded) - 1
    for weekday, words in _DAY_WORDS.items():
        if folded in words:
            return weekday
    return None


@cache
def _zones() -> dict[str, str]:
    return {zone.lower(): zone for zone in available_timezones()}


def canonical_zone(name: str) -> str | None:
    """The IANA zone named `name`, in any letter case ("europe/lisbon"), or None."""
    return _zones().get(name.strip().lower())


def typed_change(args: Sequence[str], *, owns_product: bool) -> Changes:
    """The change `/settings NAME VALUE` asks for (`args`: NAME and the words of VALUE);
    BadTimezone, BadHour, BadDay, AlertsProductsOnly, or SettingsUsage when no setting
    is recognised."""
    name = args[0].lower()
    value = " ".join(args[1:]).strip()
    if name in _PAUSE | _RESUME:
        return {"paused": name in _PAUSE}
    if name in _ZONE_NAMES and value:
        zone = canonical_zone(value)
        if zone is None:
            raise BadTimezone(value)
        return {"timezone": zone}
    if name in _HOUR_NAMES and value:
        hour = value.split(":")[0]
        if not hour.isdigit() or not 0 <= int(hour) <= 23:
            raise BadHour(value)
        return {"hour": int(hour)}
    if name in _DAY_NAMES and value:
        weekday = parse_weekday(value)
        if weekday is None:
            raise BadDay(value)
        return {"weekday": weekday}
    switch = parse_switch(value)
    if name in _ALERT_NAMES and switch is not None:
        if not owns_product:
            raise AlertsProductsOnly("detractor alerts are about products")
        return {"detractor_alerts": switch}
    raise SettingsUsage(f"no setting in {' '.join(args)!r}")


def button_press(name: str, value: str, *, owns_product: bool) -> tuple[SettingsView, Changes]:
    """The view to show and the change to make for a /settings button's name and value;
    AlertsProductsOnly, or BadButton for a name or value no keyboard offers."""
    if name == SettingsButton.SHOW and value in tuple(SettingsView):
        return SettingsView(value), {}
    if name == SettingsButton.DAY and value.isdigit() and int(value) <= 6:
        return SettingsView.MAIN, {"weekday": int(value)}
    if name == SettingsButton.HOUR and value.isdigit() and int(value) <= 23:
        return SettingsView.MAIN, {"hour": int(value)}
    if name == SettingsButton.TZ and canonical_zone(value) == value:
        return SettingsView.MAIN, {"timezone": value}
    if name == SettingsButton.PAUSE and value in ("0", "1"):
        return SettingsView.MAIN, {"paused": value == "1"}
    if name == SettingsButton.ALERTS and value in ("0", "1"):
        if not owns_product:
            raise AlertsProductsOnly("detractor alerts are about products")
        return SettingsView.MAIN, {"detractor_alerts": value == "1"}
    raise BadButton(f"/settings button {name!r} {value!r}")
