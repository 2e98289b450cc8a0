"""Settings for the membership system.

Everything comes from the environment or a `.env` file beside manage.py (see `.env.example`, which lists
every variable). With nothing set the project runs on the embedded default: SQLite, local-memory
cache, in-process tasks and console email. Production sets the variables the README documents.
"""

import datetime
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")


def env_path(name: str, default: Path) -> Path:
    value = env.str(name, default="")
    return Path(value).expanduser() if value else default


# A key for local development only; a system check refuses it whenever DEBUG is off.
DEV_SECRET_KEY = "django-insecure-local-development-key-never-use-in-production"  # noqa: S105

SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

ORGANISATION_NAME = env.str("ORGANISATION_NAME", default="Kalda-Tech Society")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
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
    "bootstrap",
    "core",
    "accounts",
    "audit",
    "members",
    "notifications",
    "portal",
    "dashboard",
    "payments",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TEST_RUNNER = "config.test_runner.PytestTestRunner"

# --- Cache and background jobs ----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
# Without a broker, tasks run in-process so the embedded default needs nothing installed.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "Africa/Nairobi"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE = {
    "reconcile-pending-payments": {"task": "payments.reconcile_pending_payments", "schedule": 60.0},
    "redeliver-queued-messages": {"task": "notifications.redeliver_queued_messages", "schedule": 300.0},
    # Daily at 06:00 in CELERY_TIMEZONE (EAT): lapse members, then send renewal reminders (members.lifecycle).
    "run-lifecycle-jobs": {"task": "members.run_lifecycle_jobs", "schedule": crontab(hour=6, minute=0)},
    # Hourly: delete member-list export files older than EXPORT_RETENTION_HOURS (dashboard.tasks).
    "delete-old-exports": {"task": "dashboard.delete_old_exports", "schedule": crontab(minute=20)},
    # Every minute, within DASHBOARD_HOME_CACHE_SECONDS: count the staff home's figures before anyone asks.
    "refresh-staff-home": {"task": "dashboard.refresh_home_figures", "schedule": 60.0},
}
# Member-list exports up to this many rows stream in the request; bigger ones are written by a background
# job and the user is told when the file is ready (dashboard.exports).
EXPORT_SYNC_MAX_ROWS = env.int("EXPORT_SYNC_MAX_ROWS", default=50_000)
# Hours a finished export file is kept for download before it is deleted.
EXPORT_RETENTION_HOURS = env.int("EXPORT_RETENTION_HOURS", default=24)
# Staff home: seconds its figures are cached (0: computed on every request; the page says when they were),
# and seconds the totals of the charts' closed months are kept (dashboard.home_views). Celery beat counts
# the figures again every minute, so with a worker and beat running pages never wait for the counting.
DASHBOARD_HOME_CACHE_SECONDS = env.int("DASHBOARD_HOME_CACHE_SECONDS", default=120)
DASHBOARD_HOME_HISTORY_SECONDS = env.int("DASHBOARD_HOME_HISTORY_SECONDS", default=3600)
# Longest a query of the audit trail viewer may run on PostgreSQL before the page asks for narrower filters.
AUDIT_LIST_TIMEOUT_MS = env.int("AUDIT_LIST_TIMEOUT_MS", default=5000)

# --- REST API (api/, and each app's api.py) ------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # Unauthenticated requests per IP; login attempts per username and per IP.
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "login": env.str("API_THROTTLE_LOGIN", default="10/hour"),
        "login_ip": env.str("API_THROTTLE_LOGIN_IP", default="30/hour"),
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
}

# --- Users and authentication -----------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
ADMIN_URL = env.str("ADMIN_URL", default="admin/")

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
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750

# --- Membership rules ------------------------------------------------------------------------------------
MEMBERSHIP_NUMBER_PREFIX = env.str("MEMBERSHIP_NUMBER_PREFIX", default="KTS")
DOCUMENT_MAX_UPLOAD_MB = env.int("DOCUMENT_MAX_UPLOAD_MB", default=5)
MEMBER_MINIMUM_AGE = env.int("MEMBER_MINIMUM_AGE", default=16)
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="KE")
# How many days before the end date a member may renew.
RENEWAL_WINDOW_DAYS = env.int("RENEWAL_WINDOW_DAYS", default=60)
# A request may carry several documents at the upload limit each, plus the form fields.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

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
MPESA_ENVIRONMENT = env.str("MPESA_ENVIRONMENT", default="simulator")
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
# A member cannot start another M-Pesa prompt while one sent this many seconds ago is still pending.
MPESA_PROMPT_COOLDOWN_SECONDS = env.int("MPESA_PROMPT_COOLDOWN_SECONDS", default=90)
# Check callbacks' source address against MPESA_CALLBACK_ALLOWED_IPS: off, log, or enforce.
MPESA_CALLBACK_IP_CHECK = env.str("MPESA_CALLBACK_IP_CHECK", default="off")
# The widely cited Safaricom callback addresses (no official list is published; keep it current).
MPESA_CALLBACK_ALLOWED_IPS = env.list(
    "MPESA_CALLBACK_ALLOWED_IPS",
    default=[
        "196.201.214.200", "196.201.214.206", "196.201.213.114", "196.201.214.207",
        "196.201.214.208", "196.201.213.44", "196.201.212.127", "196.201.212.138",
        "196.201.212.129", "196.201.212.136", "196.201.212.74", "196.201.212.69",
    ],
)
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

# --- Logging ---------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
