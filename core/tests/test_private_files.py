"""Private files (members' documents, export files) are sent by Django itself, or by nginx behind it
(X-Accel-Redirect, PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX), always only after the permission check."""

from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from audit.models import AuditLog
from dashboard.models import ExportJob
from members.models import Document
from tests.factories import UserFactory
from tests.idor import assert_nothing_of, body_of, row_of, their_object

pytestmark = pytest.mark.django_db

PREFIX = "/protected/"


@pytest.fixture
def behind_nginx(settings):
    settings.PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX = PREFIX


def _document(member, doc_type="national_id"):
    return member.documents.get(doc_type=doc_type)


def test_without_a_prefix_django_streams_the_document(client, alice, settings):
    assert settings.PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX == ""
    document = _document(alice)
    client.force_login(alice.user)
    response = client.get(f"/documents/{document.pk}/")
    assert response.status_code == 200
    assert "X-Accel-Redirect" not in response
    with document.file.open("rb") as stored:
        assert b"".join(response.streaming_content) == stored.read()


@pytest.mark.security_check(2)
def test_behind_nginx_the_owner_gets_an_empty_body_naming_the_file(client, alice, behind_nginx, settings):
    document = _document(alice)
    client.force_login(alice.user)
    response = client.get(f"/documents/{document.pk}/")
    assert response.status_code == 200
    assert response.content == b""
    assert response["X-Accel-Redirect"] == PREFIX + document.file.name
    # nginx serves exactly the stored file: the header maps to PRIVATE_MEDIA_ROOT/<name>.
    assert (Path(settings.PRIVATE_MEDIA_ROOT) / response["X-Accel-Redirect"].removeprefix(PREFIX)).is_file()
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="national_id.' in response["Content-Disposition"]
    assert response["Content-Type"] == document.content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"


@pytest.mark.security_check(2)
def test_behind_nginx_nobody_else_gets_the_header(client, alice, bob, behind_nginx):
    document = their_object(Document, _document(alice).pk, member=alice)
    assert document.file.size > 0
    client.force_login(bob.user)
    response = client.get(f"/documents/{document.pk}/")
    assert response.status_code == 404
    assert_nothing_of(alice, response, document.file.name, document.original_name)
    client.logout()
    response = client.get(f"/documents/{document.pk}/")
    assert response.status_code == 302
    assert_nothing_of(alice, response, document.file.name, document.original_name)
    assert not AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_DOWNLOADED).exists()


def test_behind_nginx_staff_downloads_are_still_audited(client, alice, staff_user, behind_nginx):
    document = _document(alice)
    client.force_login(staff_user)
    response = client.get(f"/documents/{document.pk}/")
    assert response["X-Accel-Redirect"] == PREFIX + document.file.name
    assert AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_DOWNLOADED, actor=staff_user).count() == 1


def _finished_export(user, data=b"a,b\r\n"):
    job = ExportJob.objects.create(user=user, format="csv", status=ExportJob.Status.DONE, row_count=1)
    job.file.save("members.csv", ContentFile(data), save=False)
    job.save()
    return job


@pytest.mark.parametrize("prefix", ["", PREFIX])
def test_export_downloads_in_both_modes(client, finance_user, settings, prefix):
    settings.PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX = prefix
    job = _finished_export(finance_user)
    client.force_login(finance_user)
    response = client.get(f"/staff/exports/{job.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    if prefix:
        assert response.content == b""
        assert response["X-Accel-Redirect"] == PREFIX + job.file.name
    else:
        assert "X-Accel-Redirect" not in response
        assert b"".join(response.streaming_content) == b"a,b\r\n"


@pytest.mark.parametrize("prefix", ["", PREFIX])
def test_a_deleted_export_file_is_a_404_in_both_modes(client, finance_user, settings, prefix):
    settings.PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX = prefix
    job = _finished_export(finance_user)
    (Path(settings.PRIVATE_MEDIA_ROOT) / job.file.name).unlink()
    client.force_login(finance_user)
    response = client.get(f"/staff/exports/{job.pk}/download/")
    assert response.status_code == 404
    assert "X-Accel-Redirect" not in response


@pytest.mark.security_check(1)
def test_another_finance_user_never_gets_the_header(client, finance_user, behind_nginx):
    job = _finished_export(finance_user, data=b"Membership number,Email\r\nKTS-2026-0777,wanjiru@example.com\r\n")
    job = their_object(ExportJob, job.pk, user=finance_user, status=ExportJob.Status.DONE)
    before = row_of(job)
    other = UserFactory(email="fred.finance@example.com", is_staff=True)
    other.groups.add(finance_user.groups.get())
    client.force_login(other)
    response = client.get(f"/staff/exports/{job.pk}/download/")
    assert response.status_code == 404
    assert "X-Accel-Redirect" not in response
    body = body_of(response)
    assert b"KTS-2026-0777" not in body and b"wanjiru@" not in body and job.file.name.encode() not in body
    assert row_of(job) == before
    # The owner gets it: the 404 was about whose it is.
    client.force_login(finance_user)
    assert client.get(f"/staff/exports/{job.pk}/download/")["X-Accel-Redirect"].endswith(job.file.name)
