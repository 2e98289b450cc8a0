"""Input no field of the system can take, refused once at the edge with a 400 instead of a 500 deep inside.

Two kinds reach nothing useful and used to crash a view:
- a NUL character: PostgreSQL text cannot hold one, so a search or a save failed with DataError wherever a
  form or serializer did not happen to refuse it first (a query string, a URL, a JSON value);
- JSON nested deeper than any request of ours: the decoder runs out of stack (RecursionError) long
  before a serializer sees it.
`RefuseMalformedInputMiddleware` checks what Django parses (the URL, the query string, a posted form); the
REST API's parsers (core.parsers) check the bodies DRF parses (JSON, and forms sent by PATCH or PUT).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import SuspiciousOperation

NUL = "\x00"
# Our deepest request body is two levels (a field holding a list); anything far deeper is not ours.
MAX_JSON_DEPTH = 32

NUL_MESSAGE = "The request contains a NUL character (\\u0000), which no field accepts."
DEPTH_MESSAGE = f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."


class MalformedInput(SuspiciousOperation):
    """Django answers it with a 400 (config.urls handler400) and logs it to django.security.MalformedInput."""


def input_problem(data) -> str | None:
    """Why `data` (decoded JSON, a QueryDict, a dict of strings or uploaded files) cannot be taken, or None.

    Iterative: the point is to survive input built to exhaust a recursive walk.
    """
    pending = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            return DEPTH_MESSAGE
        if isinstance(value, str):
            if NUL in value:
                return NUL_MESSAGE
        elif hasattr(value, "lists"):  # QueryDict / MultiValueDict: every value of every key
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth) for _, items in value.lists() for item in items)
        elif isinstance(value, Mapping):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend((item, depth + 1) for item in value)
        elif hasattr(value, "name"):  # an uploaded file: its name is stored and shown
            pending.append((value.name or "", depth))
    return None


class RefuseMalformedInputMiddleware:
    """A NUL in the URL, the query string or a posted form (names, values, file names) is a 400 before any
    view, session or database query sees it. Placed before the session middleware: nothing is loaded for it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if NUL in request.path_info:
            raise MalformedInput(NUL_MESSAGE)
        problem = input_problem(request.GET)
        # request.POST is only parsed for POST, and only for form bodies; JSON is the API parsers' part.
        if not problem and request.method == "POST":
            problem = input_problem(request.POST) or input_problem(request.FILES)
        if problem:
            raise MalformedInput(problem)
        return self.get_response(request)
