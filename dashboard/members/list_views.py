"""The staff member list (search, filters, sorting, bulk reminders) and suspension of a member."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core.pagination import DEFAULT_COUNT_CAP, PAGE_SIZES, SEARCH_COUNT_CAP, LargeTablePaginator, page_size
from core.permissions import permission_required
from members.filters import MemberFilter, member_list_queryset
from members.forms import ReasonForm
from members.lifecycle import reminders_send_manual
from members.models import Member
from members.services import MembershipError, member_reinstate, member_suspend

from .detail import member_page_with_error

MAX_BULK = max(PAGE_SIZES)
COUNT_CAP = DEFAULT_COUNT_CAP


@permission_required("members.view_member")
def member_list(request):
    filterset = MemberFilter(request.GET or None, queryset=member_list_queryset(), request=request)
    if filterset.is_bound and not filterset.is_valid():
        context = {"filter": filterset, "page": None, "page_sizes": PAGE_SIZES}
        return render(request, "dashboard/member_list.html", context, status=400)
    cap = min(COUNT_CAP, SEARCH_COUNT_CAP) if request.GET.get("q", "").strip() else COUNT_CAP
    paginator = LargeTablePaginator(filterset.qs, page_size(request), filtered=filterset.is_filtered, count_cap=cap)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "dashboard/member_list.html",
        {
            "filter": filterset,
            "page": page,
            "page_sizes": PAGE_SIZES,
            "can_remind": request.user.has_perm("members.change_member"),
            "can_export": request.user.has_perm("members.export_member"),
        },
    )


def _back_to_list(request):
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("dashboard:members")


@require_POST
@permission_required("members.view_member", "members.change_member")
def member_list_remind(request):
    raw_ids = request.POST.getlist("member")
    try:
        ids = sorted({int(value) for value in raw_ids})
    except ValueError:
        messages.error(request, "The selection was not understood; choose the members again.")
        return _back_to_list(request)
    if not ids:
        messages.error(request, "Choose at least one member to remind.")
        return _back_to_list(request)
    if len(ids) > MAX_BULK:
        messages.error(request, f"Choose at most {MAX_BULK} members at a time.")
        return _back_to_list(request)
    result = reminders_send_manual(member_ids=ids, actor=request.user, request=request)
    parts = [f"Sent {result.sent} reminder{'s' if result.sent != 1 else ''}."]
    if result.already_today:
        parts.append(f"{result.already_today} already reminded today.")
    if result.not_applicable:
        parts.append(f"{result.not_applicable} skipped: nothing to renew (applicants, suspended or life members).")
    (messages.success if result.sent else messages.warning)(request, " ".join(parts))
    return _back_to_list(request)


def _status_change(request, pk, action, success):
    member = get_object_or_404(Member.objects.select_related("user"), pk=pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return member_page_with_error(request, member, "Give a reason; the member is told it.")
    try:
        member = action(member=member, reason=form.cleaned_data["reason"], actor=request.user, request=request)
    except MembershipError as error:
        return member_page_with_error(request, member, str(error))
    messages.success(request, success.format(name=member.full_name, status=member.get_status_display().lower()))
    return redirect("dashboard:member_detail", pk=pk)


@require_POST
@permission_required("members.view_member", "members.change_member")
def member_suspend_view(request, pk):
    return _status_change(request, pk, member_suspend, "Suspended {name}.")


@require_POST
@permission_required("members.view_member", "members.change_member")
def member_reinstate_view(request, pk):
    return _status_change(request, pk, member_reinstate, "Lifted the suspension of {name}; now {status}.")
