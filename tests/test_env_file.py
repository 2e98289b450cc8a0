"""The brief's `.env` example, pasted as written with real values, configures the project as it says."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import strip_inline_comments

ROOT = Path(__file__).resolve().parent.parent

# The brief's "### 1. Environment Variables" block verbatim (comments and spacing included), with real-looking
# values instead of its placeholders; the secret key and database password contain a # as generated ones do.
BRIEF_ENV = """\
# Django Settings
SECRET_KEY=q8v#2m!x@k4z$w7p^n1r&t5y*u9i(o3e)a6s-d0f_g=h+j#l2c8b
DEBUG=False
ALLOWED_HOSTS=members.example.org,www.members.example.org,203.0.113.10

# Database Configuration
DB_NAME=membership_db
DB_USER=membership_user
DB_PASSWORD=Tr0ub4dor#3-horse
DB_HOST=localhost
DB_PORT=5432

# M-Pesa Daraja API Configuration
MPESA_ENVIRONMENT=sandbox  # Change to 'production' for live
MPESA_CONSUMER_KEY=GtJQ6vjbY7KqAYGM1oiAYl6AEncRUqX4
MPESA_CONSUMER_SECRET=oYfFZnCGrhzAI7Ta
MPESA_SHORTCODE=174379  # Your business shortcode
MPESA_PASSKEY=bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919
MPESA_CALLBACK_URL=https://members.example.org/api/mpesa/callback/

# Email Configuration
EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend
EMAIL_HOST=smtp.gmail.com
EMAIL_PORT=587
EMAIL_USE_TLS=True
EMAIL_HOST_USER=office@members.example.org
EMAIL_HOST_PASSWORD=abcd efgh ijkl mnop

# SMS Configuration (Africa's Talking or similar)
SMS_API_KEY=atsk_4f6c1a2b3d4e5f60718293a4b5c6d7e8f9
SMS_USERNAME=kaldatech

# Redis Configuration
REDIS_URL=redis://localhost:6379/0

# Celery Configuration
CELERY_BROKER_URL=redis://localhost:6379/0
CELERY_RESULT_BACKEND=redis://localhost:6379/0

# Security
SECURE_SSL_REDIRECT=True
SESSION_COOKIE_SECURE=True
CSRF_COOKIE_SECURE=True

# Static & Media Files
STATIC_URL=/static/
MEDIA_URL=/media/
STATIC_ROOT=/var/www/membership/static/
MEDIA_ROOT=/var/www/membership/media/
"""

# Runs in a fresh interpreter: settings are read once per process.
SCRIPT = """
import json, django
django.setup()
from django.conf import settings as s
from mpesa.config import get_client
from payments.checks import check_mpesa_settings
names = ["SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "MPESA_ENVIRONMENT", "MPESA_CONSUMER_KEY", "MPESA_CONSUMER_SECRET",
         "MPESA_SHORTCODE", "MPESA_PASSKEY", "MPESA_CALLBACK_URL", "EMAIL_PORT", "EMAIL_USE_TLS",
         "EMAIL_HOST_PASSWORD", "SMS_BACKEND", "REDIS_URL", "CELERY_BROKER_URL", "SECURE_SSL_REDIRECT",
         "MPESA_CALLBACK_IP_CHECK", "MPESA_CONFIRM_CALLBACKS"]
values = {name: getattr(s, name) for name in names}
values["DATABASE"] = {key: s.DATABASES["default"][key] for key in ("ENGINE", "NAME", "PASSWORD", "PORT")}
values["STATIC_ROOT"] = str(s.STATIC_ROOT)
values["daraja_base_url"] = get_client().base_url
values["check_ids"] = [error.id for error in check_mpesa_settings(None)]
print(json.dumps(values))
"""


def settings_from(env_file: Path) -> dict:
    # Only what Python needs: a variable from the calling environment would win over the file.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ENV_FILE": str(env_file),
    }
    completed = subprocess.run(  # noqa: S603 - our own settings module
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def brief_settings(tmp_path_factory):
    env_file = tmp_path_factory.mktemp("env") / ".env"
    env_file.write_text(BRIEF_ENV)
    return settings_from(env_file)


def test_the_briefs_env_block_configures_mpesa_for_the_sandbox(brief_settings):
    assert brief_settings["MPESA_ENVIRONMENT"] == "sandbox"
    assert brief_settings["MPESA_SHORTCODE"] == "174379"
    assert brief_settings["MPESA_CONSUMER_KEY"] == "GtJQ6vjbY7KqAYGM1oiAYl6AEncRUqX4"
    assert brief_settings["MPESA_CONSUMER_SECRET"] == "oYfFZnCGrhzAI7Ta"
    assert brief_settings["MPESA_CALLBACK_URL"] == "https://members.example.org/api/mpesa/callback/"
    assert brief_settings["daraja_base_url"] == "https://sandbox.safaricom.co.ke"
    assert brief_settings["check_ids"] == []


@pytest.mark.security_check(24)
def test_with_debug_off_callbacks_are_confirmed_and_their_addresses_checked_by_default(brief_settings):
    """Nothing in the brief's block names them: production gets Daraja's confirmation of every success
    callback and a security log line for a callback from outside Safaricom's addresses (log-only)."""
    assert brief_settings["MPESA_CONFIRM_CALLBACKS"] is True
    assert brief_settings["MPESA_CALLBACK_IP_CHECK"] == "log"


def test_a_hash_inside_a_value_is_kept(brief_settings):
    assert brief_settings["SECRET_KEY"] == "q8v#2m!x@k4z$w7p^n1r&t5y*u9i(o3e)a6s-d0f_g=h+j#l2c8b"
    assert brief_settings["DATABASE"]["PASSWORD"] == "Tr0ub4dor#3-horse"


def test_the_rest_of_the_briefs_block_is_read_as_written(brief_settings):
    assert brief_settings["DEBUG"] is False
    assert brief_settings["ALLOWED_HOSTS"] == ["members.example.org", "www.members.example.org", "203.0.113.10"]
    assert brief_settings["DATABASE"] == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "membership_db",
        "PASSWORD": "Tr0ub4dor#3-horse",
        "PORT": "5432",
    }
    assert brief_settings["EMAIL_PORT"] == 587
    assert brief_settings["EMAIL_USE_TLS"] is True
    assert brief_settings["EMAIL_HOST_PASSWORD"] == "abcd efgh ijkl mnop"
    assert brief_settings["SMS_BACKEND"] == "notifications.sms.AfricasTalkingSmsBackend"
    assert brief_settings["REDIS_URL"] == brief_settings["CELERY_BROKER_URL"] == "redis://localhost:6379/0"
    assert brief_settings["SECURE_SSL_REDIRECT"] is True
    assert brief_settings["STATIC_ROOT"] == "/var/www/membership/static"


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("MPESA_ENVIRONMENT=sandbox  # Change to 'production' for live", "MPESA_ENVIRONMENT=sandbox"),
        ("MPESA_SHORTCODE=174379\t# tab before the note", "MPESA_SHORTCODE=174379"),
        ("SECRET_KEY=abc#def", "SECRET_KEY=abc#def"),
        ("SECRET_KEY=#abc", "SECRET_KEY=#abc"),
        ('ORGANISATION_NAME="Kalda #1 Society"  # quoted', 'ORGANISATION_NAME="Kalda #1 Society"'),
        ("ORGANISATION_NAME='Kalda #1'  # it's quoted", "ORGANISATION_NAME='Kalda #1'"),
        ("SMS_SENDER_ID=  # none yet", "SMS_SENDER_ID="),
        (
            "# MPESA_ENVIRONMENT=production  # a commented-out line",
            "# MPESA_ENVIRONMENT=production  # a commented-out line",
        ),
        ("export DEBUG=False # exported", "export DEBUG=False"),
    ],
)
def test_inline_comments_are_stripped_as_a_shell_would(line, value):
    assert strip_inline_comments(line) == value


def test_every_variable_the_settings_read_is_documented_in_env_example():
    read = set(
        re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", (ROOT / "config/settings.py").read_text())
    )
    documented = set(re.findall(r"^#?\s*(?:prod: )?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert read, "no env.X('NAME') calls found in config/settings.py"
    assert not read - documented, (
        f"settings read from the environment but missing from .env.example: {read - documented}"
    )


def test_settings_are_read_directly_not_with_a_second_default():
    """A default lives once, in config/settings.py: getattr(settings, NAME, default) would hide a typo and drift."""
    pattern = re.compile(r"""getattr\(\s*settings\s*,\s*["'][A-Z]""")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in ROOT.rglob("*.py")
        if not {".venv", "node_modules", ".git"}.intersection(path.relative_to(ROOT).parts)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, f"read these settings as settings.X: {offenders}"
