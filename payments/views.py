import logging

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import show_domain_error
from core.http import client_ip
from core.phones import mask_phone
from members.dues import PaymentError, payment_due
from members.selectors import member_of_user_or_404

from .forms import MpesaPayForm
from .models import Payment
from .receipts import receipt_pdf
from .services import (
    callback_process,
    callback_receive,
    callback_spool,
    payment_failure_reason,
    payment_initiate_mpesa,
)

logger = logging.getLogger(__name__)
MAX_CALLBACK_BYTES = 64 * 1024
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
NOT_ACCEPTED = {"ResultCode": 1, "ResultDesc": "Temporarily unavailable"}


@csrf_exempt  # Daraja cannot send a CSRF token; the per-payment URL token authenticates the callback.
@require_POST
def mpesa_callback(request, token=""):
    """Answer Daraja at once and politely: it never retries, so the delivery must be kept before it is
    answered "Accepted".

    The raw delivery is stored first, in its own transaction; processing is idempotent and its outcome (or
    error and traceback) is written on that row. When the database cannot store it (an outage), it is
    written to the callback spool on local disk (fsync'd) and replayed later; only if that fails too is
    the answer a 503, so nothing is ever "Accepted" and dropped (QUALITY check 23).
    """
    body = request.body[:MAX_CALLBACK_BYTES]
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("cookie", "authorization")}
    source_ip = client_ip(request)
    try:
        callback = callback_receive(token=token, body=body, headers=headers, source_ip=source_ip)
    except Exception:
        # Not the body: it holds the payer's full phone number.
        logger.exception("Could not store an M-Pesa callback (%d bytes, token given: %s)", len(body), bool(token))
        try:
            spool_id = callback_spool(token=token, body=body, headers=headers, source_ip=source_ip)
        except Exception:
            logger.critical("M-Pesa callback neither stored nor spooled: answered 503", exc_info=True)
            return JsonResponse(NOT_ACCEPTED, status=503)
        logger.warning("M-Pesa callback kept in the spool as %s, to be replayed", spool_id)
        return JsonResponse(ACCEPTED)
    try:
        callback_process(callback)
    except Exception:
        # Stored: the periodic job (callback_backlog_process) applies what is left "received".
        logger.exception("M-Pesa callback %s stored but not processed; left to the periodic job", callback.pk)
    return JsonResponse(ACCEPTED)


@login_required
def pay(request):
    member = member_of_user_or_404(request.user)
    due = payment_due(member)
    form = MpesaPayForm(
        request.POST or None,
        initial={
            "phone_number": "0" + member.phone_number[3:] if member.phone_number.startswith("254") else "",
            "payment_type": due.payment_type if due else "",
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            payment = payment_initiate_mpesa(
                member=member,
                payment_type=form.cleaned_data["payment_type"],
                phone=form.cleaned_data["phone_number"],
                actor=request.user,
                request=request,
            )
        except PaymentError as error:
            show_domain_error(request, error, form=form)
        else:
            return redirect("payments:detail", reference=payment.reference)
    status = 400 if request.method == "POST" else 200
    return render(request, "payments/pay.html", {"member": member, "due": due, "form": form}, status=status)


@login_required
@require_GET
def history(request):
    """The member's own payments, filterable by status, type and year; one query per page whatever
    the number of payments (plus the count for the paginator)."""
    member = member_of_user_or_404(request.user)
    payments = member.payments.order_by("-created_at")
    filters = {
        "status": request.GET.get("status", ""),
        "type": request.GET.get("type", ""),
        "year": request.GET.get("year", ""),
    }
    if filters["status"] in Payment.Status.values:
        payments = payments.filter(status=filters["status"])
    if filters["type"] in Payment.Type.values:
        payments = payments.filter(payment_type=filters["type"])
    if filters["year"].isdigit():
        payments = payments.filter(created_at__year=int(filters["year"]))
    page = Paginator(payments, 20).get_page(request.GET.get("page"))
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(
        request,
        "payments/history.html",
        {
            "page": page,
            "filters": filters,
            "query": query,
            "statuses": Payment.Status.choices,
            "types": Payment.Type.choices,
            "years": range(timezone.localdate().year, member.applied_at.year - 1, -1),
        },
    )


def _visible_payment(request, reference) -> Payment:
    payment = get_object_or_404(Payment.objects.select_related("member__user", "member__category"), reference=reference)
    if payment.member.user_id != request.user.pk and not request.user.has_perm("payments.view_all_payments"):
        raise Http404
    return payment


def _status_payload(payment: Payment) -> dict:
    return {
        "reference": payment.reference,
        "status": payment.status,
        "status_display": payment.get_status_display(),
        "final": payment.is_final,
        "message": _message(payment),
        "receipt_url": (
            f"/payments/{payment.reference}/receipt/" if payment.status == Payment.Status.COMPLETED else None
        ),
    }


def _message(payment: Payment) -> str:
    if payment.status == Payment.Status.PENDING:
        return (
            f"Check your phone ({mask_phone(payment.phone_number)}) and enter your M-Pesa PIN "
            f"to pay KES {payment.amount:,}."
        )
    if payment.status == Payment.Status.COMPLETED:
        return f"Paid. Thank you! Receipt {payment.receipt_number}."
    return payment_failure_reason(payment)


@login_required
@require_GET
def detail(request, reference):
    payment = _visible_payment(request, reference)
    return render(request, "payments/detail.html", {"payment": payment, "state": _status_payload(payment)})


@login_required
@require_GET
def status(request, reference):
    payment = _visible_payment(request, reference)
    response = JsonResponse(_status_payload(payment))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def receipt(request, reference):
    payment = _visible_payment(request, reference)
    if payment.status != Payment.Status.COMPLETED:
        raise Http404
    response = HttpResponse(receipt_pdf(payment), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="receipt-{payment.receipt_number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response
