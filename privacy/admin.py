from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import ErasureRequest


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ReadOnlyAdmin):
    """Read-only: decide requests at /staff/erasure-requests/, where approval runs the anonymiser."""

    list_display = ["pk", "member", "source", "status", "requested_at", "decided_at", "decided_by"]
    list_filter = ["status", "source"]
    list_select_related = ["member__user", "decided_by"]
