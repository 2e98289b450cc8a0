"""Staff decide members' erasure requests (/staff/erasure-requests/)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.permissions import permission_required
from payments.models import Payment
from privacy.erasure import ErasureError, erasure_approve, erasure_refuse
from privacy.forms import ErasureApproveForm, ErasureRefuseForm
from privacy.models import ErasureRequest

PERMISSION = "privacy.decide_erasure"


def _page(request, *, status=200, forms=None):
    pending = list(
        ErasureRequest.objects.filter(status=ErasureRequest.Status.PENDING)
        .select_related("member__user", "member__category")
        .order_by("requested_at", "pk")
    )
    waiting_payment = set(
        Payment.objects.filter(member__in=[e.member_id for e in pending], status=Payment.Status.PENDING).values_list(
            "member_id", flat=True
        )
    )
    forms = forms or {}
    rows = [
        {
            "erasure": erasure,
            "payment_pending": erasure.member_id in waiting_payment,
            "approve_form": forms.get(("approve", erasure.pk)) or ErasureApproveForm(prefix=f"approve-{erasure.pk}"),
            "refuse_form": forms.get(("refuse", erasure.pk)) or ErasureRefuseForm(prefix=f"refuse-{erasure.pk}"),
        }
        for erasure in pending
    ]
    decided = (
        ErasureRequest.objects.exclude(status=ErasureRequest.Status.PENDING)
        .select_related("member__user", "decided_by")
        .order_by("-decided_at", "-pk")[:25]
    )
    return render(request, "privacy/staff_erasure_requests.html", {"rows": rows, "decided": decided}, status=status)


@permission_required(PERMISSION)
def erasure_requests(request):
    return _page(request)


@require_POST
@permission_required(PERMISSION)
def erasure_approve_view(request, pk):
    erasure = get_object_or_404(ErasureRequest, pk=pk)
    form = ErasureApproveForm(request.POST, prefix=f"approve-{pk}")
    if not form.is_valid():
        messages.error(request, "Tick the box to confirm: erasure cannot be undone.")
        return _page(request, status=400, forms={("approve", pk): form})
    try:
        erasure_approve(erasure=erasure, actor=request.user, request=request)
    except ErasureError as error:
        messages.error(request, str(error))
        return _page(request, status=400)
    messages.success(request, f"Erasure request #{pk} approved: the member's personal data has been erased.")
    return redirect("dashboard:erasure_requests")


@require_POST
@permission_required(PERMISSION)
def erasure_refuse_view(request, pk):
    erasure = get_object_or_404(ErasureRequest, pk=pk)
    form = ErasureRefuseForm(request.POST, prefix=f"refuse-{pk}")
    if not form.is_valid():
        messages.error(request, "Give the member a reason for the refusal.")
        return _page(request, status=400, forms={("refuse", pk): form})
    try:
        erasure_refuse(erasure=erasure, reason=form.cleaned_data["reason"], actor=request.user, request=request)
    except ErasureError as error:
        messages.error(request, str(error))
        return _page(request, status=400)
    messages.success(request, f"Erasure request #{pk} refused; the member is told why.")
    return redirect("dashboard:erasure_requests")
