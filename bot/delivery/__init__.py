"""Delivery: the schedule of digests and pulses, the outbox sender and detractor alerts.

- `scheduler`: when things are due (pure functions of settings and time) and the
  sender loop that enqueues them into the outbox and drains it, every minute and at
  once when an alert is queued (`wakeup`);
- `sender`: drains the outbox through the Bot API, exactly once per item and part;
- `alerts`: the hook the survey flow calls after a completed response.

Outbox kinds and dedup keys (each names what must happen once):
  digest  digest:<owner>:<subject id>:<period, e.g. 2026-W48>
  pulse   pulse:<member>:<pulse period, e.g. 2026-W45>
  alert   alert:<owner>:<session id>
"""

from __future__ import annotations

from enum import StrEnum


class OutboxKind(StrEnum):
    """What an outbox item delivers (the `kind` column; its dedup key starts with it)."""

    DIGEST = "digest"
    PULSE = "pulse"
    ALERT = "alert"


def digest_key(owner_id: int, subject_id: int, period_key: str) -> str:
    """The dedup key of one owner's digest of one subject and period."""
    return f"{OutboxKind.DIGEST}:{owner_id}:{subject_id}:{period_key}"


def pulse_key(member_id: int, pulse_period: str) -> str:
    """The dedup key of one member's pulse invitation."""
    return f"{OutboxKind.PULSE}:{member_id}:{pulse_period}"


def alert_key(owner_id: int, session_id: int) -> str:
    """The dedup key of one owner's alert about one response (its session)."""
    return f"{OutboxKind.ALERT}:{owner_id}:{session_id}"
