"""The member's in-app notification centre. Every lookup is by the caller: another user's id is a 404."""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from notifications.models import Notification
from notifications.selectors import notifications_for_user
from notifications.services import notification_mark_read, notifications_mark_all_read

PER_PAGE = 20


@login_required
@require_GET
def notification_list(request):
    page = Paginator(notifications_for_user(user=request.user), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "portal/notifications.html", {"page": page})


@login_required
@require_POST
def notification_read(request, pk: int):
    """Mark one notification read; with `open`, go on to where it leads."""
    try:
        notification = notification_mark_read(user=request.user, notification_id=pk)
    except Notification.DoesNotExist:
        raise Http404("No such notification.") from None
    if request.POST.get("open") and _is_ours(request, notification.link):
        return redirect(notification.link)
    return redirect("portal:notifications")


@login_required
@require_POST
def notification_read_all(request):
    if notifications_mark_all_read(user=request.user):
        messages.success(request, "All notifications are marked as read.")
    return redirect("portal:notifications")


def _is_ours(request, link: str) -> bool:
    # Links are written by our own code, but a redirect never leaves this site whatever a row holds.
    hosts = {request.get_host(), urlsplit(settings.SITE_URL).netloc}
    return bool(link) and url_has_allowed_host_and_scheme(link, allowed_hosts=hosts, require_https=False)
