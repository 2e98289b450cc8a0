from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_repr", "action", "target_type", "target_repr", "ip_address"]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["actor_repr", "target_repr", "target_id", "reason", "=ip_address"]
    date_hierarchy = "created_at"
    list_select_related = ["actor"]
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditLog._meta.fields]
