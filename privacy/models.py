"""What Kenya's Data Protection Act 2019 asks us to keep: who agreed to what and when, and who asked to be
erased and what was decided."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Consent(models.Model):
    """One agreement by one person to one purpose, under the privacy notice version then in force.

    Rows are never deleted: a withdrawal sets `withdrawn_at`, a re-acceptance of a newer notice adds a row,
    so the history shows exactly what the person had agreed to at any moment (proof the Act asks for).
    """

    class Purpose(models.TextChoices):
        # Required: without it there is no membership (the notice explains the lawful bases).
        PRIVACY_NOTICE = "privacy_notice", "I have read the privacy notice"
        # Optional and consent-based (DPA 2019 s.37, commercial use): nothing about running the membership
        # (reminders, receipts) depends on it; those follow the email/SMS switches on the profile.
        NEWS_AND_EVENTS = "news_and_events", "News, events and surveys from the association"

    class Channel(models.TextChoices):
        WEB = "web", "Web form"
        API = "api", "Mobile or partner app (API)"
        STAFF = "staff", "Recorded by staff (paper form)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=30, choices=Purpose.choices)
    version = models.CharField("privacy notice version", max_length=20)
    given_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-given_at", "-pk"]
        indexes = [models.Index(fields=["user", "purpose", "-given_at"], name="privacy_consent_user_idx")]
        constraints = [
            # A double-clicked "I agree" records one consent, not two.
            models.UniqueConstraint(
                fields=["user", "purpose", "version"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="privacy_consent_one_open_per_version",
            )
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} v{self.version} by user {self.user_id}"

    @property
    def is_optional(self) -> bool:
        return self.purpose != self.Purpose.PRIVACY_NOTICE


class ErasureRequest(models.Model):
    """A member's request to be erased (DPA 2019 s.40), or the record of a retention-rule anonymisation."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a decision"
        APPROVED = "approved", "Approved: personal data erased"
        REFUSED = "refused", "Refused"
        CANCELLED = "cancelled", "Cancelled by the member"

    class Source(models.TextChoices):
        MEMBER = "member", "Asked for by the member"
        RETENTION = "retention", "Retention period of a rejected application ended"

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="erasure_requests")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MEMBER)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    member_note = models.TextField("why (optional)", blank=True, max_length=1000)
    requested_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=models.Q(status="pending"), name="privacy_erasure_one_pending"
            ),
            # The backstop against anonymising a person twice (two workers, two admins).
            models.UniqueConstraint(
                fields=["member"], condition=models.Q(status="approved"), name="privacy_erasure_once"
            ),
        ]
        permissions = [("decide_erasure", "Can approve or refuse members' erasure requests")]

    def __str__(self):
        return f"Erasure request #{self.pk} ({self.get_status_display()})"
