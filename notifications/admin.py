from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import Message, Notification
from .services import LINK_BODY_EVENTS

LINK_BODY_HIDDEN = "[Not shown: it holds a single-use link for the recipient alone.]"


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """The outbound message log: read-only, so it stays a true record of what was sent."""

    list_display = ["created_at", "channel", "event", "recipient", "status", "attempts", "sent_at"]
    list_filter = ["status", "channel", "event", "created_at"]
    search_fields = ["recipient", "subject", "event", "=dedupe_key", "=provider_message_id", "user__email"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    show_full_result_count = False
    # The text through `text`/`html_text`: a password reset link is not shown, even before it is sent.
    exclude = ["body", "html_body"]
    readonly_fields = [field.name for field in Message._meta.fields if field.name not in ("body", "html_body")] + [
        "text",
        "html_text",
    ]

    @admin.display(description="Body")
    def text(self, message: Message) -> str:
        return LINK_BODY_HIDDEN if message.event in LINK_BODY_EVENTS else message.body

    @admin.display(description="HTML body")
    def html_text(self, message: Message) -> str:
        return LINK_BODY_HIDDEN if message.event in LINK_BODY_EVENTS and message.html_body else message.html_body


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
