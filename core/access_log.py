"""gunicorn's access log without Daraja callback tokens (deploy/gunicorn.conf.py sets `logger_class` to this).

The callback URL carries each payment's secret token in its path, and gunicorn's access log format cannot
rewrite a value, so this logger masks every atom (request line, path, Referer, headers, environ) with
core.log_redaction.mask_callback_tokens before the format is applied. nginx masks its own log with a map
(deploy/nginx/membership.conf); Django's log lines pass through core.log_redaction's filter.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from core.log_redaction import mask_callback_tokens


class TokenMaskingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: mask_callback_tokens(value) if isinstance(value, str) else value for key, value in atoms.items()}
