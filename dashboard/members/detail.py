"""The staff member page, shared by every staff screen that acts on one member: the review, suspension and
offline payment forms post elsewhere and, when refused, render this page again with the error."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, render

from members.forms import ReasonForm
from members.models import Member
from members.services import unverified_documents

from .payments_card import member_payments_context

TEMPLATE = "dashboard/member_detail.html"


def member_for_staff(pk) -> Member:
    """The member with everything the staff member page shows, or a 404."""
    return get_object_or_404(
        Member.objects.select_related("user", "category", "country", "region", "approved_by").prefetch_related(
            "documents"
        ),
        pk=pk,
    )


def member_detail_context(request, member, **forms) -> dict:
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


def member_page_with_error(request, member, message, **forms):
    """The member page again, status 400, with `message` and the refused form(s) (`reject_form`,
    `payment_form`, `document_reject_forms`) showing their errors."""
    messages.error(request, message)
    return render(request, TEMPLATE, member_detail_context(request, member, **forms), status=400)
