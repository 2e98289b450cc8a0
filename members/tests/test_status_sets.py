"""The named status sets and the properties built on them, which views, services and templates share."""

import datetime

import pytest

from members.models import Member

Status = Member.Status


def member(status, *, paid=False, period_end=None):
    return Member(
        status=status,
        registration_paid_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) if paid else None,
        period_end=period_end,
    )


def test_every_status_is_under_review_with_a_period_or_neither():
    assert not set(Member.UNDER_REVIEW) & set(Member.WITH_PERIOD)
    assert set(Status.values) - set(Member.UNDER_REVIEW) - set(Member.WITH_PERIOD) == {
        Status.REJECTED,
        Status.SUSPENDED,
    }


@pytest.mark.parametrize("status", [Status.PENDING, Status.APPROVED])
def test_an_application_under_review_owes_the_fee_until_it_is_paid(status):
    assert member(status).registration_fee_due
    assert not member(status, paid=True).registration_fee_due


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.REJECTED, Status.SUSPENDED])
def test_only_applications_under_review_owe_the_registration_fee(status):
    assert not member(status).registration_fee_due


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.GRACE, Status.EXPIRED])
def test_a_membership_with_an_end_date_can_renew(status):
    assert member(status, period_end=datetime.date(2027, 1, 1)).can_renew
    assert not member(status).can_renew  # a life membership has no end date


@pytest.mark.parametrize("status", [Status.PENDING, Status.APPROVED, Status.REJECTED, Status.SUSPENDED])
def test_other_statuses_cannot_renew(status):
    assert not member(status, period_end=datetime.date(2027, 1, 1)).can_renew
