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
from payments.forms import OfflinePaymentForm
from payments.models import Payment
from payments.selectors import payment_callbacks, payment_for_staff, payment_history
from payments.services import PaymentError, payment_record_offline

from .filters import PROBLEM_STATUSES, PaymentFilter, payment_list_queryset

COUNT_CAP = DEFAULT_COUNT_CAP

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
    context = {"filter": filterset, "page": None, "page_sizes": PAGE_SIZES, "row_classes": ROW_CLASSES}
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
    payment = payment_for_staff(reference)
    if payment is None:
        raise Http404
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
        },
    )


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
