from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.pagination import LargeTablePaginator
from core.permissions import permission_required
from members.forms import ReasonForm
from members.models import Document, Member
from members.selectors import member_search
from members.services import (
    MembershipError,
    document_reject,
    document_verify,
    member_approve,
    member_reject,
    unverified_documents,
)
from payments.staff_views import member_payments_context


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


def _member_detail_context(request, member, **forms):
    documents = list(member.documents.order_by("doc_type", "-uploaded_at").select_related("reviewed_by"))
    return {
        "member": member,
        "current_documents": [d for d in documents if d.is_current],
        "old_documents": [d for d in documents if not d.is_current],
        "unverified": unverified_documents(member),
        "reject_form": forms.get("reject_form") or ReasonForm(),
        **member_payments_context(request, member, form=forms.get("payment_form")),
        "document_reject_forms": forms.get("document_reject_forms", {}),
        "can_review": request.user.has_perm("members.review_application"),
        "can_review_documents": request.user.has_perm("members.review_document"),
        "can_change_status": request.user.has_perm("members.change_member"),
        "can_record_payment": request.user.has_perm("members.record_offline_payment"),
    }


def _get_member(pk):
    return get_object_or_404(
        Member.objects.select_related("user", "category", "country", "region", "approved_by").prefetch_related(
            "documents"
        ),
        pk=pk,
    )


@permission_required("members.view_member")
def member_detail(request, pk):
    member = _get_member(pk)
    return render(request, "dashboard/member_detail.html", _member_detail_context(request, member))


def _fail(request, member, message, **forms):
    messages.error(request, message)
    context = _member_detail_context(request, member, **forms)
    return render(request, "dashboard/member_detail.html", context, status=400)


@require_POST
@permission_required("members.view_member", "members.review_application")
def member_approve_view(request, pk):
    member = _get_member(pk)
    try:
        member = member_approve(member=member, actor=request.user, request=request)
    except MembershipError as error:
        return _fail(request, member, str(error))
    messages.success(request, f"Approved {member.full_name}: membership number {member.membership_number}.")
    return redirect("dashboard:member_detail", pk=member.pk)


@require_POST
@permission_required("members.view_member", "members.review_application")
def member_reject_view(request, pk):
    member = _get_member(pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _fail(request, member, "Give the applicant a reason for the rejection.", reject_form=form)
    try:
        member_reject(member=member, reason=form.cleaned_data["reason"], actor=request.user, request=request)
    except MembershipError as error:
        return _fail(request, member, str(error), reject_form=form)
    messages.success(request, f"Rejected the application of {member.full_name}.")
    return redirect("dashboard:member_detail", pk=member.pk)


@require_POST
@permission_required("members.view_document", "members.review_document")
def document_verify_view(request, pk):
    document = get_object_or_404(Document, pk=pk)
    try:
        document_verify(document=document, actor=request.user, request=request)
    except MembershipError as error:
        return _fail(request, _get_member(document.member_id), str(error))
    messages.success(request, f"Verified: {document.get_doc_type_display()}.")
    return redirect("dashboard:member_detail", pk=document.member_id)


@require_POST
@permission_required("members.view_document", "members.review_document")
def document_reject_view(request, pk):
    document = get_object_or_404(Document, pk=pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _fail(
            request,
            _get_member(document.member_id),
            "Give the member a reason for rejecting the document.",
            document_reject_forms={document.pk: form},
        )
    try:
        document_reject(document=document, reason=form.cleaned_data["reason"], actor=request.user, request=request)
    except MembershipError as error:
        return _fail(request, _get_member(document.member_id), str(error))
    messages.success(request, f"Rejected: {document.get_doc_type_display()}. The member can upload a new one.")
    return redirect("dashboard:member_detail", pk=document.member_id)
