from django.contrib import admin

from .models import YearlyCounter


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that must stay as written (audit trail, message logs, counters): view only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(YearlyCounter)
class YearlyCounterAdmin(ReadOnlyAdmin):
    """Read-only: editing a counter by hand could reuse a membership or receipt number."""

    list_display = ["prefix", "year", "last_value"]
    list_filter = ["prefix", "year"]
