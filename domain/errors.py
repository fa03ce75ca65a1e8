"""The errors a business rule raises; each front end says them in its own words.

    ValueError
    └── DomainError
        ├── InviteRuleError       an invite's kind, subject and role do not fit
        │   └── WrongSubjectKind  an employee invite for a product, a buyer one for a department
        └── SettingsError         a /settings value that cannot be taken
            ├── BadTimezone       not an IANA zone
            ├── BadHour           not 0-23
            ├── BadDay            not a day name or 1-7
            ├── AlertsProductsOnly
            ├── SettingsUsage     no setting recognised (show the usage)
            └── BadButton         a /settings button with a value no keyboard offers

ValueError at the root: storage.invites refuses what the rules refuse, as it always did.
"""

from __future__ import annotations

from storage.models import InviteKind, SubjectKind


class DomainError(ValueError):
    """A business rule refused the request."""


class InviteRuleError(DomainError):
    """An invite's kind, subject and role do not fit together."""


class WrongSubjectKind(InviteRuleError):
    """An invite of `kind` names a subject of `actual` kind where it needs `expected`."""

    def __init__(self, kind: InviteKind, actual: SubjectKind, expected: SubjectKind) -> None:
        super().__init__(f"an {kind.value} invite needs a {expected.value}, not a {actual.value}")
        self.kind = kind
        self.actual = actual
        self.expected = expected


class SettingsError(DomainError):
    """A /settings value that cannot be taken."""


class BadTimezone(SettingsError):
    """Not an IANA time zone."""

    def __init__(self, zone: str) -> None:
        super().__init__(f"unknown time zone {zone!r}")
        self.zone = zone


class BadHour(SettingsError):
    """Not an hour from 0 to 23."""


class BadDay(SettingsError):
    """Not a day name, abbreviation or number 1-7."""

    def __init__(self, day: str) -> None:
        super().__init__(f"unknown day {day!r}")
        self.day = day


class AlertsProductsOnly(SettingsError):
    """Detractor alerts are about products: an owner of departments only has none."""


class SettingsUsage(SettingsError):
    """No setting recognised in what was typed."""


class BadButton(SettingsError):
    """A /settings button whose name or value no keyboard offers (forged or stale)."""
