"""Pins of security-relevant facts that a careless change could undo."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from audit.models import AuditLog

# Only the Daraja callback views may be CSRF-exempt. Adding one means adding it here.
CSRF_EXEMPT_ALLOWED = {
    "api/mpesa/callback/",
    "api/mpesa/callback/<str:token>/",
    # Paybill/Till (C2B): authenticated by the secret in the URL (payments.c2b_views).
    "api/c2b/<str:secret>/confirmation/",
    "api/c2b/<str:secret>/validation/",
}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _is_token_only_api(view) -> bool:
    """A DRF view that authenticates by bearer token only: no session cookie, so no CSRF to forge."""
    from rest_framework.authentication import SessionAuthentication

    cls = getattr(view, "cls", None)
    if cls is None:
        return False
    return not any(issubclass(auth, SessionAuthentication) for auth in cls.authentication_classes)


@pytest.mark.security_check(12)
def test_only_the_daraja_callbacks_are_csrf_exempt():
    exempt = {
        route
        for route, view in _walk(get_resolver().url_patterns)
        if getattr(view, "csrf_exempt", False) and not route.startswith("admin/") and not _is_token_only_api(view)
    }
    assert exempt == CSRF_EXEMPT_ALLOWED


def test_api_views_never_accept_the_session_cookie():
    api_views = [view for route, view in _walk(get_resolver().url_patterns) if getattr(view, "cls", None)]
    assert api_views
    assert all(_is_token_only_api(view) for view in api_views)


@pytest.mark.django_db
def test_member_edits_in_the_admin_are_audited_by_field_name_only(client, alice, admin_user):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    url = f"/admin/members/member/{alice.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "user": alice.user_id,
            "category": alice.category_id,
            "country": alice.country_id,
            "region": alice.region_id,
            "date_of_birth": "1990-01-15",
            "id_number": "99887766",
            "documents-TOTAL_FORMS": "3",
            "documents-INITIAL_FORMS": "3",
            "documents-MIN_NUM_FORMS": "0",
            "documents-MAX_NUM_FORMS": "1000",
        }
    )
    for index, document in enumerate(alice.documents.order_by("doc_type", "-uploaded_at")):
        data[f"documents-{index}-id"] = document.pk
        data[f"documents-{index}-member"] = alice.pk
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    entry = AuditLog.objects.get(action=AuditLog.Action.PROFILE_CHANGED, target_id=str(alice.pk))
    assert entry.data == {"fields": ["id_number"], "via": "admin"}
    assert "99887766" not in str(entry.data)


@pytest.mark.django_db
def test_role_changes_in_the_admin_are_audited(client, admin_user, alice):
    from django.contrib.auth.models import Group

    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    user = alice.user
    finance = Group.objects.get(name="Finance")
    response = client.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "is_active": "on",
            "is_staff": "on",
            "groups": [finance.pk, Group.objects.get(name="Member").pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    assert response.status_code == 302
    entry = AuditLog.objects.get(action=AuditLog.Action.ROLE_CHANGED, target_id=str(user.pk))
    assert entry.actor == admin_user
    assert entry.data["groups_added"] == ["Finance"]
    assert entry.data["is_staff"] is True
