"""domain.invites: the subject each kind of invite fits, its default uses, what opening it does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain import invites
from domain.errors import InviteRuleError, WrongSubjectKind
from domain.invites import BecomesOwner, Registers, StartsSurvey
from storage.models import Invite, InviteKind, MemberRole, SubjectKind

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def invite(kind: InviteKind, subject_id: int | None, role: MemberRole | None = None) -> Invite:
    return Invite(
        id=1,
        kind=kind,
        subject_id=subject_id,
        role=role,
        prefix="abcdefgh",
        max_uses=None,
        uses=0,
        expires_at=None,
        revoked_at=None,
        created_at=NOW,
        created_by=None,
    )


@pytest.mark.parametrize(
    ("kind", "subject", "fits"),
    [
        (InviteKind.EMPLOYEE, SubjectKind.DEPARTMENT, True),
        (InviteKind.EMPLOYEE, SubjectKind.PRODUCT, False),
        (InviteKind.BUYER, SubjectKind.PRODUCT, True),
        (InviteKind.BUYER, SubjectKind.DEPARTMENT, False),
        (InviteKind.OWNER, SubjectKind.DEPARTMENT, True),
        (InviteKind.OWNER, SubjectKind.PRODUCT, True),
    ],
)
def test_each_invite_fits_its_kinds_of_subject(
    kind: InviteKind, subject: SubjectKind, fits: bool
) -> None:
    if fits:
        invites.check_subject(kind, subject)
        return
    with pytest.raises(WrongSubjectKind) as wrong:
        invites.check_subject(kind, subject)
    assert (wrong.value.actual, wrong.value.expected) == (subject, invites.subject_kind_for(kind))


def test_a_partner_invite_has_a_role_and_no_subject() -> None:
    assert (
        invites.stored_role(InviteKind.PARTNER, None, MemberRole.SUPPLIER, has_subject=False)
        is MemberRole.SUPPLIER
    )
    for role in (None, MemberRole.EMPLOYEE):
        with pytest.raises(InviteRuleError):
            invites.stored_role(InviteKind.PARTNER, None, role, has_subject=False)
    with pytest.raises(InviteRuleError):
        invites.stored_role(
            InviteKind.PARTNER, SubjectKind.DEPARTMENT, MemberRole.SUPPLIER, has_subject=True
        )
    with pytest.raises(InviteRuleError):
        invites.check_subject(InviteKind.PARTNER, SubjectKind.DEPARTMENT)


def test_an_employee_invite_records_the_employee_role_and_the_others_none() -> None:
    department, product = SubjectKind.DEPARTMENT, SubjectKind.PRODUCT
    assert invites.stored_role(InviteKind.EMPLOYEE, department, None, has_subject=True) is (
        MemberRole.EMPLOYEE
    )
    assert invites.stored_role(InviteKind.BUYER, product, None, has_subject=True) is None
    assert invites.stored_role(InviteKind.OWNER, department, None, has_subject=True) is None
    with pytest.raises(InviteRuleError):
        invites.stored_role(InviteKind.BUYER, product, MemberRole.SUPPLIER, has_subject=True)
    with pytest.raises(InviteRuleError):
        invites.stored_role(InviteKind.OWNER, None, None, has_subject=False)


def test_owner_links_are_single_use_by_default_and_the_others_unlimited() -> None:
    assert invites.default_max_uses(InviteKind.OWNER) == 1
    for kind in (InviteKind.EMPLOYEE, InviteKind.PARTNER, InviteKind.BUYER):
        assert invites.default_max_uses(kind) is None


def test_people_evaluate_a_product_as_buyers_and_a_department_as_employees() -> None:
    assert invites.invite_for(SubjectKind.PRODUCT) is InviteKind.BUYER
    assert invites.invite_for(SubjectKind.DEPARTMENT) is InviteKind.EMPLOYEE


def test_what_opening_each_kind_of_invite_does() -> None:
    assert invites.opening(invite(InviteKind.EMPLOYEE, 7, MemberRole.EMPLOYEE)) == Registers(
        MemberRole.EMPLOYEE, 7
    )
    assert invites.opening(invite(InviteKind.PARTNER, None, MemberRole.SUPPLIER)) == Registers(
        MemberRole.SUPPLIER, None
    )
    assert invites.opening(invite(InviteKind.OWNER, 3)) == BecomesOwner(3)
    assert invites.opening(invite(InviteKind.BUYER, 4)) == StartsSurvey(4)


def test_domain_errors_are_value_errors() -> None:
    """storage.invites refuses what the rules refuse with the ValueError it always raised."""
    assert issubclass(InviteRuleError, ValueError)
