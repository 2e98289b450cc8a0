from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin import UserAdmin
from audit.models import AuditLog
from audit.services import audit_log
from core.admin import ReadOnlyAdmin

from .models import Country, Document, Member, MembershipCategory, Region, ReminderLog
from .search import member_search_text_refresh, member_search_text_update


@admin.register(Country)
class CountryAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "iso3", "dial_code"]
    search_fields = ["name", "code", "iso3", "dial_code"]


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "country"]
    list_filter = ["country"]
    search_fields = ["name", "code"]
    list_select_related = ["country"]


@admin.register(MembershipCategory)
class MembershipCategoryAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "registration_fee",
        "renewal_fee",
        "late_fee",
        "period_months",
        "grace_days",
        "is_active",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}


class DocumentInline(admin.TabularInline):
    model = Document
    extra = 0
    fields = [
        "doc_type",
        "original_name",
        "content_type",
        "size",
        "status",
        "rejection_reason",
        "is_current",
        "uploaded_at",
    ]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    """Status, number and payment fields are read-only here: they change only through the
    membership services (staff pages), which keep the audit trail."""

    list_display = ["__str__", "status", "category", "phone_number", "country", "region", "applied_at"]
    list_filter = ["status", "category", "country", "applied_at"]
    search_fields = [
        "user__email",
        "user__first_name",
        "user__last_name",
        "=id_number",
        "=membership_number",
        "=phone_number",
    ]
    list_select_related = ["user", "category", "country", "region"]
    show_full_result_count = False
    date_hierarchy = "applied_at"
    raw_id_fields = ["user"]
    autocomplete_fields = ["region", "country"]
    readonly_fields = [
        "membership_number",
        "status",
        "status_reason",
        "status_changed_at",
        "applied_at",
        "approved_at",
        "approved_by",
        "activated_at",
        "registration_paid_at",
        "registration_payment_reference",
        "period_start",
        "period_end",
        "updated_at",
    ]
    inlines = [DocumentInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        member_search_text_update(obj)
        if change and form.changed_data:
            # Field names only: values may be personal data (ID numbers) that the trail need not copy.
            audit_log(
                action=AuditLog.Action.PROFILE_CHANGED,
                actor=request.user,
                target=obj,
                data={"fields": sorted(form.changed_data), "via": "admin"},
                request=request,
            )


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["member", "doc_type", "status", "is_current", "uploaded_at", "reviewed_at"]
    list_filter = ["status", "doc_type", "is_current"]
    search_fields = ["member__user__email", "member__membership_number", "original_name"]
    list_select_related = ["member__user"]
    # The file is offered through the checked, audited download view: its storage has no public URL.
    exclude = ["file"]
    readonly_fields = [f.name for f in Document._meta.fields if f.name != "file"] + ["download"]
    show_full_result_count = False

    @admin.display(description="File")
    def download(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        url = reverse("members:document_download", args=[obj.pk])
        return format_html('<a href="{}">Download {}</a>', url, obj.original_name)

    def has_add_permission(self, request):
        return False


@admin.register(ReminderLog)
class ReminderLogAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "member", "kind", "period_end"]
    list_filter = ["kind", "sent_at"]
    search_fields = ["member__user__email", "=member__membership_number"]
    list_select_related = ["member__user"]
    show_full_result_count = False


class MemberUserAdmin(UserAdmin):
    """accounts' user admin, plus: a member's search text follows the names and email edited here (accounts
    sits below members, so it cannot keep the member's search text itself)."""

    SEARCHED_FIELDS = {"first_name", "last_name", "email"}

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and self.SEARCHED_FIELDS & set(form.changed_data):
            member_search_text_refresh(Member.objects.filter(user=obj).values_list("pk", flat=True))


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), MemberUserAdmin)
