"""Gunicorn settings for one web node (`gunicorn --config deploy/gunicorn.conf.py config.wsgi:application`).

Every value can be changed from the environment, so the systemd unit, the supervisor program and the
stack test (deploy/stack_test.py) share this file:

    GUNICORN_BIND       address to listen on (default 127.0.0.1:8001); nginx's upstream lists every node
    GUNICORN_WORKERS    worker processes (default 2 x CPU cores + 1)
    GUNICORN_THREADS    threads per worker (default 4; 1 gives plain sync workers)
    GUNICORN_TIMEOUT    seconds a request may take before its worker is restarted (default 60)
    GUNICORN_ACCESS_LOG access log file, "-" for stdout (default "-"); GUNICORN_ERROR_LOG likewise (stderr)
    GUNICORN_NAME       process title (default membership-web)

Threaded workers (gthread): nginx buffers requests and responses, so slow clients never hold a worker, and
private files are sent by nginx (X-Accel-Redirect). Threads, not plain sync workers, because an upload's
check waits seconds for its child process (members/uploads.py): with sync workers three hostile uploads held
both workers and GET /login/ took 3-8 s; with 4 threads a worker the other threads answer it in tens of ms
(bench/login_under_hostile_uploads.py). Each thread keeps its own database connection: up to
workers x threads connections a node.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8001")
workers = _int("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1)
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5  # nginx keeps connections to the upstream open (keepalive in the upstream block)
# Recycle workers now and then so a slow leak never grows without bound; the jitter spreads restarts.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = 200
# Heartbeat files in memory, not on a possibly slow disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: PTH112, S108
proc_name = os.environ.get("GUNICORN_NAME", "membership-web")

# Only nginx on this machine talks to gunicorn: trust its X-Forwarded-Proto (wsgi.url_scheme) from loopback.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
# The access log masks the secret token in Daraja's callback URLs (/api/mpesa/callback/********/).
logger_class = "core.access_log.TokenMaskingLogger"
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Client (from X-Forwarded-For), request line, status, bytes, request time in seconds (%(L)s) and in
# microseconds (%(D)s), the request id nginx sends (X-Request-ID), user agent.
access_log_format = (
    '%({x-forwarded-for}i)s %(h)s %(t)s "%(r)s" %(s)s %(B)s %(L)ss %(D)sus rid=%({x-request-id}i)s "%(a)s"'
)
