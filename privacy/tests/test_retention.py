"""Rejected applications are anonymised after REJECTED_APPLICATION_RETENTION_DAYS, by the daily job or the
command, once each however many workers run."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditLog
from members.models import Member
from payments.models import Payment
from privacy.erasure import anonymise_rejected_applications
from privacy.models import ErasureRequest
from privacy.tasks import anonymise_old_rejected_applications
from tests.concurrency import run_together
from tests.factories import MemberFactory, load_reference_data

pytestmark = pytest.mark.django_db


def rejected(days_ago, **kwargs):
    member = MemberFactory(**kwargs)
    Member.objects.filter(pk=member.pk).update(
        status=Member.Status.REJECTED,
        status_reason="Documents unreadable.",
        status_changed_at=timezone.now() - datetime.timedelta(days=days_ago),
    )
    member.refresh_from_db()
    return member


def _is_anonymised(member):
    member = Member.objects.select_related("user").get(pk=member.pk)
    return member.user.email.endswith("@erased.invalid") and not member.user.is_active


def test_only_rejected_applications_past_the_retention_period_are_anonymised(reference_data, settings):
    settings.REJECTED_APPLICATION_RETENTION_DAYS = 180
    old = rejected(181)
    recent = rejected(179)
    pending = MemberFactory()
    Member.objects.filter(pk=pending.pk).update(status_changed_at=timezone.now() - datetime.timedelta(days=400))

    summary = anonymise_rejected_applications()

    assert summary.anonymised == 1
    assert _is_anonymised(old)
    assert not _is_anonymised(recent) and not _is_anonymised(pending)
    record = ErasureRequest.objects.get(member=old)
    assert (record.source, record.status, record.decided_by) == ("retention", "approved", None)
    entry = AuditLog.objects.get(action=AuditLog.Action.PERSONAL_DATA_ERASED)
    assert entry.actor is None and entry.data["source"] == "retention"
    assert Member.objects.get(pk=old.pk).status == Member.Status.REJECTED

    assert anonymise_rejected_applications().anonymised == 0  # once
    assert AuditLog.objects.filter(action=AuditLog.Action.PERSONAL_DATA_ERASED).count() == 1


def test_a_pending_payment_leaves_the_application_for_the_next_run(reference_data, settings):
    settings.REJECTED_APPLICATION_RETENTION_DAYS = 30
    member = rejected(31)
    Payment.objects.create(member=member, payment_type="registration", amount=5000, phone_number=member.phone_number)
    summary = anonymise_rejected_applications()
    assert (summary.anonymised, summary.waiting_for_payment) == (0, 1)
    assert not _is_anonymised(member)


def test_a_pending_erasure_request_is_closed_by_the_retention_rule(reference_data, settings):
    settings.REJECTED_APPLICATION_RETENTION_DAYS = 30
    member = rejected(31)
    ErasureRequest.objects.create(member=member, member_note="Delete me")
    anonymise_rejected_applications()
    request = ErasureRequest.objects.get(member=member)
    assert request.status == ErasureRequest.Status.APPROVED and request.member_note == ""


def test_the_command_and_the_task_run_the_same_rule(reference_data, settings, capsys):
    settings.REJECTED_APPLICATION_RETENTION_DAYS = 10
    first, second = rejected(11), rejected(12)
    call_command("anonymise_rejected_applications", "--dry-run")
    assert "2 rejected application(s) older than 10 days would be anonymised." in capsys.readouterr().out
    assert not _is_anonymised(first)
    call_command("anonymise_rejected_applications")
    assert "Anonymised 2 rejected application(s) older than 10 days." in capsys.readouterr().out
    assert _is_anonymised(first) and _is_anonymised(second)
    assert anonymise_old_rejected_applications() == {"anonymised": 0, "waiting_for_payment": 0}


def test_the_job_is_scheduled_daily(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["anonymise-old-rejected-applications"]
    assert entry["task"] == "privacy.anonymise_rejected_applications"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_anonymise_each_application_once(settings):
    if connection.vendor != "postgresql":
        pytest.skip(
            "Row-lock concurrency needs PostgreSQL: set DATABASE_URL=postgres://... (SQLite ignores row locks)."
        )
    settings.REJECTED_APPLICATION_RETENTION_DAYS = 30
    load_reference_data()
    for trial in range(3):
        batch = [rejected(40 + n, documents=[]) for n in range(8)]
        results = []

        def worker(results=results):
            results.append(anonymise_rejected_applications())

        assert run_together([worker] * 4) == []
        assert sum(r.anonymised for r in results) == 8, trial
        ids = [m.pk for m in batch]
        assert ErasureRequest.objects.filter(member_id__in=ids, status="approved").count() == 8
        erased = AuditLog.objects.filter(
            action=AuditLog.Action.PERSONAL_DATA_ERASED, target_id__in=[str(pk) for pk in ids]
        )
        assert erased.count() == 8
        assert all(_is_anonymised(m) for m in batch)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_approving_at_once_erase_once(settings):
    if connection.vendor != "postgresql":
        pytest.skip(
            "Row-lock concurrency needs PostgreSQL: set DATABASE_URL=postgres://... (SQLite ignores row locks)."
        )
    from privacy.erasure import ErasureError, erasure_approve
    from tests.factories import UserFactory

    load_reference_data()
    admin = UserFactory()
    for _ in range(3):
        member = MemberFactory(documents=[])
        request = ErasureRequest.objects.create(member=member)
        errors = run_together([lambda request=request: erasure_approve(erasure=request, actor=admin)] * 3)
        assert len(errors) == 2 and all(isinstance(e, ErasureError) for e in errors), errors
        assert (
            AuditLog.objects.filter(action=AuditLog.Action.PERSONAL_DATA_ERASED, target_id=str(member.pk)).count() == 1
        )
