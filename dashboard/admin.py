from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import ExportJob


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    """Read-only: a job is the record of who exported what; files are downloaded from /staff/exports/."""

    list_display = ["pk", "user", "format", "status", "row_count", "created_at", "finished_at"]
    list_filter = ["status", "format"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    # The file is offered through the checked download view: private storage has no public URL.
    exclude = ["file"]
    readonly_fields = [
        "user",
        "format",
        "query_string",
        "status",
        "row_count",
        "stored_file",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    ]

    @admin.display(description="File")
    def stored_file(self, obj):
        return obj.file.name if obj is not None and obj.file else "-"
