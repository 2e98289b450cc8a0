from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import Message, Notification


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """The outbound message log: read-only, so it stays a true record of what was sent."""

    list_display = ["created_at", "channel", "event", "recipient", "status", "attempts", "sent_at"]
    list_filter = ["status", "channel", "event", "created_at"]
    search_fields = ["recipient", "subject", "event", "=dedupe_key", "=provider_message_id", "user__email"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    show_full_result_count = False
    readonly_fields = [field.name for field in Message._meta.fields]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """In-app notifications, as members see them; read-only like the message log."""

    list_display = ["created_at", "event", "title", "user", "read_at"]
    list_filter = ["event", "created_at"]
    search_fields = ["=user__email", "=dedupe_key"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    show_full_result_count = False
    readonly_fields = [field.name for field in Notification._meta.fields]
