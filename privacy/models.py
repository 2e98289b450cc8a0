"""What Kenya's Data Protection Act 2019 asks us to keep: who asked to be erased and what was decided.

Who agreed to what and when is accounts.models.Consent: a consent belongs to the person's login, and
registration (members) records it, which must not import privacy.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


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
