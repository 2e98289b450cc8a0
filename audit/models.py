from django.conf import settings
from django.db import models


class AppendOnlyError(Exception):
    """Audit entries are written once and never changed or deleted."""


class AuditLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit log entries cannot be changed.")

    def delete(self):
        raise AppendOnlyError("Audit log entries cannot be deleted.")


class AuditLog(models.Model):
    """One thing that happened: who did what to which object, when, from where, and why."""

    class Action(models.TextChoices):
        LOGIN = "login", "Logged in"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOGOUT = "logout", "Logged out"
        PASSWORD_CHANGED = "password_changed", "Password changed"
        PASSWORD_RESET_REQUESTED = "password_reset_requested", "Password reset requested"
        REGISTERED = "registered", "Registered"
        DOCUMENT_UPLOADED = "document_uploaded", "Document uploaded"
        DOCUMENT_VERIFIED = "document_verified", "Document verified"
        DOCUMENT_REJECTED = "document_rejected", "Document rejected"
        DOCUMENT_DOWNLOADED = "document_downloaded", "Document downloaded"
        STATUS_CHANGED = "status_changed", "Status changed"
        NUMBER_ISSUED = "number_issued", "Membership number issued"
        PAYMENT_RECORDED = "payment_recorded", "Payment recorded"
        PROFILE_CHANGED = "profile_changed", "Profile changed"
        ROLE_CHANGED = "role_changed", "Roles or staff access changed"
        MEMBERSHIP_RENEWED = "membership_renewed", "Membership renewed"
        PAYMENT_STARTED = "payment_started", "Payment started"
        PAYMENT_COMPLETED = "payment_completed", "Payment completed"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        SECURITY_EVENT = "security_event", "Security event"
        EXPORTED = "exported", "Data exported"
        REMINDER_SENT = "reminder_sent", "Reminder sent"
        # Data protection (privacy app): consents, erasure requests and their outcome.
        CONSENT_GIVEN = "consent_given", "Consent given"
        CONSENT_WITHDRAWN = "consent_withdrawn", "Consent withdrawn"
        ERASURE_REQUESTED = "erasure_requested", "Erasure requested"
        ERASURE_CANCELLED = "erasure_cancelled", "Erasure request cancelled"
        ERASURE_REFUSED = "erasure_refused", "Erasure refused"
        PERSONAL_DATA_ERASED = "personal_data_erased", "Personal data erased"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text too, so the entry still says who it was if the account is later anonymised.
    actor_repr = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    target_type = models.CharField(max_length=100, blank=True, db_index=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    target_repr = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "-created_at"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_repr or 'anonymous'} {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise AppendOnlyError("Audit log entries cannot be changed.")
        # Always an INSERT: a new object given an existing entry's id must not become an UPDATE of it.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit log entries cannot be deleted.")
