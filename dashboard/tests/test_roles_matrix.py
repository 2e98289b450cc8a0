"""Every staff URL, for every role: the permission matrix of the issue, walked from the URL configuration.

A staff URL that is added without an entry here fails `test_the_matrix_covers_every_staff_url`, so the
matrix cannot fall behind the routes. What each view does is tested beside it; here only who gets in.
"""

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver

from audit.models import AuditLog
from audit.services import audit_log
from dashboard.models import ExportJob
from members.models import Member
from payments.models import Payment
from privacy.models import ErasureRequest
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STAFF_SIDE = {"staff", "finance", "admin"}
ROLES = ["anonymous", "member", "no_role", "staff", "finance", "admin"]

# name: (method, path, roles allowed in). Paths are filled from the objects the `world` fixture makes.
MATRIX = {
    "home": ("get", "/staff/", STAFF_SIDE),
    "applications": ("get", "/staff/applications/", STAFF_SIDE),
    "members": ("get", "/staff/members/", STAFF_SIDE),
    "member_detail": ("get", "/staff/members/{member}/", STAFF_SIDE),
    "member_certificate": ("get", "/staff/members/{active}/certificate/", STAFF_SIDE),
    "members_remind": ("post", "/staff/members/remind/", {"staff", "admin"}),
    "member_suspend": ("post", "/staff/members/{active}/suspend/", {"staff", "admin"}),
    "member_reinstate": ("post", "/staff/members/{active}/reinstate/", {"staff", "admin"}),
    "member_approve": ("post", "/staff/members/{member}/approve/", {"staff", "admin"}),
    "member_reject": ("post", "/staff/members/{member}/reject/", {"staff", "admin"}),
    "document_verify": ("post", "/staff/documents/{document}/verify/", {"staff", "admin"}),
    "document_reject": ("post", "/staff/documents/{document}/reject/", {"staff", "admin"}),
    "member_record_payment": ("post", "/staff/members/{member}/record-payment/", {"finance", "admin"}),
    "payments": ("get", "/staff/payments/", {"finance", "admin"}),
    "payment_detail": ("get", "/staff/payments/{payment}/", {"finance", "admin"}),
    # Settling a payment that was not applied: an empty POST is refused with a 400 (no resolution chosen).
    "payment_settle": ("post", "/staff/payments/{payment}/settle/", {"finance", "admin"}),
    "member_export": ("get", "/staff/members/export/?format=csv", {"finance", "admin"}),
    "exports": ("get", "/staff/exports/", {"finance", "admin"}),
    "export_download": ("get", "/staff/exports/{export}/download/", {"finance", "admin"}),
    "audit": ("get", "/staff/audit/", {"admin"}),
    "audit_detail": ("get", "/staff/audit/{audit}/", {"admin"}),
    # Failed-login lockouts (accounts.security): the axes permissions, which only Admin holds. An empty POST
    # is refused with a message and a redirect back.
    "security_lockouts": ("get", "/staff/security/lockouts/", {"admin"}),
    "security_lockout_clear": ("post", "/staff/security/lockouts/clear/", {"admin"}),
    # Erasure decisions (privacy app): Admin only (accounts.roles.ADMIN_ONLY_PERMISSIONS). An empty POST is
    # refused with a 400 (no confirmation, no reason), so the matrix never erases anyone.
    "erasure_requests": ("get", "/staff/erasure-requests/", {"admin"}),
    "erasure_approve": ("post", "/staff/erasure-requests/{erasure}/approve/", {"admin"}),
    "erasure_refuse": ("post", "/staff/erasure-requests/{erasure}/refuse/", {"admin"}),
}


def _staff_url_names():
    names = set()
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace == "dashboard":
            for pattern in entry.url_patterns:
                assert isinstance(pattern, URLPattern), pattern
                names.add(pattern.name)
    return names


def test_the_matrix_covers_every_staff_url():
    assert _staff_url_names() == set(MATRIX)


@pytest.fixture
def world(alice, bob):
    Member.objects.filter(pk=bob.pk).update(
        status=Member.Status.ACTIVE, membership_number="KTS-2026-0007", period_end="2099-01-01"
    )
    payment = Payment.objects.create(
        member=alice, payment_type="registration", amount=5000, phone_number="254712345678"
    )
    entry = audit_log(action=AuditLog.Action.REGISTERED, actor=alice.user, target=alice)
    return {
        "member": alice.pk,
        "active": bob.pk,
        "document": alice.documents.first().pk,
        "payment": payment.reference,
        "audit": entry.pk,
        "erasure": ErasureRequest.objects.create(member=alice).pk,
    }


def _export_for(user):
    job = ExportJob.objects.create(
        user=user or UserFactory(), format="csv", status=ExportJob.Status.DONE, row_count=0, query_string=""
    )
    job.file.save("matrix.csv", ContentFile(b"membership number\r\n"), save=True)
    return job.pk


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("name", list(MATRIX))
def test_who_gets_in(client, login_as, world, name, who):
    method, path, allowed = MATRIX[name]
    user = login_as(who)
    url = path.format(**world, export=_export_for(user) if "{export}" in path else "")
    response = getattr(client, method)(url)
    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    elif who in allowed:
        # In: the page, the file, or the action's own answer (done, or refused for the data: a 400).
        assert response.status_code in {200, 302, 400}, (response.status_code, url)
        if response.status_code == 302:
            assert not response["Location"].startswith("/login/")
    else:
        assert response.status_code == 403, (response.status_code, url)


def test_the_matrix_follows_the_role_definitions():
    """The roles that may enter each page are exactly those whose permissions include the view's."""
    from accounts.roles import FINANCE, ROLE_PERMISSIONS, STAFF

    needs = {
        "members": {"members.view_member"},
        "members_remind": {"members.view_member", "members.change_member"},
        "member_suspend": {"members.view_member", "members.change_member"},
        "payments": {"payments.view_all_payments"},
        "payment_settle": {"payments.view_all_payments", "payments.settle_unapplied_payment"},
        "member_export": {"members.export_member"},
        "audit": {"audit.view_auditlog"},
        "security_lockouts": {"axes.view_accessattempt"},
        "erasure_requests": {"privacy.decide_erasure"},
    }
    roles = {"staff": set(ROLE_PERMISSIONS[STAFF]), "finance": set(ROLE_PERMISSIONS[FINANCE])}
    for name, perms in needs.items():
        expected = {role for role, granted in roles.items() if perms <= granted} | {"admin"}
        assert MATRIX[name][2] == expected, name
