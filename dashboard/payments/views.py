"""Finance's payment pages in the staff area (/staff/, URL names in the `dashboard` namespace): every
payment with filters, one payment with its Daraja callbacks, and recording a cash, cheque or bank
payment from the staff member page."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.pagination import DEFAULT_COUNT_CAP, PAGE_SIZES, LargeTablePaginator, page_size
from core.permissions import permission_required
from dashboard.members.detail import member_for_staff, member_page_with_error
from dashboard.members.payments_card import RECORD_PERMISSION, VIEW_PERMISSION
from payments.forms import OfflinePaymentForm, SettlementForm
from payments.models import Payment
from payments.selectors import payment_callbacks, payment_for_staff, payment_history, unapplied_payments_to_settle
from payments.services import PaymentError, payment_record_offline, payment_settle_unapplied

from .filters import PROBLEM_STATUSES, UNAPPLIED, PaymentFilter, payment_list_queryset

COUNT_CAP = DEFAULT_COUNT_CAP
SETTLE_PERMISSION = "payments.settle_unapplied_payment"

# Bootstrap row classes for the payments Finance follows up (the status is always written out too).
ROW_CLASSES = {
    Payment.Status.FAILED: "table-danger",
    Payment.Status.CANCELLED: "table-warning",
    Payment.Status.TIMEOUT: "table-warning",
    Payment.Status.PENDING: "table-info",
}


@require_GET
@permission_required(VIEW_PERMISSION)
def payment_list(request):
    # Always bound (an empty query string too), so the default order and its tie-break apply.
    filterset = PaymentFilter(request.GET, queryset=payment_list_queryset())
    context = {
        "filter": filterset,
        "page": None,
        "page_sizes": PAGE_SIZES,
        "row_classes": ROW_CLASSES,
        # Money received that paid nothing on a membership: Finance refunds it or keeps it as credit.
        "unapplied_count": unapplied_payments_to_settle(),
        "unapplied_filter": UNAPPLIED,
    }
    if not filterset.is_valid():
        return render(request, "dashboard/payment_list.html", context, status=400)
    paginator = LargeTablePaginator(
        filterset.qs, page_size(request), filtered=filterset.is_filtered, count_cap=COUNT_CAP
    )
    context["page"] = paginator.get_page(request.GET.get("page"))
    context["ordering"] = (filterset.form.cleaned_data.get("ordering") or ["-date"])[0]
    return render(request, "dashboard/payment_list.html", context)


@require_GET
@permission_required(VIEW_PERMISSION)
def payment_detail(request, reference):
    return _payment_page(request, _payment_or_404(reference))


def _payment_or_404(reference) -> Payment:
    payment = payment_for_staff(reference)
    if payment is None:
        raise Http404
    return payment


def _payment_page(request, payment, *, settlement_form=None, status=200):
    return render(
        request,
        "dashboard/payment_detail.html",
        {
            "payment": payment,
            "member": payment.member,
            "callbacks": payment_callbacks(payment),
            "history": payment_history(payment),
            "is_problem": payment.status in PROBLEM_STATUSES,
            "row_class": ROW_CLASSES.get(payment.status, ""),
            "can_settle": payment.awaits_resolution and request.user.has_perm(SETTLE_PERMISSION),
            "settlement_form": settlement_form or SettlementForm(),
        },
        status=status,
    )


@require_POST
@permission_required(VIEW_PERMISSION, SETTLE_PERMISSION)
def payment_settle(request, reference):
    """Finance records what was done with the money of a payment that was not applied to the membership."""
    payment = _payment_or_404(reference)
    form = SettlementForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.error_message())
        return _payment_page(request, payment, settlement_form=form, status=400)
    try:
        settled = payment_settle_unapplied(
            payment=payment,
            resolution=form.cleaned_data["resolution"],
            reference=form.cleaned_data["reference"],
            note=form.cleaned_data["note"],
            actor=request.user,
            request=request,
        )
    except PaymentError as error:
        messages.error(request, str(error))
        return _payment_page(request, payment_for_staff(reference), settlement_form=form, status=400)
    messages.success(
        request,
        f"Recorded for the KES {settled.amount:,} of {settled.member.full_name}: "
        f"{settled.get_resolution_display().lower()}"
        f"{f' ({settled.resolution_reference})' if settled.resolution_reference else ''}.",
    )
    return redirect("dashboard:payment_detail", reference=settled.reference)


@require_POST
@permission_required("members.view_member", RECORD_PERMISSION)
def member_record_payment(request, pk):
    member = member_for_staff(pk)
    form = OfflinePaymentForm(request.POST)
    if not form.is_valid():
        return member_page_with_error(request, member, form.error_message(), payment_form=form)
    try:
        payment = payment_record_offline(
            member=member,
            method=form.cleaned_data["method"],
            external_reference=form.cleaned_data["reference"],
            amount=form.cleaned_data["amount"],
            received_on=form.cleaned_data["received_on"],
            actor=request.user,
            request=request,
        )
    except PaymentError as error:
        return member_page_with_error(request, member, str(error), payment_form=form)
    messages.success(
        request,
        f"Recorded the {payment.get_payment_type_display().lower()} of KES {payment.amount:,} for "
        f"{member.full_name}, paid by {payment.get_method_display().lower()} ({payment.external_reference}). "
        f"Receipt {payment.receipt_number}.",
    )
    return redirect("dashboard:member_detail", pk=member.pk)
