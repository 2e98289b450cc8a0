"""The callback token is in the callback URL's path, so every access log would keep it: gunicorn's, nginx's and
Django's own request logging. Each one masks it (check 18: secrets are shown nowhere, logs included)."""

import datetime
import logging
import re
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.log_redaction import MASK, RedactingFilter

pytestmark = pytest.mark.security_check(18)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TOKEN = "Zq3-9_xTokenOfAPaymentAbCdEfGhIjKl"  # what secrets.token_urlsafe(24) looks like
PATHS = [
    f"/api/mpesa/callback/{TOKEN}/",
    f"/api/mpesa/callback/{TOKEN}",
    f"/api/mpesa/callback/{TOKEN}/?x=1",
    f"/API/MPESA/CALLBACK/{TOKEN}/",
]


def gunicorn_line(tmp_path, path):
    """One access log line written by the logger class and format deploy/gunicorn.conf.py configures."""
    from gunicorn.config import Config

    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    cfg = Config()
    log_file = tmp_path / "access.log"
    for name in ("logger_class", "access_log_format"):
        cfg.set(name, conf[name])
    cfg.set("accesslog", str(log_file))
    logger = cfg.logger_class(cfg)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": path,
        "PATH_INFO": path.split("?")[0],
        "QUERY_STRING": path.partition("?")[2],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://members.example.org{path}",
        "HTTP_USER_AGENT": "Apache-HttpClient",
    }
    request = SimpleNamespace(headers=[("X-FORWARDED-FOR", "196.201.212.69"), ("X-REQUEST-ID", "abc123")])
    response = SimpleNamespace(status="200 OK", sent=38, headers=[("Content-Type", "application/json")])
    logger.access(response, request, environ, datetime.timedelta(milliseconds=12))
    for handler in logger.access_log.handlers:
        handler.flush()
    text = log_file.read_text()
    logger.access_log.handlers.clear()
    return text


@pytest.mark.parametrize("path", PATHS, ids=["slash", "no_slash", "query", "upper_case"])
def test_gunicorns_access_log_masks_the_callback_token(tmp_path, path):
    line = gunicorn_line(tmp_path, path)
    assert "196.201.212.69" in line and '" 200 38 ' in line  # the line is otherwise intact
    assert TOKEN not in line
    assert MASK in line


def test_gunicorns_access_log_leaves_other_paths_alone(tmp_path):
    line = gunicorn_line(tmp_path, "/payments/abc123/status/")
    assert '"POST /payments/abc123/status/ HTTP/1.1"' in line


def nginx_site():
    return (DEPLOY / "nginx" / "membership.conf").read_text()


def nginx_mask():
    """The map nginx's access log format uses, as (regex, replacement) in Python's syntax."""
    site = nginx_site()
    block = re.search(r"map \$request \$membership_request \{(.*?)\n\}", site, re.S)
    assert block, "membership.conf has no `map $request $membership_request` block"
    rule = re.search(r'"~\*(?P<regex>[^"]+)"\s+"(?P<value>[^"]+)";', block.group(1))
    assert rule, block.group(1)
    assert re.search(r"default\s+\$request;", block.group(1))
    value = re.sub(r"\$\{(\w+)\}", r"\\g<\1>", rule.group("value"))
    return re.compile(rule.group("regex"), re.I), value


def test_nginx_logs_the_request_line_through_the_mask_and_every_access_log_uses_that_format():
    site = nginx_site()
    settings_only = "\n".join(line.split("#")[0] for line in site.splitlines())
    log_format = re.search(r"log_format membership (.*?);", settings_only, re.S).group(1)
    assert "$membership_request" in log_format
    assert not re.search(r"\$request\b(?!_)", log_format), "the raw $request is still logged"
    assert not re.search(r"\$(request_uri|uri|http_referer)\b", log_format)
    access_logs = re.findall(r"access_log\s+([^;]+);", settings_only)
    assert access_logs and all(entry.split()[-1] == "membership" for entry in access_logs), access_logs
    # Each server block writes its own access log (the plain-HTTP redirect server included): none falls
    # back to nginx's default "combined" format, which logs $request unmasked.
    assert settings_only.count("server {") == len(access_logs)


@pytest.mark.parametrize("path", PATHS, ids=["slash", "no_slash", "query", "upper_case"])
def test_nginxs_mask_hides_the_token(path):
    regex, value = nginx_mask()
    request = f"POST {path} HTTP/1.1"
    match = regex.fullmatch(request)
    assert match, request
    masked = match.expand(value)
    assert TOKEN not in masked
    assert masked.startswith("POST ") and masked.endswith(" HTTP/1.1") and MASK in masked


def test_nginxs_mask_leaves_other_requests_alone():
    regex, _ = nginx_mask()
    assert not regex.fullmatch("GET /payments/abc123/status/ HTTP/1.1")
    assert not regex.fullmatch("POST /api/mpesa/callback/ HTTP/1.1")  # no token, nothing to hide


@pytest.mark.django_db
def test_djangos_own_request_logging_masks_the_token(client, caplog):
    """django.request logs the path of a 4xx/5xx answer ("Method Not Allowed (GET): /api/mpesa/callback/...")."""
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(f"/api/mpesa/callback/{TOKEN}/").status_code == 405
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records
    redact = RedactingFilter()
    for record in records:
        redact.filter(record)
        assert TOKEN not in record.getMessage()


def test_runservers_request_lines_pass_through_the_masking_filter():
    """`dev.py run` serves with runserver, whose django.server logger has its own handler by default."""
    from django.utils.log import ServerFormatter

    handlers = logging.getLogger("django.server").handlers
    assert any(isinstance(f, RedactingFilter) for handler in handlers for f in handler.filters), handlers
    assert not [h for h in handlers if isinstance(h.formatter, ServerFormatter)], "Django's unmasked handler"
