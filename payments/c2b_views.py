"""Daraja's C2B (Paybill/Till) endpoints: confirmation and validation.

Both live under /api/c2b/<MPESA_C2B_URL_SECRET>/ (Daraja refuses URLs containing "mpesa", so not beside the
STK callback), compared in constant time: a wrong secret is a 404 and stores nothing. Both store the raw
delivery before answering and always answer in Daraja's documented shape (daraja.md 7.4), never a 4xx for
a body we cannot read: it is stored, rejected and audited instead (QUALITY checks 4, 25).
"""

import logging

from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.http import client_ip

from .c2b import (
    MalformedC2B,
    c2b_process_safely,
    c2b_receive,
    c2b_spool,
    c2b_url_secret_matches,
    c2b_validation_answer,
    parse_c2b,
)
from .models import C2BConfirmation

logger = logging.getLogger(__name__)
security_logger = logging.getLogger("security")

MAX_C2B_BYTES = 16 * 1024
# Daraja's documented answers (daraja.md 7.4): confirmation "always 0"; validation "0" accepts, C2B000xx refuses.
CONFIRMATION_ANSWER = {"ResultCode": 0, "ResultDesc": "Success"}
NOT_ACCEPTED = {"ResultCode": 1, "ResultDesc": "Temporarily unavailable"}
VALIDATION_ACCEPTED = {"ResultCode": "0", "ResultDesc": "Accepted"}


def _delivery(request, secret: str):
    if not c2b_url_secret_matches(secret):
        # Not Daraja (or C2B is off): nothing is stored, so a stranger cannot fill the table.
        security_logger.warning("C2B request with a wrong URL secret from %s", client_ip(request))
        raise Http404
    body = request.body[:MAX_C2B_BYTES]
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("cookie", "authorization")}
    return body, headers, client_ip(request)


@csrf_exempt  # Daraja cannot send a CSRF token; the secret in the URL authenticates it.
@require_POST
def c2b_confirmation(request, secret=""):
    """Money has arrived. Kept before it is answered: stored, else spooled to local disk (a database outage),
    else a 503, never "Success" and dropped (QUALITY check 23)."""
    body, headers, source_ip = _delivery(request, secret)
    try:
        delivery = c2b_receive(kind=C2BConfirmation.Kind.CONFIRMATION, body=body, headers=headers, source_ip=source_ip)
    except Exception:
        # Not the body: it holds the payer's names.
        logger.exception("Could not store a C2B confirmation (%d bytes)", len(body))
        try:
            spool_id = c2b_spool(body=body, headers=headers, source_ip=source_ip)
        except Exception:
            logger.critical("C2B confirmation neither stored nor spooled: answered 503", exc_info=True)
            return JsonResponse(NOT_ACCEPTED, status=503)
        logger.warning("C2B confirmation kept in the spool as %s, to be replayed", spool_id)
        return JsonResponse(CONFIRMATION_ANSWER)
    c2b_process_safely(delivery)
    return JsonResponse(CONFIRMATION_ANSWER)


@csrf_exempt  # Daraja cannot send a CSRF token; the secret in the URL authenticates it.
@require_POST
def c2b_validation(request, secret=""):
    """Daraja asks whether to take a payment (only when External Validation is on for the shortcode). Answered
    within milliseconds: the verdict needs no database but the account lookup (MPESA_C2B_VALIDATION)."""
    body, headers, source_ip = _delivery(request, secret)
    try:
        payload = parse_c2b(body.decode("utf-8", errors="replace"))
    except MalformedC2B:
        payload = None
    code, why = c2b_validation_answer(payload)
    try:
        delivery = c2b_receive(kind=C2BConfirmation.Kind.VALIDATION, body=body, headers=headers, source_ip=source_ip)
    except Exception:
        # Only a question: the confirmation that follows is the money, and it is spooled if need be.
        logger.exception("Could not store a C2B validation request (%d bytes); answered %s", len(body), code)
    else:
        c2b_process_safely(delivery)
    if code == "0":
        return JsonResponse(VALIDATION_ACCEPTED)
    return JsonResponse({"ResultCode": code, "ResultDesc": "Rejected"})
