"""Frozen dataclasses and enums that the repositories return (never database rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from surveys.schema import Audience


class SubjectKind(StrEnum):
    """What a subject is: a department (internal survey) or a product (external survey)."""

    DEPARTMENT = "department"
    PRODUCT = "product"

    @property
    def audience(self) -> Audience:
        """The audience whose surveys evaluate this kind of subject."""
        return Audience.INTERNAL if self is SubjectKind.DEPARTMENT else Audience.EXTERNAL


@dataclass(frozen=True, slots=True)
class Subject:
    """A department or a product that is evaluated."""

    id: int
    slug: str
    kind: SubjectKind
    names: dict[str, str]
    survey_id: str
    archived: bool
    created_at: datetime

    def name(self, lang: str) -> str:
        """The name in `lang`, falling back to English, any other language, then the slug."""
        for text in (self.names.get(lang), self.names.get("en"), *self.names.values()):
            if text:
                return text
        return self.slug


class MemberRole(StrEnum):
    """How an internal customer relates to the company."""

    EMPLOYEE = "employee"
    CONTRACTOR = "contractor"
    SUPPLIER = "supplier"


class InvitationSource(StrEnum):
    """How a member was invited to answer in a week (member_invitations.source)."""

    LINK = "link"  # registered through an invite link
    PULSE = "pulse"  # the periodic invitation


@dataclass(frozen=True, slots=True)
class Member:
    """A registered internal customer. `department_id` is None for contractors and
    suppliers, and for an employee whose department was deleted (they pick again)."""

    telegram_id: int
    role: MemberRole
    department_id: int | None
    lang: str | None
    pulse_muted: bool
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    """Anyone who has talked to the bot; `lang` is their chosen or Telegram language."""

    telegram_id: int
    lang: str | None
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class Owner:
    """A Telegram user who owns (receives digests for) a subject."""

    telegram_id: int
    subject_id: int
    since: datetime


@dataclass(frozen=True, slots=True)
class OwnerSettings:
    """When and how an owner gets digests. weekday: 0=Monday..6=Sunday; hour: 0-23 local."""

    telegram_id: int
    weekday: int
    hour: int
    timezone: str
    paused: bool
    detractor_alerts: bool
    active: bool
    lang: str


class InviteKind(StrEnum):
    """What an invite link opens."""

    EMPLOYEE = "employee"  # join a department
    PARTNER = "partner"  # contractor or supplier, no department
    BUYER = "buyer"  # rate a product
    OWNER = "owner"  # take ownership of a subject


class InviteProblem(StrEnum):
    """Why an invite token cannot be used."""

    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    USED_UP = "used_up"


@dataclass(frozen=True, slots=True)
class Invite:
    """An invite; the token itself is never stored, only its keyed hash and `prefix`."""

    id: int
    kind: InviteKind
    subject_id: int | None
    role: MemberRole | None
    prefix: str
    max_uses: int | None
    uses: int
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    created_by: int | None

    def problem(self, now: datetime) -> InviteProblem | None:
        """Why the invite cannot be used at `now`, or None when it can."""
        if self.revoked_at is not None:
            return InviteProblem.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return InviteProblem.EXPIRED
        if self.max_uses is not None and self.uses >= self.max_uses:
            return InviteProblem.USED_UP
        return None


class SessionStatus(StrEnum):
    """Where a session is in its life."""

    ACTIVE = "active"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Session:
    """One respondent's run through one survey for one subject.

    Only an active session holds an identity (`respondent_id`, `chat_id`) and a state;
    once it ends they are cleared (`state_json` becomes "{}")."""

    id: int
    respondent_id: int | None
    chat_id: int | None
    survey_id: str
    survey_version: int
    subject_id: int
    audience: Audience
    role: str | None
    state_json: str
    status: SessionStatus
    started_at: datetime
    updated_at: datetime
    message_id: int | None
    reminded_at: datetime | None
    week_key: str
    # The current question may not have reached the respondent (see migration 0005).
    prompt_pending: bool = False


class ResponseStatus(StrEnum):
    """A response is completed, or partial (kept from an abandoned session)."""

    COMPLETED = "completed"
    PARTIAL = "partial"


@dataclass(frozen=True, slots=True)
class Response:
    """A submitted (or abandoned-partial) response; it holds no identity. `id` is random,
    `submitted_at` of an internal one is the start of its week."""

    id: int
    subject_id: int
    survey_id: str
    survey_version: int
    audience: Audience
    week_key: str
    status: ResponseStatus
    role: str | None
    submitted_at: datetime


class OutboxStatus(StrEnum):
    """Delivery state of an outbox item."""

    PENDING = "pending"
    RETRY = "retry"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A message (or a multi-part digest) waiting to be, or already, delivered."""

    id: int
    kind: str
    dedup_key: str
    chat_id: int
    payload_json: str
    due_at: datetime
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    parts_sent: int
    last_error: str | None
    sent_at: datetime | None = None
    # The sender holding the item (a per-process id) and until when, while one does.
    claimed_by: str | None = None
    claimed_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class PeriodCounts:
    """Sessions started and responses completed or partial in some weeks.

    `completed` counts the responses filed in the weeks, whenever their sessions started;
    `started_completed` how many of the sessions started in the weeks have completed
    (whenever they did): the completion rate's cohort. None when some of the weeks were
    counted before completions were (migration 0006)."""

    started: int
    completed: int
    partial: int
    started_completed: int | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    """A free-text answer and when its response was submitted (for an internal one, the
    start of its week)."""

    question_id: str
    text: str
    submitted_at: datetime
