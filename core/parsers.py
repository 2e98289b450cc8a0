"""The REST API's body parsers (settings REST_FRAMEWORK DEFAULT_PARSER_CLASSES, and any view listing its own):
DRF's, refusing what no field can take (core.malformed_input) with a ParseError, a 400 in the API's error shape.
"""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .malformed_input import DEPTH_MESSAGE, input_problem


class _RefuseMalformedInput:
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            parsed = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            # The JSON decoder recurses once per level: thousands of [ exhaust the stack before any check.
            raise ParseError(DEPTH_MESSAGE) from error
        data = parsed.data if isinstance(parsed, parsers.DataAndFiles) else parsed
        files = parsed.files if isinstance(parsed, parsers.DataAndFiles) else None
        problem = input_problem(data) or (input_problem(files) if files else None)
        if problem:
            raise ParseError(problem)
        return parsed


class JSONParser(_RefuseMalformedInput, parsers.JSONParser):
    pass


class FormParser(_RefuseMalformedInput, parsers.FormParser):
    pass


class MultiPartParser(_RefuseMalformedInput, parsers.MultiPartParser):
    pass
