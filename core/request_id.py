"""A request id on every log record: taken from nginx's X-Request-ID when it looks like one, else made here.

The id lives in a context variable for the length of the request, goes back in the response's X-Request-ID
header, and travels with Celery tasks queued during the request (a message header), so the worker's log
lines of that task carry it too. Records logged outside any request show "-".
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from celery import signals
from django.core.signals import request_finished
from django.dispatch import receiver

HEADER = "X-Request-ID"
NO_REQUEST = "-"
# nginx's $request_id is 32 hex digits; a UUID with dashes or another proxy's id fits too. Anything else
# (too long, spaces, newlines, quotes) is replaced: a client must not write arbitrary text into our logs.
VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default=NO_REQUEST)


def current_request_id() -> str:
    return request_id_var.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(value: str | None) -> str:
    return value if value and VALID_ID.fullmatch(value) else new_request_id()


class RequestIdMiddleware:
    """First in MIDDLEWARE, so every later middleware's log lines (and the error log of a 500) have the id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = accepted_request_id(request.headers.get(HEADER))
        request.request_id = request_id
        # Not reset on the way out: Django logs 4xx answers ("Not Found: ...") after the middleware has
        # returned. The request_finished signal clears it once the response is closed.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="core.request_id.clear")
def _clear_request_id(**kwargs):
    request_id_var.set(NO_REQUEST)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (a handler filter, so records from any logger get it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


# --- Celery: the id of the request that queued a task, in the worker's log lines of that task -------------
TASK_HEADER = "request_id"
_task_tokens: dict[str, contextvars.Token] = {}


@signals.before_task_publish.connect(weak=False)
def _add_request_id_header(headers=None, **kwargs):
    request_id = request_id_var.get()
    if headers is not None and request_id != NO_REQUEST:
        headers.setdefault(TASK_HEADER, request_id)


@signals.task_prerun.connect(weak=False)
def _use_request_id_of_task(task_id=None, task=None, **kwargs):
    # Eager tasks run inside the request and keep its id: only a header from the queue replaces it.
    request_id = getattr(getattr(task, "request", None), TASK_HEADER, None)
    if request_id and task_id and VALID_ID.fullmatch(str(request_id)):
        _task_tokens[task_id] = request_id_var.set(str(request_id))


@signals.task_postrun.connect(weak=False)
def _forget_request_id_of_task(task_id=None, **kwargs):
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        try:
            request_id_var.reset(token)
        except ValueError:  # set in another context (should not happen in a worker); just clear it
            request_id_var.set(NO_REQUEST)
