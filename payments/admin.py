from django.contrib import admin

from .models import MpesaCallback, Payment

# The per-payment URL token authenticates Daraja's callback: whoever knows it can post a callback for that
# payment, so it is shown nowhere (neither the payment's token nor the one a callback came with).
SECRET_FIELDS = {"callback_token", "url_token"}


def shown_fields(model) -> list[str]:
    return [f.name for f in model._meta.fields if f.name not in SECRET_FIELDS]


class CallbackInline(admin.TabularInline):
    model = MpesaCallback
    extra = 0
    can_delete = False
    fields = ["received_at", "outcome", "detail", "source_ip", "body"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    """Read-only: a payment changes only through the payment services, which keep the audit trail."""

    list_display = [
        "created_at",
        "member",
        "payment_type",
        "method",
        "amount",
        "status",
        "receipt_number",
        "mpesa_receipt_number",
    ]
    list_filter = ["status", "payment_type", "method", "created_at"]
    search_fields = [
        "=reference",
        "=receipt_number",
        "=mpesa_receipt_number",
        "=checkout_request_id",
        "=phone_number",
        "member__user__email",
        "member__membership_number",
    ]
    list_select_related = ["member__user"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [CallbackInline]

    def get_fields(self, request, obj=None):
        return shown_fields(Payment)

    def get_readonly_fields(self, request, obj=None):
        return shown_fields(Payment)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MpesaCallback)
class MpesaCallbackAdmin(admin.ModelAdmin):
    list_display = ["received_at", "checkout_request_id", "outcome", "detail", "source_ip", "payment"]
    list_filter = ["outcome", "received_at"]
    search_fields = ["=checkout_request_id", "detail", "=source_ip"]
    list_select_related = ["payment"]
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        return shown_fields(MpesaCallback)

    def get_readonly_fields(self, request, obj=None):
        return shown_fields(MpesaCallback)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
