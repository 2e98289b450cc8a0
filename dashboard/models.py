import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.utils import timezone

from members.models import private_storage

# Export files live under this directory of private storage (STORAGES["private"]: PRIVATE_MEDIA_ROOT, or
# private/ in the bucket with STORAGE_BACKEND=s3).
EXPORTS_DIRECTORY = "exports"


def export_upload_to(instance, filename):
    # Random stored names under exports/ in private storage: nothing a user typed reaches the filesystem,
    # and the retention sweep (dashboard.tasks.delete_old_exports) knows where to look.
    return f"{EXPORTS_DIRECTORY}/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


class ExportJob(models.Model):
    """One export of the staff member list that is too big to stream in the request.

    The request records who asked, the format and the list's filters (its query string); the
    `dashboard.export_members` task writes the file to private storage (never a public URL), fills in the
    row count and tells the user. Only that user (or an Admin) may download it, until the retention
    sweep deletes the file after EXPORT_RETENTION_HOURS.
    """

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel (.xlsx)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Being prepared"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired (file deleted)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs")
    format = models.CharField(max_length=10, choices=Format.choices)
    query_string = models.TextField(blank=True, help_text="The member list's filters, as in its URL.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    file = models.FileField(upload_to=export_upload_to, storage=private_storage, max_length=200, blank=True)
    error = models.TextField(blank=True, help_text="Why the export failed, in plain words.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="dashboard_export_user_idx"),
            models.Index(fields=["status", "finished_at"], name="dashboard_export_status_idx"),
        ]

    def __str__(self):
        return f"Export #{self.pk} ({self.format}, {self.status}) for user {self.user_id}"

    @property
    def download_name(self) -> str:
        """The file name offered to the browser, e.g. members-20260115-1030.csv (local time)."""
        return f"members-{timezone.localtime(self.created_at):%Y%m%d-%H%M}.{self.format}"

    @property
    def is_downloadable(self) -> bool:
        return self.status == self.Status.DONE and bool(self.file)
