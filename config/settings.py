"""Settings for the membership system.

Everything comes from the environment or a `.env` file beside manage.py (see `.env.example`, which lists
every variable). With nothing set the project runs on the embedded default: SQLite, local-memory
cache, in-process tasks and console email. Production sets the variables the README documents.
"""

import datetime
import io
import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from celery.schedules import crontab

from core.secret_key import DEVELOPMENT_KEY, refuse_unsafe_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

# `KEY=value  # note`: a # after whitespace starts a comment, as in a shell and python-dotenv; a quoted value
# ends at its closing quote. django-environ keeps such comments in the value (the brief's example has
# `MPESA_ENVIRONMENT=sandbox  # Change to 'production' for live`), and its parse_comments option cuts at any #,
# even inside a secret key (Django's generated keys contain #).
_INLINE_COMMENT = re.compile(r"\s+#.*\Z")
_QUOTED_VALUE = re.compile(r"""\A\s*(["'])(.*)\1\s*(?:#.*)?\Z""")


def strip_inline_comments(text: str) -> str:
    lines = []
    for line in text.splitlines():
        key, separator, value = line.partition("=")
        if separator and not key.lstrip().startswith("#"):
            quoted = _QUOTED_VALUE.match(value)
            value = quoted[1] + quoted[2] + quoted[1] if quoted else _INLINE_COMMENT.sub("", value).strip()
            line = f"{key}={value}"
        lines.append(line)
    return "\n".join(lines)


env = environ.Env()
# ENV_FILE names another file than the .env beside manage.py (tests, several configurations side by side).
ENV_FILE = Path(os.environ.get("ENV_FILE") or BASE_DIR / ".env")
if ENV_FILE.exists():
    env.read_env(io.StringIO(strip_inline_comments(ENV_FILE.read_text(encoding="utf-8"))))


def env_path(name: str, default: Path) -> Path:
    value = env.str(name, default="")
    return Path(value).expanduser() if value else default


# A key for local development only. With DEBUG off, reading these settings fails for it, for a missing,
# short or placeholder key (core.secret_key): gunicorn, Celery and every command refuse to start.
DEV_SECRET_KEY = DEVELOPMENT_KEY

SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=True)
refuse_unsafe_secret_key(key=SECRET_KEY, debug=DEBUG)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

ORGANISATION_NAME = env.str("ORGANISATION_NAME", default="Kalda-Tech Society")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    # The admin site requires a verified second factor (accounts.admin_site.SecureAdminSite).
    "accounts.admin_apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "bootstrap",
    "core",
    "accounts",
    "audit",
    "members",
    "notifications",
    "portal",
    "dashboard",
    "payments",
    "privacy",
    "api",
    "demo",
    # Two-factor (TOTP apps and single-use recovery codes) and failed-login lockouts (accounts.security).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
]

MIDDLEWARE = [
    # First: every later log line of the request carries its id (core.request_id).
    "core.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A NUL in the URL, query or a posted form is a 400 before any session or query (core.malformed_input).
    "core.malformed_input.RefuseMalformedInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second step (django-otp).
    "django_otp.middleware.OTPMiddleware",
    # Cache-Control: private, no-store on answers to a signed-in user or an API token.
    "core.middleware.NoStoreForPersonalDataMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Signs out sessions idle for SESSION_IDLE_TIMEOUT_MINUTES; keeps staff on the 2FA set-up page until done.
    "accounts.middleware.SessionIdleTimeoutMiddleware",
    "accounts.middleware.TwoFactorRequiredMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page (accounts.security).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.site",
                "notifications.context_processors.unread",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
# DATABASE_URL wins; otherwise DB_NAME selects PostgreSQL with the brief's DB_* variables; otherwise
# a SQLite file in the project directory.
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
elif env.str("DB_NAME", default=""):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": env.str("DB_NAME"),
            "USER": env.str("DB_USER", default=""),
            "PASSWORD": env.str("DB_PASSWORD", default=""),
            "HOST": env.str("DB_HOST", default="localhost"),
            "PORT": env.str("DB_PORT", default="5432"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_path("SQLITE_PATH", BASE_DIR / "db.sqlite3"),
        }
    }
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# Behind PgBouncer in transaction pooling mode: True (and CONN_MAX_AGE=0). QuerySet.iterator() then reads
# without server-side cursors; the CSV export keeps its cursor inside its own transaction, which is safe.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TEST_RUNNER = "config.test_runner.PytestTestRunner"

# --- Cache and background jobs ----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")


def redis_url_for_test_worker(url: str, worker: str) -> str:
    """`dev.py test` runs the suite in parallel processes (pytest-xdist workers gw0, gw1, ...). Each gets its own
    Redis database, the given one plus its number: tests clear the cache (FLUSHDB) and purge the Celery queue,
    which would wipe another worker's throttle counters or hand it their tasks."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    if database > 15:
        raise ValueError(f"Test worker {worker} would use Redis database {database}: give REDIS_URL a lower one.")
    return urlunsplit(parts._replace(path=f"/{database}"))


if REDIS_URL and os.environ.get("PYTEST_XDIST_WORKER"):
    REDIS_URL = redis_url_for_test_worker(REDIS_URL, os.environ["PYTEST_XDIST_WORKER"])


def redis_caches(url: str) -> dict:
    """The cache with Redis: an outage degrades to an empty cache with a logged warning instead of 500s
    (core/cache.py); the socket timeouts bound what one cache call costs while Redis is unreachable."""
    timeout = env.float("CACHE_SOCKET_TIMEOUT_SECONDS", default=1.0)
    return {
        "default": {
            "BACKEND": "core.cache.OutageTolerantRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": timeout, "socket_timeout": timeout},
        }
    }


if REDIS_URL:
    CACHES = redis_caches(REDIS_URL)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# After a failed cache call, how long the cache is left alone before it is tried again, and how often the
# "cache unavailable" warning is logged (per process).
CACHE_RETRY_SECONDS = env.float("CACHE_RETRY_SECONDS", default=5.0)
CACHE_OUTAGE_WARNING_SECONDS = env.float("CACHE_OUTAGE_WARNING_SECONDS", default=60.0)

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
# Without a broker, tasks run in-process so the embedded default needs nothing installed.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "Africa/Nairobi"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The outbox (notifications): every email and SMS is a row written with the change it announces; the
# broker only says "send it now". When the broker was down at commit, beat's sweep sends a message still
# never tried NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS after it was queued, checking every
# NOTIFICATIONS_SWEEP_SECONDS (one indexed query). A message claimed for sending longer ago than
# NOTIFICATIONS_STALE_SENDING_SECONDS belongs to a worker that died and is sent again.
NOTIFICATIONS_SWEEP_SECONDS = env.int("NOTIFICATIONS_SWEEP_SECONDS", default=60)
NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS = env.int("NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS", default=60)
NOTIFICATIONS_STALE_SENDING_SECONDS = env.int("NOTIFICATIONS_STALE_SENDING_SECONDS", default=300)
CELERY_BEAT_SCHEDULE = {
    "reconcile-pending-payments": {"task": "payments.reconcile_pending_payments", "schedule": 60.0},
    # Callbacks kept on disk during a database outage go into the database (payments.services).
    "replay-callback-spool": {"task": "payments.replay_callback_spool", "schedule": 30.0},
    # The outbox sweep: sends messages the broker never got (notifications.tasks.redeliver_queued_messages).
    "redeliver-queued-messages": {
        "task": "notifications.redeliver_queued_messages",
        "schedule": float(NOTIFICATIONS_SWEEP_SECONDS),
    },
    # Daily at 06:00 in CELERY_TIMEZONE (EAT): lapse members, then send renewal reminders (members.lifecycle).
    "run-lifecycle-jobs": {"task": "members.run_lifecycle_jobs", "schedule": crontab(hour=6, minute=0)},
    # Hourly: delete member-list export files older than EXPORT_RETENTION_HOURS (dashboard.tasks).
    "delete-old-exports": {"task": "dashboard.delete_old_exports", "schedule": crontab(minute=20)},
    # Every minute, within DASHBOARD_HOME_CACHE_SECONDS: count the staff home's figures before anyone asks.
    "refresh-staff-home": {"task": "dashboard.refresh_home_figures", "schedule": 60.0},
    # Daily at 03:30 EAT: anonymise rejected applications older than REJECTED_APPLICATION_RETENTION_DAYS
    # (privacy.tasks; rows are claimed with skip_locked, so overlapping runs never act twice).
    "anonymise-old-rejected-applications": {
        "task": "privacy.anonymise_rejected_applications",
        "schedule": crontab(hour=3, minute=30),
    },
}
# Member-list exports up to this many rows stream in the request; bigger ones are written by a background
# job and the user is told when the file is ready (dashboard.exports).
EXPORT_SYNC_MAX_ROWS = env.int("EXPORT_SYNC_MAX_ROWS", default=50_000)
# Hours a finished export file is kept for download before it is deleted.
EXPORT_RETENTION_HOURS = env.int("EXPORT_RETENTION_HOURS", default=24)
# Staff home: seconds its figures are cached (0: computed on every request; the page says when they were),
# and seconds the totals of the charts' closed months are kept (dashboard.home.figures). Celery beat counts
# the figures again every minute, so with a worker and beat running pages never wait for the counting.
DASHBOARD_HOME_CACHE_SECONDS = env.int("DASHBOARD_HOME_CACHE_SECONDS", default=120)
DASHBOARD_HOME_HISTORY_SECONDS = env.int("DASHBOARD_HOME_HISTORY_SECONDS", default=3600)
# Longest a query of the audit trail viewer may run on PostgreSQL before the page asks for narrower filters.
AUDIT_LIST_TIMEOUT_MS = env.int("AUDIT_LIST_TIMEOUT_MS", default=5000)

# --- REST API (api/, and each app's api.py) ------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.TwoFactorJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's parsers, refusing NUL characters and too-deep JSON with a 400 (core.malformed_input).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser", "core.parsers.FormParser", "core.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # Unauthenticated requests per IP; login attempts per username and per IP.
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "login": env.str("API_THROTTLE_LOGIN", default="10/hour"),
        "login_ip": env.str("API_THROTTLE_LOGIN_IP", default="30/hour"),
        # POST /api/members/register/ per IP; password re-checks (PATCH profile of email or phone) per user.
        "register": env.str("API_THROTTLE_REGISTER", default="10/hour"),
        "reauth": env.str("API_THROTTLE_REAUTH", default="10/hour"),
    },
    # Behind nginx (USE_X_FORWARDED_FOR), throttles count the client's address, not the proxy's.
    "NUM_PROXIES": 1 if env.bool("USE_X_FORWARDED_FOR", default=False) else None,
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": datetime.timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": datetime.timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
# Rotation gives each refresh token a fresh expiry; a login's tokens stop being refreshed this long after it.
JWT_REFRESH_ABSOLUTE_LIFETIME_DAYS = env.int("JWT_REFRESH_ABSOLUTE_LIFETIME_DAYS", default=30)
SPECTACULAR_SETTINGS = {
    "TITLE": "Membership API",
    "DESCRIPTION": "Members, payments (M-Pesa STK push) and staff endpoints. Authenticate with POST /api/auth/login/.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's assets come from drf-spectacular-sidecar's static files: nothing from another host.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Members and documents both have a `status`: each enum gets its own name rather than a hashed one.
    "ENUM_NAME_OVERRIDES": {
        "MemberStatusEnum": "members.models.Member.Status",
        "DocumentStatusEnum": "members.models.Document.Status",
    },
}

# --- Users and authentication -----------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
ADMIN_URL = env.str("ADMIN_URL", default="admin/")
# Every login (web form, the admin's, which is the same page, and POST /api/auth/login/) goes through
# django-axes first: it refuses a username+address pair locked out after failed logins.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed-login lockout (django-axes): AXES_FAILURE_LIMIT failures for one username from one address lock that
# pair out for AXES_COOLOFF_MINUTES; the same username from another address is not affected, so nobody can
# lock a member out from elsewhere. A wrong second-step code counts as a failure too. Staff with the axes
# permissions (Admin) see and clear lockouts at /staff/security/lockouts/.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Beside the pair lock, with the same cool-off (accounts.security, accounts.backends.LockoutHandler): one
# address failing at many accounts, and one account failed at from many addresses, are locked too.
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env.int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", default=20)
LOGIN_FAILURE_LIMIT_PER_ACCOUNT = env.int("LOGIN_FAILURE_LIMIT_PER_ACCOUNT", default=20)
AXES_HANDLER = "accounts.backends.LockoutHandler"
# Password reset requests (accounts.security.password_reset_allowed), counted in the cache: per client
# address across accounts, and per account (its normalised email, whether or not an account has it) across
# addresses. Past either, the page answers exactly as when it sent the email, and sends nothing.
PASSWORD_RESET_RATE_PER_ADDRESS = env.str("PASSWORD_RESET_RATE_PER_ADDRESS", default="5/hour")
PASSWORD_RESET_RATE_PER_ACCOUNT = env.str("PASSWORD_RESET_RATE_PER_ACCOUNT", default="3/hour")
# Attempts during a lockout are refused without moving its end, so "try again at" stays true.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.security.axes_username"
# The same client address as the audit trail (X-Forwarded-For only with USE_X_FORWARDED_FOR, behind nginx).
AXES_CLIENT_IP_CALLABLE = "core.http.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.security.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp", "code", "otp_token", "current_password"]
AXES_DISABLE_ACCESS_LOG = True  # successful logins are in the audit trail already
AXES_ENABLE_ADMIN = False  # the staff page lists and clears lockouts
# Two-factor (django-otp): mandatory for Admin, Staff, Finance and anyone with is_staff; optional for members.
OTP_TOTP_ISSUER = ORGANISATION_NAME
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows a device's secret key or QR code
# Minutes a login may wait between the password and the code before it starts again.
TWO_FACTOR_PENDING_MINUTES = env.int("TWO_FACTOR_PENDING_MINUTES", default=5)
# A signed-in web session with no request for this many minutes is ended (0: never).
SESSION_IDLE_TIMEOUT_MINUTES = env.int("SESSION_IDLE_TIMEOUT_MINUTES", default=30)

# --- Internationalisation ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Africa/Nairobi"
USE_I18N = True
USE_TZ = True

# --- Static files, public media and private documents ---------------------------------------------------
STATIC_URL = env.str("STATIC_URL", default="/static/")
STATIC_ROOT = env_path("STATIC_ROOT", BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = env_path("MEDIA_ROOT", BASE_DIR / "var" / "media")
# Members' documents live here: outside MEDIA_ROOT and STATIC_ROOT, never behind a public URL, and
# served only through a view that checks who is asking.
PRIVATE_MEDIA_ROOT = env_path("PRIVATE_MEDIA_ROOT", BASE_DIR / "var" / "private")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "private": {"BACKEND": "members.storage.PrivateDocumentStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Where uploaded documents and export files live: "filesystem" (MEDIA_ROOT, PRIVATE_MEDIA_ROOT; with several
# web nodes a shared mount such as NFS) or "s3" (a private S3-compatible bucket: AWS S3, MinIO, DigitalOcean
# Spaces, ...; django-storages and boto3; the AWS_* variables below; built by config/storage.py, which the
# tests run against a local S3-compatible server).
STORAGE_BACKEND = env.str("STORAGE_BACKEND", default="filesystem")
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="")
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="")
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="")
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="")  # masked in logs (LOG_REDACT_SETTINGS)
AWS_S3_ADDRESSING_STYLE = env.str("AWS_S3_ADDRESSING_STYLE", default="")
if STORAGE_BACKEND == "s3":
    from config.storage import s3_storages

    STORAGES.update(
        s3_storages(
            bucket_name=AWS_STORAGE_BUCKET_NAME,
            endpoint_url=AWS_S3_ENDPOINT_URL,
            region_name=AWS_S3_REGION_NAME,
            access_key=AWS_ACCESS_KEY_ID,
            secret_key=AWS_SECRET_ACCESS_KEY,
            addressing_style=AWS_S3_ADDRESSING_STYLE,
        )
    )
elif STORAGE_BACKEND != "filesystem":
    raise ValueError(f"STORAGE_BACKEND must be filesystem or s3, not {STORAGE_BACKEND!r}.")
# Behind nginx: the prefix of its `internal` location that aliases PRIVATE_MEDIA_ROOT (deploy/nginx/
# membership.conf: /protected/). Documents and exports are then answered with X-Accel-Redirect after the
# permission check and sent by nginx. Empty (default): Django streams the file itself.
PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX = env.str("PRIVATE_MEDIA_ACCEL_REDIRECT_PREFIX", default="")
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750

# --- Membership rules ------------------------------------------------------------------------------------
MEMBERSHIP_NUMBER_PREFIX = env.str("MEMBERSHIP_NUMBER_PREFIX", default="KTS")
DOCUMENT_MAX_UPLOAD_MB = env.int("DOCUMENT_MAX_UPLOAD_MB", default=5)
# Read from the file's header before anything is decoded. 25 megapixels takes a 12 MP phone photo (4000x3000),
# an A4 scan at 300 dpi (2480x3508, 8.7 MP) or 400 dpi (15.5 MP), and a 24 MP camera; it refuses the
# 6200x6200 (38 MP) PNG that compresses to 150 KB yet costs seconds and 150 MB to decode.
DOCUMENT_MAX_IMAGE_PIXELS = env.int("DOCUMENT_MAX_IMAGE_PIXELS", default=25_000_000)
# An ID, a certificate or a letter is a few pages; counted without walking a hostile 20,000-page tree.
DOCUMENT_MAX_PDF_PAGES = env.int("DOCUMENT_MAX_PDF_PAGES", default=50)
# Each upload's content is checked in a child process (members/upload_probe.py) that is killed after this
# many seconds (wall clock, and CPU) and may use at most this much address space: whatever a file claims
# (pages, pixels, nesting, compressed sizes), a check costs at most this, and a file that needs more is
# refused. A 24 MP camera JPEG or an A4 300 dpi PNG scan takes well under a second and about 150 MB.
DOCUMENT_CHECK_TIMEOUT_SECONDS = env.float("DOCUMENT_CHECK_TIMEOUT_SECONDS", default=5.0)
DOCUMENT_CHECK_MEMORY_MB = env.int("DOCUMENT_CHECK_MEMORY_MB", default=384)
# At most this many checks run at once on one machine (every gunicorn worker and thread shares the slots):
# with the memory cap above, hostile uploads arriving together cost at most CONCURRENCY x MEMORY_MB and
# CONCURRENCY cores. An upload that finds no free slot within DOCUMENT_CHECK_QUEUE_SECONDS is refused
# ("too many documents are being checked right now").
DOCUMENT_CHECK_CONCURRENCY = env.int("DOCUMENT_CHECK_CONCURRENCY", default=2)
DOCUMENT_CHECK_QUEUE_SECONDS = env.float("DOCUMENT_CHECK_QUEUE_SECONDS", default=15.0)
# Web applications (/register/) per client address, counted in the cache like the API's
# API_THROTTLE_REGISTER; every POST counts, refused ones included, since checking uploads is the cost.
REGISTER_RATE = env.str("REGISTER_RATE", default="10/hour")
MEMBER_MINIMUM_AGE = env.int("MEMBER_MINIMUM_AGE", default=16)
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="KE")
# How many days before the end date a member may renew.
RENEWAL_WINDOW_DAYS = env.int("RENEWAL_WINDOW_DAYS", default=60)
# A request may carry several documents at the upload limit each, plus the form fields.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Data protection (Kenya's Data Protection Act 2019; privacy/) -----------------------------------------
# The privacy notice's version (shown at /privacy/). Change it whenever the notice's text changes: members
# who accepted an older version are asked to read the new one on their next visit to the portal.
PRIVACY_NOTICE_VERSION = env.str("PRIVACY_NOTICE_VERSION", default="2026-11")
# Who members contact about their data (the data protection officer or the office), shown in the notice.
PRIVACY_CONTACT_EMAIL = env.str("PRIVACY_CONTACT_EMAIL", default="")
PRIVACY_CONTACT_PHONE = env.str("PRIVACY_CONTACT_PHONE", default="")
PRIVACY_CONTACT_ADDRESS = env.str("PRIVACY_CONTACT_ADDRESS", default="")
# Days a rejected application is kept (so the applicant can ask why, or appeal) before it is anonymised.
REJECTED_APPLICATION_RETENTION_DAYS = env.int("REJECTED_APPLICATION_RETENTION_DAYS", default=180)
# A member may download their data once per this many seconds (web and API together).
DATA_EXPORT_MIN_INTERVAL_SECONDS = env.int("DATA_EXPORT_MIN_INTERVAL_SECONDS", default=60)

# --- Email and SMS ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"{ORGANISATION_NAME} <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SMS_API_KEY = env.str("SMS_API_KEY", default="")
SMS_USERNAME = env.str("SMS_USERNAME", default="")
SMS_SENDER_ID = env.str("SMS_SENDER_ID", default="")
# Dotted path of the SMS sender: Africa's Talking when its credentials are set, else the console.
SMS_BACKEND = env.str(
    "SMS_BACKEND",
    default="notifications.sms.AfricasTalkingSmsBackend"
    if SMS_API_KEY and SMS_USERNAME
    else "notifications.sms.ConsoleSmsBackend",
)

# --- M-Pesa (Daraja) -------------------------------------------------------------------------------------
MPESA_ENVIRONMENT = env.str("MPESA_ENVIRONMENT", default="").strip().lower() or "simulator"
MPESA_BASE_URL = env.str("MPESA_BASE_URL", default="")
MPESA_CONSUMER_KEY = env.str("MPESA_CONSUMER_KEY", default="")
MPESA_CONSUMER_SECRET = env.str("MPESA_CONSUMER_SECRET", default="")
MPESA_SHORTCODE = env.str("MPESA_SHORTCODE", default="174379")
MPESA_PASSKEY = env.str("MPESA_PASSKEY", default="")
MPESA_CALLBACK_URL = env.str("MPESA_CALLBACK_URL", default="http://127.0.0.1:8000/api/mpesa/callback/")
# Seconds to wait for a callback before asking Daraja about a pending payment (reconciliation).
MPESA_RECONCILE_AFTER_SECONDS = env.int("MPESA_RECONCILE_AFTER_SECONDS", default=60)
# Age after which a payment with no final answer is marked timed out (a later success still completes it).
MPESA_PAYMENT_TIMEOUT_SECONDS = env.int("MPESA_PAYMENT_TIMEOUT_SECONDS", default=900)
# A member cannot start another M-Pesa prompt while one sent this many seconds ago is still pending, and
# nobody (from any account) can prompt a phone that has such a pending prompt.
MPESA_PROMPT_COOLDOWN_SECONDS = env.int("MPESA_PROMPT_COOLDOWN_SECONDS", default=90)
# At most this many prompts per phone number (counted across all members) and per member in any window of
# MPESA_PROMPT_WINDOW_SECONDS (0 turns a limit off); pushes Daraja refused outright (no prompt) do not count.
MPESA_PROMPT_WINDOW_SECONDS = env.int("MPESA_PROMPT_WINDOW_SECONDS", default=900)
MPESA_PROMPTS_PER_PHONE = env.int("MPESA_PROMPTS_PER_PHONE", default=3)
MPESA_PROMPTS_PER_MEMBER = env.int("MPESA_PROMPTS_PER_MEMBER", default=5)
# Check callbacks' source address against MPESA_CALLBACK_ALLOWED_IPS: off, log, or enforce. With DEBUG off
# the default is log: a callback from elsewhere is still applied (the list is unofficial, and a proxy may
# hide the address) but leaves a security log line. With DEBUG on (the simulator on 127.0.0.1) it is off.
MPESA_CALLBACK_IP_CHECK = env.str("MPESA_CALLBACK_IP_CHECK", default="off" if DEBUG else "log")
# A success callback completes a payment only after Daraja's status query confirms it (QUALITY check 24).
# Turning this off (e.g. on the sandbox, whose query reports paid prompts as failed) needs a reason, written
# into the audit entry of every payment completed unconfirmed; `check` refuses off without one.
MPESA_CONFIRM_CALLBACKS = env.bool("MPESA_CONFIRM_CALLBACKS", default=True)
MPESA_CONFIRM_CALLBACKS_OFF_REASON = env.str("MPESA_CONFIRM_CALLBACKS_OFF_REASON", default="").strip()
# The widely cited Safaricom callback addresses (no official list is published; keep it current).
MPESA_CALLBACK_ALLOWED_IPS = env.list(
    "MPESA_CALLBACK_ALLOWED_IPS",
    default=[
        "196.201.214.200",
        "196.201.214.206",
        "196.201.213.114",
        "196.201.214.207",
        "196.201.214.208",
        "196.201.213.44",
        "196.201.212.127",
        "196.201.212.138",
        "196.201.212.129",
        "196.201.212.136",
        "196.201.212.74",
        "196.201.212.69",
    ],
)
# Callbacks the database cannot store (an outage) are written here, one fsync'd file each, and replayed into
# the database by Celery beat (payments.replay_callback_spool, every 30 s) or `manage.py replay_callback_spool`
# on the machine that received them. Local disk, so it works with the database and Redis both down.
MPESA_CALLBACK_SPOOL_DIR = env_path("MPESA_CALLBACK_SPOOL_DIR", BASE_DIR / "var" / "callback-spool")
# At most this many deliveries wait in the spool; beyond it a callback is answered 503, never "Accepted".
MPESA_CALLBACK_SPOOL_MAX_ENTRIES = env.int("MPESA_CALLBACK_SPOOL_MAX_ENTRIES", default=10000)
# /healthz says "degraded" when a spooled delivery is older than this (seconds): the replay is not running.
MPESA_CALLBACK_SPOOL_ALERT_SECONDS = env.int("MPESA_CALLBACK_SPOOL_ALERT_SECONDS", default=300)
# STK push TransactionType: CustomerPayBillOnline (a paybill) or CustomerBuyGoodsOnline (a till).
MPESA_TRANSACTION_TYPE = env.str("MPESA_TRANSACTION_TYPE", default="CustomerPayBillOnline")
# PartyB of an STK push: the till number when MPESA_SHORTCODE is a store number; empty means the shortcode.
MPESA_PARTY_B = env.str("MPESA_PARTY_B", default="")
# Seconds to wait for Daraja: to connect, then for an answer.
MPESA_TIMEOUT = tuple(env.list("MPESA_TIMEOUT", cast=float, default=[5.0, 30.0]))
# Paybill/Till payments (C2B). On when both MPESA_C2B_SHORTCODE (the paybill or till Daraja posts payments
# for) and MPESA_C2B_URL_SECRET (at least 32 characters, e.g. `python -c "import secrets;
# print(secrets.token_urlsafe(32))"`: the confirmation and validation URLs carry it) are set; `check` refuses
# a shortcode without a long secret. `manage.py register_c2b_urls` registers the URLs with Daraja, at
# MPESA_C2B_URL_BASE (default SITE_URL), with the C2B API version (v2 sends the payer's phone masked, v1
# hashed) and the ResponseType (what Daraja does when validation does not answer: Completed or Cancelled).
MPESA_C2B_SHORTCODE = env.str("MPESA_C2B_SHORTCODE", default="").strip()
MPESA_C2B_URL_SECRET = env.str("MPESA_C2B_URL_SECRET", default="").strip()
MPESA_C2B_URL_BASE = env.str("MPESA_C2B_URL_BASE", default="").strip() or SITE_URL
MPESA_C2B_API_VERSION = env.str("MPESA_C2B_API_VERSION", default="v2").strip()
MPESA_C2B_RESPONSE_TYPE = env.str("MPESA_C2B_RESPONSE_TYPE", default="Completed").strip()
# Answer Daraja's validation requests for real (wrong shortcode C2B00015, unknown account C2B00012); off,
# every validation request is accepted. Safaricom sends them only when External Validation is on for the
# shortcode (ask apisupport).
MPESA_C2B_VALIDATION = env.bool("MPESA_C2B_VALIDATION", default=False)
# The local Daraja simulator that `python3 dev.py run` starts (MPESA_ENVIRONMENT=simulator).
DARAJA_SIMULATOR_PORT = env.int("DARAJA_SIMULATOR_PORT", default=8765)

# --- Security --------------------------------------------------------------------------------------------
# Production values are on by default whenever DEBUG is off; each can still be set explicitly.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# Trust X-Forwarded-For for client addresses (audit log) only behind a proxy that sets it.
USE_X_FORWARDED_FOR = env.bool("USE_X_FORWARDED_FOR", default=False)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    # Only behind a proxy (nginx) that always sets this header itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)
# Sessions in the database (default) or, with Redis, in the cache: "django.contrib.sessions.backends.cache"
# (or "...cached_db"). Both are shared by every web node; never a per-process store.
SESSION_ENGINE = env.str("SESSION_ENGINE", default="django.contrib.sessions.backends.db")

# Content-Security-Policy (django-csp): only our own scripts, styles, fonts and connections; no inline
# script or style anywhere (templates use static files and CSS classes); images may be data: URIs (Bootstrap's
# icons). The Swagger UI page at /api/docs/ adds one relaxation for itself only (api/docs.py).
# CSP_REPORT_URI: where browsers report violations (optional, e.g. a collector's URL).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        **({"report-uri": [env.str("CSP_REPORT_URI")]} if env.str("CSP_REPORT_URI", default="") else {}),
    },
}
# /healthz answers over plain HTTP too (a load balancer on loopback), whatever SECURE_SSL_REDIRECT says.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
# Seconds /healthz waits for the Celery broker before reporting it down.
HEALTHZ_BROKER_TIMEOUT_SECONDS = env.float("HEALTHZ_BROKER_TIMEOUT_SECONDS", default=2.0)

# --- Logging ---------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# plain: one readable line per record; json: one JSON object per line (for a log collector). Both carry
# the request id (X-Request-ID) and pass through core.log_redaction, which masks phone numbers,
# password/OTP/national-ID values and the values of the settings named in LOG_REDACT_SETTINGS.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ValueError(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOG_REDACT_SETTINGS = [
    "SECRET_KEY",
    "MPESA_PASSKEY",
    "MPESA_CONSUMER_SECRET",
    "MPESA_CONSUMER_KEY",
    "MPESA_C2B_URL_SECRET",
    "EMAIL_HOST_PASSWORD",
    "SMS_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.request_id.RequestIdFilter"},
        "redact": {"()": "core.log_redaction.RedactingFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "core.log_redaction.json_formatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # django-axes logs every login at INFO; its warnings (failures, lockouts) are the ones worth keeping.
    # runserver's request lines (django.server) go through the same masking handler (a callback URL's token).
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
