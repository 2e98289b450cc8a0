from django.conf import settings
from django.db import models
from django.utils import timezone


class Message(models.Model):
    """One outbound email or SMS: written before anything is sent, its outcome recorded on the row."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        # Claimed by one worker, which is talking to the provider right now.
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notification_messages",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    event = models.CharField(max_length=50, db_index=True, help_text='What happened, e.g. "payment_received".')
    recipient = models.CharField(max_length=254, help_text="Email address, or phone number as stored (2547...).")
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField()
    html_body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, help_text="Why the last attempt failed; never holds secrets.")
    provider_message_id = models.CharField(max_length=255, blank=True)
    # Makes "send once" idempotent, e.g. "payment_received:42:sms"; NULL for messages that may repeat.
    dedupe_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="notifications_status_idx")]

    def __str__(self):
        # No recipient here: this string reaches logs.
        return f"{self.get_channel_display()} #{self.pk} {self.event} ({self.get_status_display()})"


class Notification(models.Model):
    """One in-app notification: what the member sees in the portal's notification centre.

    Written for every event a member is told about, whatever channels they chose for email and SMS.
    """

    # No index of its own: notifications_user_recent_idx starts with the user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    event = models.CharField(max_length=50, help_text='What happened, e.g. "approved".')
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    # A path in this site (e.g. /portal/) or a URL we built ourselves; never one a user typed.
    link = models.CharField(max_length=500, blank=True)
    # The caller's dedupe_key_base (e.g. "approved:42"): one notification however often the event is retried.
    dedupe_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notifications_user_recent_idx"),
            # The navbar counts a member's unread notifications on every page.
            models.Index(
                fields=["user"], condition=models.Q(read_at__isnull=True), name="notifications_user_unread_idx"
            ),
        ]

    def __str__(self):
        return f"Notification #{self.pk} {self.event} for user {self.user_id}"

    @property
    def is_unread(self) -> bool:
        return self.read_at is None
