"""The applications queue and the staff member page with its review actions: approve or reject an
application, verify or reject a document."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.pagination import LargeTablePaginator
from core.permissions import permission_required
from members.forms import ReasonForm
from members.models import Document, Member
from members.selectors import member_search
from members.services import MembershipError, document_reject, document_verify, member_approve, member_reject

from .detail import TEMPLATE, member_detail_context, member_for_staff, member_page_with_error


@permission_required("members.view_member")
def applications(request):
    status = request.GET.get("status", Member.Status.PENDING)
    if status not in Member.Status.values and status != "":
        status = Member.Status.PENDING
    query = request.GET.get("q", "")
    paginator = LargeTablePaginator(member_search(query=query, status=status), 25, filtered=bool(status or query))
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "dashboard/applications.html",
        {"page": page, "status": status, "query": query, "statuses": Member.Status.choices},
    )


@permission_required("members.view_member")
def member_detail(request, pk):
    member = member_for_staff(pk)
    return render(request, TEMPLATE, member_detail_context(request, member))


@require_POST
@permission_required("members.view_member", "members.review_application")
def member_approve_view(request, pk):
    member = member_for_staff(pk)
    try:
        member = member_approve(member=member, actor=request.user, request=request)
    except MembershipError as error:
        return member_page_with_error(request, member, str(error))
    messages.success(request, f"Approved {member.full_name}: membership number {member.membership_number}.")
    return redirect("dashboard:member_detail", pk=member.pk)


@require_POST
@permission_required("members.view_member", "members.review_application")
def member_reject_view(request, pk):
    member = member_for_staff(pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return member_page_with_error(
            request, member, "Give the applicant a reason for the rejection.", reject_form=form
        )
    try:
        member_reject(member=member, reason=form.cleaned_data["reason"], actor=request.user, request=request)
    except MembershipError as error:
        return member_page_with_error(request, member, str(error), reject_form=form)
    messages.success(request, f"Rejected the application of {member.full_name}.")
    return redirect("dashboard:member_detail", pk=member.pk)


@require_POST
@permission_required("members.view_document", "members.review_document")
def document_verify_view(request, pk):
    document = get_object_or_404(Document, pk=pk)
    try:
        document_verify(document=document, actor=request.user, request=request)
    except MembershipError as error:
        return member_page_with_error(request, member_for_staff(document.member_id), str(error))
    messages.success(request, f"Verified: {document.get_doc_type_display()}.")
    return redirect("dashboard:member_detail", pk=document.member_id)


@require_POST
@permission_required("members.view_document", "members.review_document")
def document_reject_view(request, pk):
    document = get_object_or_404(Document, pk=pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return member_page_with_error(
            request,
            member_for_staff(document.member_id),
            "Give the member a reason for rejecting the document.",
            document_reject_forms={document.pk: form},
        )
    try:
        document_reject(document=document, reason=form.cleaned_data["reason"], actor=request.user, request=request)
    except MembershipError as error:
        return member_page_with_error(request, member_for_staff(document.member_id), str(error))
    messages.success(request, f"Rejected: {document.get_doc_type_display()}. The member can upload a new one.")
    return redirect("dashboard:member_detail", pk=document.member_id)
