"""Invite rules: the subject or role each kind of invite needs, how often one may be used
by default, and what opening one does. Asked by the chat's /invite, the CLI's `invite
create`, the dashboard's admin pages and storage.invites (which refuses what they refuse)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import InviteRuleError, WrongSubjectKind
from storage.models import Invite, InviteKind, MemberRole, SubjectKind

PARTNER_ROLES = (MemberRole.CONTRACTOR, MemberRole.SUPPLIER)
"""The roles a partner invite registers (partners belong to no department)."""

_SUBJECT_KIND: dict[InviteKind, SubjectKind | None] = {
    InviteKind.EMPLOYEE: SubjectKind.DEPARTMENT,  # join it
    InviteKind.BUYER: SubjectKind.PRODUCT,  # rate it
    InviteKind.OWNER: None,  # own either kind
}


def needs_subject(kind: InviteKind) -> bool:
    """Whether an invite of this kind is for a subject (every kind but partner)."""
    return kind is not InviteKind.PARTNER


def subject_kind_for(kind: InviteKind) -> SubjectKind | None:
    """The kind of subject an invite of `kind` needs; None when any will do (owner) or it
    takes none (partner)."""
    return _SUBJECT_KIND.get(kind)


def invite_for(subject: SubjectKind) -> InviteKind:
    """The invite with which people evaluate a subject of this kind."""
    return InviteKind.BUYER if subject is SubjectKind.PRODUCT else InviteKind.EMPLOYEE


def default_max_uses(kind: InviteKind) -> int | None:
    """Uses allowed when none are asked for: an owner link is single-use (whoever opens it
    reads the digests), the others unlimited (None)."""
    return 1 if kind is InviteKind.OWNER else None


def check_subject(kind: InviteKind, subject: SubjectKind) -> None:
    """WrongSubjectKind when an invite of `kind` cannot be for a subject of this kind."""
    wanted = subject_kind_for(kind)
    if not needs_subject(kind):
        raise InviteRuleError(f"a {kind.value} invite has no subject")
    if wanted is not None and subject is not wanted:
        raise WrongSubjectKind(kind, subject, wanted)


def stored_role(
    kind: InviteKind, subject: SubjectKind | None, role: MemberRole | None, *, has_subject: bool
) -> MemberRole | None:
    """The role an invite of `kind` records, after checking its subject and role fit
    (InviteRuleError otherwise): employee, a department (role employee); partner, no
    subject and the role contractor or supplier; buyer, a product; owner, any subject.
    `subject` is the kind of the invite's subject when it has one (`has_subject`)."""
    if not needs_subject(kind):
        if has_subject:
            raise InviteRuleError("a partner invite has no subject")
        if role not in PARTNER_ROLES:
            raise InviteRuleError("a partner invite needs the role contractor or supplier")
        return role
    if not has_subject or subject is None:
        raise InviteRuleError(f"an {kind.value} invite needs a subject")
    check_subject(kind, subject)
    if kind is InviteKind.EMPLOYEE:
        if role not in (None, MemberRole.EMPLOYEE):
            raise InviteRuleError("an employee invite registers employees")
        return MemberRole.EMPLOYEE
    if role is not None:
        raise InviteRuleError(f"an {kind.value} invite has no role")
    return None


# --- what opening an invite does ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registers:
    """The person becomes a member: an employee of a department, or a partner."""

    role: MemberRole
    department_id: int | None


@dataclass(frozen=True, slots=True)
class BecomesOwner:
    """The person owns the subject: its digests come to them."""

    subject_id: int


@dataclass(frozen=True, slots=True)
class StartsSurvey:
    """A buyer: the product's survey starts at once (nothing is registered)."""

    subject_id: int


Opening = Registers | BecomesOwner | StartsSurvey


def opening(invite: Invite) -> Opening:
    """What opening this invite does."""
    if invite.kind is InviteKind.EMPLOYEE:
        return Registers(MemberRole.EMPLOYEE, invite.subject_id)
    if invite.kind is InviteKind.PARTNER:
        return Registers(invite.role or MemberRole.CONTRACTOR, None)
    assert invite.subject_id is not None  # storage.invites stores none without one
    if invite.kind is InviteKind.OWNER:
        return BecomesOwner(invite.subject_id)
    return StartsSurvey(invite.subject_id)
