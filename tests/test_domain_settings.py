"""domain.settings: /settings values, typed in either language or pressed, become changes."""

from __future__ import annotations

import pytest

from domain import settings
from domain.errors import (
    AlertsProductsOnly,
    BadButton,
    BadDay,
    BadHour,
    BadTimezone,
    SettingsError,
    SettingsUsage,
)
from domain.settings import Changes, SettingsView


@pytest.mark.parametrize(
    ("typed", "changes"),
    [
        ("pause", {"paused": True}),
        ("wznów", {"paused": False}),
        ("tz europe/lisbon", {"timezone": "Europe/Lisbon"}),
        ("godzina 8:30", {"hour": 8}),
        ("dzień środa", {"weekday": 2}),
        ("day 7", {"weekday": 6}),
        ("alerty wyłącz", {"detractor_alerts": False}),
        ("ALERTS On", {"detractor_alerts": True}),
    ],
)
def test_a_typed_setting_becomes_its_change(typed: str, changes: Changes) -> None:
    assert settings.typed_change(typed.split(), owns_product=True) == changes


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("tz Mars/Olympus", BadTimezone),
        ("hour 24", BadHour),
        ("hour eight", BadHour),
        ("day someday", BadDay),
        ("alerts on", AlertsProductsOnly),
        ("colour blue", SettingsUsage),
        ("hour", SettingsUsage),
        ("alerts maybe", SettingsUsage),
    ],
)
def test_a_typed_setting_that_cannot_be_taken_says_why(
    typed: str, error: type[SettingsError]
) -> None:
    with pytest.raises(error):
        settings.typed_change(typed.split(), owns_product=False)


def test_a_bad_value_is_kept_for_the_reply() -> None:
    with pytest.raises(BadDay) as bad_day:
        settings.typed_change(["day", "Someday"], owns_product=True)
    assert bad_day.value.day == "Someday"
    with pytest.raises(BadTimezone) as bad_zone:
        settings.typed_change(["strefa", "Mars/Olympus"], owns_product=True)
    assert bad_zone.value.zone == "Mars/Olympus"


@pytest.mark.parametrize(
    ("name", "value", "view", "changes"),
    [
        ("show", "tz", SettingsView.TZ, {}),
        ("show", "main", SettingsView.MAIN, {}),
        ("day", "6", SettingsView.MAIN, {"weekday": 6}),
        ("hour", "0", SettingsView.MAIN, {"hour": 0}),
        ("tz", "Europe/Warsaw", SettingsView.MAIN, {"timezone": "Europe/Warsaw"}),
        ("pause", "1", SettingsView.MAIN, {"paused": True}),
        ("alerts", "0", SettingsView.MAIN, {"detractor_alerts": False}),
    ],
)
def test_a_button_opens_a_view_or_changes_a_setting(
    name: str, value: str, view: SettingsView, changes: Changes
) -> None:
    assert settings.button_press(name, value, owns_product=True) == (view, changes)


@pytest.mark.parametrize(
    ("name", "value"),
    [("show", "week"), ("day", "7"), ("hour", "24"), ("tz", "europe/warsaw"), ("pause", "2")],
)
def test_a_button_no_keyboard_offers_is_refused(name: str, value: str) -> None:
    with pytest.raises(BadButton):
        settings.button_press(name, value, owns_product=True)


def test_alerts_are_for_owners_of_products() -> None:
    with pytest.raises(AlertsProductsOnly):
        settings.button_press("alerts", "1", owns_product=False)


def test_day_names_in_both_languages_and_numbers_from_monday() -> None:
    assert settings.parse_weekday("Pon.") == 0 == settings.parse_weekday("1")
    assert settings.parse_weekday("niedziela") == 6 == settings.parse_weekday("SUN")
    assert settings.parse_weekday("8") is None
    assert settings.parse_switch("TAK") is True and settings.parse_switch("nie") is False
    assert settings.parse_switch("maybe") is None
