"""The Payments card of the staff member page: the member's recent payments and the offline payment form.

With the member page (dashboard.members.detail) that renders it; the payment views (dashboard.payments)
render that page again when a recorded payment is refused, so they import from here, never the other way.
"""

from __future__ import annotations

from members.dues import payment_due
from payments.forms import OfflinePaymentForm
from payments.models import Payment
from payments.selectors import member_recent_payments

VIEW_PERMISSION = "payments.view_all_payments"
RECORD_PERMISSION = "members.record_offline_payment"


def member_payments_context(request, member, *, form: OfflinePaymentForm | None = None) -> dict:
    """What the staff member page needs for its Payments card and its offline payment form."""
    can_view = request.user.has_perm(VIEW_PERMISSION)
    payments = member_recent_payments(member) if can_view else []
    due = payment_due(member) if request.user.has_perm(RECORD_PERMISSION) else None
    return {
        "can_view_payments": can_view,
        "member_payments": payments,
        "offline_payment_due": due,
        "offline_payment_form": form or OfflinePaymentForm(initial={"amount": due.amount if due else None}),
        # A prompt still open on the member's phone: recording cash now could have them pay twice.
        "pending_mpesa_payment": next(
            (p for p in payments if p.method == Payment.Method.MPESA and p.status == Payment.Status.PENDING), None
        ),
    }
