"""Exceptions raised by the storage layer.

    StorageError                 base: anything storage refuses to do
    ├── NotFound                 no subject, invite, session, ... with that key
    ├── DuplicateSlug            a subject with this slug exists (archived ones too)
    ├── InvalidSlug              a slug outside ^[a-z0-9][a-z0-9-]*$ (or too long)
    ├── HasResponses             a subject with responses cannot be deleted (archive it)
    ├── InviteError(problem)     an invite cannot be used: malformed, unknown, expired,
    │                            revoked or used up (see InviteProblem)
    ├── AlreadyAnswered(next_possible)
    │                            one response per respondent, subject and period
    ├── AmbiguousPrefix          a token prefix matches several invites
    ├── ActiveSessionExists      the respondent already has an active session
    └── SessionNotActive         the session was completed, abandoned or cancelled

The messages are plain English for logs and the CLI; the bot turns the classes
(and their attributes) into localized replies.
"""

from __future__ import annotations

from datetime import date

from storage.models import InviteProblem


class StorageError(Exception):
    """Base class of every error the storage layer raises on purpose."""


class NotFound(StorageError):
    """No row with the given key."""


class DuplicateSlug(StorageError):
    """A subject with this slug already exists."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"a subject with slug {slug!r} already exists")
        self.slug = slug


class InvalidSlug(StorageError):
    """A slug with characters outside [a-z0-9-] (or not starting with a letter or digit)."""

    def __init__(self, slug: str) -> None:
        super().__init__(
            f"invalid slug {slug!r}: use lowercase letters, digits and '-', "
            "starting with a letter or digit (at most 64 characters)"
        )
        self.slug = slug


class HasResponses(StorageError):
    """The subject has responses; removing it would delete history."""

    def __init__(self, slug: str, responses: int) -> None:
        super().__init__(
            f"subject {slug!r} has {responses} response(s); use force to archive it instead"
        )
        self.slug = slug
        self.responses = responses


class InviteError(StorageError):
    """An invite token that cannot be used, with the precise reason in `problem`."""

    def __init__(self, problem: InviteProblem) -> None:
        super().__init__(f"invite {problem.value}")
        self.problem = problem


class AlreadyAnswered(StorageError):
    """The respondent already answered about this subject in this period."""

    def __init__(self, next_possible: date) -> None:
        super().__init__(f"already answered; next possible on {next_possible.isoformat()}")
        self.next_possible = next_possible


class AmbiguousPrefix(StorageError):
    """A token prefix matches more than one invite."""

    def __init__(self, prefix: str, matches: int) -> None:
        super().__init__(f"prefix {prefix!r} matches {matches} invites; give more characters")
        self.prefix = prefix
        self.matches = matches


class ActiveSessionExists(StorageError):
    """A respondent may have at most one active session."""

    def __init__(self, session_id: int) -> None:
        super().__init__(f"the respondent already has an active session ({session_id})")
        self.session_id = session_id


class SessionNotActive(StorageError):
    """The session is no longer active (completed, abandoned or cancelled) or does not exist."""

    def __init__(self, session_id: int, status: str | None) -> None:
        state = status if status is not None else "missing"
        super().__init__(f"session {session_id} is not active ({state})")
        self.session_id = session_id
        self.status = status
