from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.exceptions import show_domain_error
from members.dues import payment_due
from members.forms import DocumentUploadForm
from members.models import DocumentType, Fee, Member
from members.selectors import member_of_user_or_404
from members.services import DocumentUpload, MembershipError, document_replace, missing_documents
from notifications.selectors import notifications_latest

STATUS_EXPLANATIONS = {
    Member.Status.PENDING: "Your application is being reviewed. Staff check your documents, then approve it.",
    Member.Status.APPROVED: (
        "Your application is approved. Your membership starts once the registration fee is received."
    ),
    Member.Status.ACTIVE: "Your membership is active.",
    Member.Status.REJECTED: "Your application was not accepted.",
    Member.Status.SUSPENDED: "Your membership is suspended. Contact the office.",
    Member.Status.GRACE: "Your membership period has ended; renew before the grace period runs out.",
    Member.Status.EXPIRED: "Your membership has expired. Renew to restore it.",
}


def _member_with_documents(request) -> Member:
    # The home page lists the documents and shows the address: loaded with the member.
    return member_of_user_or_404(request.user, related=("country", "region"), prefetch=("documents",))


@login_required
def home(request):
    if not hasattr(request.user, "member"):
        return redirect("accounts:home")
    return _render_home(request, _member_with_documents(request))


def _render_home(request, member, *, upload_form=None, status=200):
    documents = [d for d in member.documents.all() if d.is_current]
    by_type = {d.doc_type: d for d in documents}
    due = payment_due(member)
    context = {
        "member": member,
        "explanation": STATUS_EXPLANATIONS[member.status],
        "documents": documents,
        "missing": [
            {"code": code, "label": DocumentType(code).label, "document": by_type.get(code)}
            for code in missing_documents(member)
        ],
        "fee_due": member.registration_fee_due,
        "uploadable": member.is_under_review,
        "upload_form": upload_form,
        "payments": member.payments.order_by("-created_at")[:5],
        "latest_notifications": notifications_latest(user=member.user, limit=3),
        "renewal": due if due and due.payment_type != Fee.REGISTRATION else None,
        "days_left": (member.period_end - timezone.localdate()).days if member.period_end else None,
    }
    return render(request, "portal/home.html", context, status=status)


@login_required
@require_POST
def document_upload(request):
    member = _member_with_documents(request)
    form = DocumentUploadForm(request.POST, request.FILES)
    if form.is_valid():
        doc_type = form.cleaned_data["doc_type"]
        try:
            document_replace(
                member=member,
                upload=DocumentUpload(doc_type=doc_type, file=form.cleaned_data["file"]),
                actor=request.user,
                request=request,
            )
        except MembershipError as error:
            show_domain_error(request, error, form=form)
        else:
            messages.success(request, f"{DocumentType(doc_type).label} uploaded; staff will review it.")
            return redirect("portal:home")
    return _render_home(request, _member_with_documents(request), upload_form=form, status=400)
