"""Every model registered in the admin site loads for a superuser: list, search, change and add pages."""

import html

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Consent
from audit.models import AuditLog
from audit.services import audit_log
from core.models import YearlyCounter
from dashboard.models import ExportJob
from members.models import Document, Member, ReminderLog
from notifications.models import Message, Notification
from payments.models import MpesaCallback, Payment
from privacy.models import ErasureRequest
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REGISTRY = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
IDS = [model._meta.label for model, _ in REGISTRY]


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@example.com", first_name="Root", is_staff=True, is_superuser=True)


@pytest.fixture
def everything(alice, bob, superuser):
    """At least one row of every registered model."""
    payment = Payment.objects.create(
        member=alice, payment_type="registration", amount=5000, phone_number="254712345678"
    )
    MpesaCallback.objects.create(body="{}", payment=payment, checkout_request_id="ws_CO_1")
    Message.objects.create(channel="sms", event="approved", recipient="254712345678", body="x")
    Notification.objects.create(user=alice.user, event="approved", title="Your membership has been approved")
    ReminderLog.objects.create(member=alice, period_end=timezone.localdate(), kind="due_30")
    YearlyCounter.objects.create(prefix="KTS", year=timezone.localdate().year, last_value=7)
    ExportJob.objects.create(user=superuser, format="csv", query_string="status=active")
    RefreshToken.for_user(superuser).blacklist()  # an outstanding token, and its blacklisting
    audit_log(action=AuditLog.Action.REGISTERED, actor=alice.user, target=alice, data={"category": "full"})
    Consent.objects.create(user=alice.user, purpose="privacy_notice", version="2026-11", channel="web")
    ErasureRequest.objects.create(member=bob, member_note="Moving abroad")
    assert Group.objects.exists()


def _admin_url(model, view, *args):
    from django.urls import reverse

    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_the_admin_registry_covers_the_projects_models():
    registered = {model._meta.label for model in admin.site._registry}
    assert {
        "accounts.User",
        "auth.Group",
        "audit.AuditLog",
        "members.Country",
        "members.Region",
        "members.MembershipCategory",
        "core.YearlyCounter",
        "members.Member",
        "members.Document",
    } <= registered


@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=IDS)
def test_every_changelist_loads_for_a_superuser(client, superuser, everything, model, model_admin):
    client.force_login(superuser)
    response = client.get(_admin_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=IDS)
def test_every_changelist_search_and_filter_works(client, superuser, everything, model, model_admin):
    client.force_login(superuser)
    url = _admin_url(model, "changelist")
    if model_admin.search_fields:
        for query in ["a", "example.com", "Nairobi", "KTS-2026-0001", "0712345678", "254", "'; drop table x; --"]:
            response = client.get(url, {"q": query})
            assert response.status_code == 200, query
    for list_filter in model_admin.list_filter:
        name = list_filter if isinstance(list_filter, str) else None
        if name and "__" not in name:
            response = client.get(url, {f"{name}__isnull": "False"})
            assert response.status_code == 200, name


@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=IDS)
def test_every_change_page_loads_for_a_superuser(client, superuser, everything, model, model_admin):
    client.force_login(superuser)
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"the fixture made no {model._meta.label}"
    response = client.get(_admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert str(obj) in html.unescape(response.content.decode())


@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=IDS)
def test_every_add_page_loads_or_is_refused(client, superuser, everything, model, model_admin):
    client.force_login(superuser)
    response = client.get(_admin_url(model, "add"))
    expected = 200 if model_admin.has_add_permission(response.wsgi_request) else 403
    assert response.status_code == expected


def test_the_member_search_finds_by_email_id_number_and_phone(client, superuser, alice, bob):
    client.force_login(superuser)
    url = _admin_url(Member, "changelist")
    for query in ["alice@example.com", alice.id_number, alice.phone_number, "ALICE"]:
        response = client.get(url, {"q": query})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [alice], query
    response = client.get(url, {"q": "nobody-like-this"})
    assert list(response.context["cl"].result_list) == []


def test_the_user_search_finds_by_name_and_email(client, superuser, alice, bob):
    client.force_login(superuser)
    response = client.get(_admin_url(alice.user.__class__, "changelist"), {"q": "bob@exam"})
    assert list(response.context["cl"].result_list) == [bob.user]


def test_the_document_search_finds_a_members_documents(client, superuser, alice, bob):
    client.force_login(superuser)
    response = client.get(_admin_url(Document, "changelist"), {"q": "alice@example.com"})
    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == set(alice.documents.all())


def test_the_admin_document_page_never_links_to_a_media_url(client, superuser, alice, settings):
    # Documents are private: the admin may offer the checked download view, never a media URL.
    document = alice.documents.first()
    client.force_login(superuser)
    page = client.get(_admin_url(Document, "change", document.pk)).content.decode()
    assert f'href="{settings.MEDIA_URL}' not in page
    assert f'href="/documents/{document.pk}/"' in page
    assert client.get(f"/documents/{document.pk}/").status_code == 200


def test_the_admin_keeps_protected_member_fields_read_only(client, superuser, alice):
    client.force_login(superuser)
    page = client.get(_admin_url(Member, "change", alice.pk)).content.decode()
    for field in ["status", "membership_number", "registration_paid_at", "period_end"]:
        assert f'name="{field}"' not in page, field
