"""Suspending and reinstating a member: reasons, allowed states, the period on return, notices and audit."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditLog
from members.models import Member
from members.services import MembershipError, member_reinstate, member_suspend
from notifications.models import Notification
from tests.factories import MemberFactory

Status = Member.Status
TODAY = timezone.localdate()


def active(period_end=None, **kwargs):
    return MemberFactory(
        documents=[],
        status=Status.ACTIVE,
        activated_at=timezone.now(),
        registration_paid_at=timezone.now(),
        period_start=TODAY - datetime.timedelta(days=100),
        period_end=period_end or TODAY + datetime.timedelta(days=200),
        **kwargs,
    )


@pytest.mark.django_db(transaction=True)
def test_suspend_then_reinstate_an_active_member(reference_data, staff_user):
    member = active()
    member_suspend(member=member, reason="Unpaid levy", actor=staff_user)
    member.refresh_from_db()
    assert member.status == Status.SUSPENDED and member.status_reason == "Unpaid levy"
    assert Notification.objects.get(user=member.user, event="suspended").body.endswith("Unpaid levy")

    member = member_reinstate(member=member, reason="Levy paid", actor=staff_user)
    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert Notification.objects.filter(user=member.user, event="reinstated").count() == 1
    changes = AuditLog.objects.filter(action=AuditLog.Action.STATUS_CHANGED, target_id=str(member.pk))
    assert [(e.data["from"], e.data["to"], e.reason) for e in changes.order_by("id")] == [
        ("active", "suspended", "Unpaid levy"),
        ("suspended", "active", "Levy paid"),
    ]


@pytest.mark.django_db
def test_a_period_that_ran_out_during_the_suspension_lapses_at_once(reference_data, staff_user):
    member = active(period_end=TODAY - datetime.timedelta(days=400))
    member_suspend(member=member, reason="Investigation", actor=staff_user)
    member = member_reinstate(member=Member.objects.get(pk=member.pk), reason="Cleared", actor=staff_user)
    assert Member.objects.get(pk=member.pk).status == Status.EXPIRED


@pytest.mark.django_db
def test_an_approved_member_who_never_paid_goes_back_to_approved(reference_data, staff_user):
    member = MemberFactory(documents=[], status=Status.APPROVED, membership_number="KTS-2026-0099")
    member_suspend(member=member, reason="Query on documents", actor=staff_user)
    member_reinstate(member=Member.objects.get(pk=member.pk), reason="Resolved", actor=staff_user)
    assert Member.objects.get(pk=member.pk).status == Status.APPROVED


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.PENDING, Status.REJECTED, Status.SUSPENDED])
def test_only_members_can_be_suspended(reference_data, staff_user, status):
    member = MemberFactory(documents=[], status=status)
    with pytest.raises(MembershipError):
        member_suspend(member=member, reason="x", actor=staff_user)


@pytest.mark.django_db
def test_a_reason_is_required_and_only_suspended_members_are_reinstated(reference_data, staff_user):
    member = active()
    with pytest.raises(MembershipError, match="reason"):
        member_suspend(member=member, reason="  ", actor=staff_user)
    with pytest.raises(MembershipError, match="not suspended"):
        member_reinstate(member=member, reason="x", actor=staff_user)


@pytest.mark.django_db
class TestViews:
    def test_staff_suspend_and_reinstate_from_the_member_page(self, client, staff_user, reference_data):
        member = active()
        client.force_login(staff_user)
        page = client.get(reverse("dashboard:member_detail", args=[member.pk]))
        assert b'id="suspend-card"' in page.content
        response = client.post(reverse("dashboard:member_suspend", args=[member.pk]), {"reason": "Conduct"})
        assert response.status_code == 302
        assert Member.objects.get(pk=member.pk).status == Status.SUSPENDED
        page = client.get(reverse("dashboard:member_detail", args=[member.pk]))
        assert b'id="reinstate-card"' in page.content
        client.post(reverse("dashboard:member_reinstate", args=[member.pk]), {"reason": "Appeal upheld"})
        assert Member.objects.get(pk=member.pk).status == Status.ACTIVE

    def test_missing_reason_or_wrong_state_is_a_400_with_the_message(self, client, staff_user, reference_data):
        member = active()
        client.force_login(staff_user)
        response = client.post(reverse("dashboard:member_suspend", args=[member.pk]), {"reason": ""})
        assert response.status_code == 400 and b"Give a reason" in response.content
        response = client.post(reverse("dashboard:member_reinstate", args=[member.pk]), {"reason": "x"})
        assert response.status_code == 400 and b"not suspended" in response.content
        assert Member.objects.get(pk=member.pk).status == Status.ACTIVE

    def test_finance_cannot_suspend(self, client, finance_user, reference_data):
        member = active()
        client.force_login(finance_user)
        assert client.post(reverse("dashboard:member_suspend", args=[member.pk]), {"reason": "x"}).status_code == 403
        assert b'id="suspend-card"' not in client.get(reverse("dashboard:member_detail", args=[member.pk])).content
