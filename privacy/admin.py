from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import Consent, ErasureRequest


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    """Read-only: consents are the proof of what each person agreed to, and when."""

    list_display = ["pk", "user", "purpose", "version", "channel", "given_at", "withdrawn_at"]
    list_filter = ["purpose", "version", "channel"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    show_full_result_count = False


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ReadOnlyAdmin):
    """Read-only: decide requests at /staff/erasure-requests/, where approval runs the anonymiser."""

    list_display = ["pk", "member", "source", "status", "requested_at", "decided_at", "decided_by"]
    list_filter = ["status", "source"]
    list_select_related = ["member__user", "decided_by"]
