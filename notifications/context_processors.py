from django.utils.functional import SimpleLazyObject

from .selectors import notifications_unread_count


def unread(request):
    """`unread_notification_count` for the navbar badge.

    Lazy: the COUNT runs once, and only when a template shows it; anonymous visitors cost nothing.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def count() -> int:
        return notifications_unread_count(user=user)

    return {"unread_notification_count": SimpleLazyObject(count)}
