"""One error shape for every API answer that is not a success:

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"phone_number": ["..."]}}}

`fields` is there only for input errors, `extra` only when a refusal carries it; nothing of a traceback ever is.
A service's refusal (core.exceptions.DomainError: MembershipError, PaymentError...) is answered here, once,
with its own status and code; views do not catch it. Unhandled exceptions still reach
Django's 500 handling (logged, and a plain 500 body from `server_error`), never a debug page in production.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import DomainError


def _flatten(detail) -> list[str]:
    if isinstance(detail, list):
        return [str(item) for item in detail]
    if isinstance(detail, dict):
        return [f"{key}: {message}" for key, value in detail.items() for message in _flatten(value)]
    return [str(detail)]


def _api_exception(error: DomainError) -> exceptions.APIException:
    if error.retry_after is not None:
        # DRF's Throttled sets Retry-After and says when to come back.
        return exceptions.Throttled(wait=error.retry_after, detail=error.message)
    exception = exceptions.APIException(error.message, code=error.code)
    exception.status_code = error.status_code
    return exception


def api_exception_handler(exc, context):
    extra = None
    if isinstance(exc, DomainError):
        extra = exc.extra
        exc = _api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    fields = None
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        fields = {key: _flatten(value) for key, value in exc.detail.items() if key != "non_field_errors"}
        general = _flatten(exc.detail.get("non_field_errors", []))
        message = general[0] if general else "Some fields were not accepted; see fields."
        code = "invalid"
    else:
        detail = getattr(exc, "detail", None)
        messages = _flatten(detail) if detail is not None else [str(exc)]
        message = " ".join(messages)
        codes = exc.get_codes() if hasattr(exc, "get_codes") else "error"
        code = codes if isinstance(codes, str) else "invalid"
    body = {"error": {"status": response.status_code, "code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    if extra:
        body["error"]["extra"] = extra
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        body["error"]["retry_after_seconds"] = int(exc.wait)
    response.data = body
    return response
