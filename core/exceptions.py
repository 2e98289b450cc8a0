"""The one base for errors a service raises to refuse an action: its message is safe to show the user.

The API's exception handler (api.errors) answers any DomainError in the usual error shape with its
`status_code`, `code` and `extra`; web views show the message with `show_domain_error` below.
A service never needs to know which of the two called it.
"""

from __future__ import annotations

import math

from django.contrib import messages


class DomainError(Exception):
    """An action refused by a rule of the domain. `extra` is anything a client may act on (JSON-safe)."""

    status_code: int = 409  # the usual case: not possible in the current state
    code: str = "conflict"

    def __init__(
        self,
        message: str = "",
        *,
        extra: dict | None = None,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        # Seconds after which trying again may succeed (answered as 429 with Retry-After by the API).
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))

    def __str__(self) -> str:
        return self.message


def show_domain_error(request, error: DomainError, *, form=None, field: str | None = None, level=messages.ERROR):
    """Tell the user why their action was refused: on `form` (a page re-rendered with it; on `field`, or at
    the top) or, without a form, as a message on the next page shown."""
    if form is not None:
        form.add_error(field, error.message)
    else:
        messages.add_message(request, level, error.message)
