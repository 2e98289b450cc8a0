"""The audit trail is append-only, in code and in the admin."""

import pytest
from django.db import IntegrityError, transaction

from audit.models import AppendOnlyError, AuditLog
from audit.services import audit_log
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(db):
    actor = UserFactory(email="ada.actor@example.com")
    return audit_log(
        action=AuditLog.Action.STATUS_CHANGED,
        actor=actor,
        target=actor,
        data={"from": "pending", "to": "approved"},
        reason="All documents verified.",
    )


def _unchanged(entry):
    stored = AuditLog.objects.get(pk=entry.pk)
    return (stored.action, stored.reason, stored.data, stored.actor_repr) == (
        AuditLog.Action.STATUS_CHANGED,
        "All documents verified.",
        {"from": "pending", "to": "approved"},
        "ada.actor@example.com",
    )


def test_a_new_entry_can_be_written(entry):
    assert AuditLog.objects.filter(pk=entry.pk).exists()
    assert entry.actor_repr == "ada.actor@example.com"
    assert entry.target_type == "accounts.user"
    assert _unchanged(entry)


def test_an_entry_cannot_be_changed_by_saving_it(entry):
    entry.reason = "Nothing to see here."
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.save(update_fields=["reason"])
    assert _unchanged(entry)


def test_an_entry_loaded_from_the_database_cannot_be_saved_again(entry):
    loaded = AuditLog.objects.get(pk=entry.pk)
    loaded.data = {"from": "pending", "to": "rejected"}
    with pytest.raises(AppendOnlyError):
        loaded.save()
    assert _unchanged(entry)


@pytest.mark.parametrize("complete", [False, True], ids=["bare", "full-copy"])
def test_an_entry_cannot_be_overwritten_by_a_new_object_with_its_id(entry, complete):
    if complete:
        # A copy of every column (created_at included) with one value changed.
        values = {f.attname: getattr(entry, f.attname) for f in AuditLog._meta.concrete_fields}
        forged = AuditLog(**{**values, "reason": "forged"})
    else:
        forged = AuditLog(pk=entry.pk, action=AuditLog.Action.LOGIN, reason="forged")
    assert forged._state.adding
    with pytest.raises((AppendOnlyError, IntegrityError)), transaction.atomic():
        forged.save()
    assert _unchanged(entry)
    assert AuditLog.objects.count() == 1


def test_an_entry_cannot_be_deleted_by_the_instance(entry):
    with pytest.raises(AppendOnlyError):
        entry.delete()
    assert _unchanged(entry)


def _refused(attempt):
    # Each attempt in its own atomic block: some of Django's bulk helpers open a transaction without a
    # savepoint, so a refusal inside them would otherwise spoil the test's transaction.
    with pytest.raises(AppendOnlyError), transaction.atomic():
        attempt()


def test_entries_cannot_be_changed_through_a_queryset(entry):
    _refused(lambda: AuditLog.objects.filter(pk=entry.pk).update(reason="rewritten"))
    _refused(lambda: AuditLog.objects.all().update(reason="rewritten"))
    _refused(lambda: AuditLog.objects.update(reason="rewritten"))
    _refused(lambda: AuditLog.objects.select_for_update().filter(pk=entry.pk).update(reason="rewritten"))
    entry.reason = "rewritten"
    _refused(lambda: AuditLog.objects.bulk_update([entry], ["reason"]))
    _refused(lambda: AuditLog.objects.update_or_create(pk=entry.pk, defaults={"reason": "rewritten"}))
    assert _unchanged(entry)


def test_entries_cannot_be_deleted_through_a_queryset(entry):
    _refused(lambda: AuditLog.objects.filter(pk=entry.pk).delete())
    _refused(lambda: AuditLog.objects.all().delete())
    _refused(lambda: AuditLog.objects.select_related("actor").filter(action=AuditLog.Action.STATUS_CHANGED).delete())
    assert _unchanged(entry)


def test_deleting_the_actor_keeps_the_entry_and_who_it_was(entry):
    actor = entry.actor
    actor.delete()
    stored = AuditLog.objects.get(pk=entry.pk)
    assert stored.actor is None
    assert stored.actor_repr == "ada.actor@example.com"


# --- Admin ---------------------------------------------------------------------------------------------


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@example.com", is_staff=True, is_superuser=True)


def test_the_admin_lists_audit_entries_but_offers_no_add_change_or_delete(client, superuser, entry):
    client.force_login(superuser)
    response = client.get("/admin/audit/auditlog/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "ada.actor@example.com" in page
    assert "/admin/audit/auditlog/add/" not in page
    assert "delete_selected" not in page
    model_admin = response.context["cl"].model_admin
    request = response.wsgi_request
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    assert "delete_selected" not in model_admin.get_actions(request)


def test_the_admin_search_finds_entries(client, superuser, entry):
    audit_log(action=AuditLog.Action.LOGIN_FAILED, data={"username": "mallory@example.com"})
    client.force_login(superuser)
    response = client.get("/admin/audit/auditlog/", {"q": "ada.actor"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [entry]


def test_the_admin_shows_an_entry_read_only_and_refuses_to_change_or_delete_it(client, superuser, entry):
    client.force_login(superuser)
    change_url = f"/admin/audit/auditlog/{entry.pk}/change/"
    response = client.get(change_url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "All documents verified." in page
    assert 'name="_save"' not in page
    assert 'name="reason"' not in page

    assert client.post(change_url, {"action": "login", "reason": "rewritten"}).status_code == 403
    assert client.get("/admin/audit/auditlog/add/").status_code == 403
    assert client.post("/admin/audit/auditlog/add/", {"action": "login"}).status_code == 403
    assert client.get(f"/admin/audit/auditlog/{entry.pk}/delete/").status_code == 403
    assert client.post(f"/admin/audit/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    response = client.post(
        "/admin/audit/auditlog/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert response.status_code in (200, 302)
    assert _unchanged(entry)
    assert AuditLog.objects.filter(pk=entry.pk).exists()
