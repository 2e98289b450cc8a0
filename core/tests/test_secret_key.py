"""Security check 22: no entry point (web, worker, beat, commands) starts with DEBUG off and a missing,
default, placeholder or short SECRET_KEY; each starts with a real one.

The entry points run as the deployment runs them (deploy/systemd), each in a fresh process: settings are
read once per process, so only a new process shows what start-up does.
"""

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management.utils import get_random_secret_key

from core.secret_key import DEVELOPMENT_KEY, secret_key_problem

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
from dev import documented_production_values, production_example_env  # noqa: E402

pytestmark = pytest.mark.security_check(22)

# What the brief's example `.env` and, until this check, .env.example's `# prod:` line offered as the key.
BRIEF_PLACEHOLDER = "your-secret-key-here-change-this-in-production"
OLD_ENV_EXAMPLE_PLACEHOLDER = "replace-me-with-python3-c-import-secrets-print-secrets-token_urlsafe-50-output"

UNSAFE_KEYS = {
    "missing": None,
    "empty": "",
    "development default": DEVELOPMENT_KEY,
    "brief's placeholder": BRIEF_PLACEHOLDER,
    ".env.example's old placeholder": OLD_ENV_EXAMPLE_PLACEHOLDER,
    "startproject key": "django-insecure-" + get_random_secret_key(),
    "short": secrets.token_urlsafe(24),
    "few characters": "ab" * 40,
}


def start(command: list[str], *, secret_key: str | None, debug: str = "False", seconds: int = 30):
    """Run `command` as the deployment would, in a clean environment; (exit code, output), or (None, output)
    when it was still running after `seconds` (it started and stayed up)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "LANG": "C.UTF-8",
        # No .env of this checkout and nothing of the caller's settings: only what the test names.
        "ENV_FILE": str(ROOT / "no-such-env-file"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": debug,
    }
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    process = subprocess.Popen(  # noqa: S603 - our own entry points
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: gunicorn's workers are stopped with it
    )
    try:
        output, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return None, output
    return process.returncode, output


ENTRY_POINTS = {
    "gunicorn": [str(BIN / "gunicorn"), "config.wsgi:application", "--bind", "127.0.0.1:0", "--workers", "1"],
    "celery worker": [str(BIN / "celery"), "--app", "config", "worker", "--pool", "solo", "--loglevel", "INFO"],
    "celery beat": [str(BIN / "celery"), "--app", "config", "beat", "--schedule", "{beat_schedule}"],
    "manage.py": [sys.executable, "manage.py", "check"],
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_no_entry_point_starts_with_debug_off_and_the_development_key(entry_point, tmp_path):
    command = [part.format(beat_schedule=tmp_path / "beat-schedule") for part in ENTRY_POINTS[entry_point]]
    code, output = start(command, secret_key=None)
    assert code is not None, f"{entry_point} started with the development key:\n{output[-2000:]}"
    assert code != 0
    assert "SECRET_KEY is a published key" in output
    assert "refusing to start" in output


@pytest.mark.parametrize("secret_key", UNSAFE_KEYS.values(), ids=UNSAFE_KEYS.keys())
def test_the_web_application_refuses_every_unsafe_key(secret_key):
    # The module gunicorn imports (config.wsgi) and the one Celery imports (config.celery, via config).
    for module in ("config.wsgi", "config.celery"):
        code, output = start(
            [sys.executable, "-c", f"import {module}; from django.conf import settings; settings.SECRET_KEY"],
            secret_key=secret_key,
        )
        assert code not in (None, 0), f"{module} started with {secret_key!r}:\n{output[-2000:]}"
        assert "ImproperlyConfigured: SECRET_KEY" in output
        assert "refusing to start" in output


def test_a_generated_key_starts_the_web_application_and_the_worker():
    key = secrets.token_urlsafe(50)
    code, output = start(
        [
            sys.executable,
            "-c",
            "import config.wsgi, config.celery; from django.conf import settings; "
            f"assert settings.SECRET_KEY == {key!r} and not settings.DEBUG",
        ],
        secret_key=key,
    )
    assert code == 0, output[-2000:]


def test_the_development_key_still_starts_while_debugging():
    code, output = start([sys.executable, "-c", "import config.wsgi"], secret_key=None, debug="True")
    assert code == 0, output[-2000:]


def test_the_documented_production_values_as_written_do_not_pass_the_deploy_check():
    """Copying .env.example's `# prod:` lines without generating a key must not give a working site."""
    values = documented_production_values()
    assert not values["SECRET_KEY"], "the documented key must be left for each site to generate"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(values)
    completed = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode != 0
    assert "SECRET_KEY is not set while DEBUG is off" in completed.stderr


def test_the_deploy_check_runs_with_a_fresh_key_each_time():
    first, second = production_example_env()["SECRET_KEY"], production_example_env()["SECRET_KEY"]
    assert first != second
    assert secret_key_problem(first) is None


# Named ids: some keys are random, and parallel test processes must collect the same test names.
@pytest.mark.parametrize(
    "secret_key",
    [k for k in UNSAFE_KEYS.values() if k is not None],
    ids=[name for name, k in UNSAFE_KEYS.items() if k is not None],
)
def test_each_unsafe_key_is_named(secret_key):
    assert secret_key_problem(secret_key)


@pytest.mark.parametrize(
    "secret_key",
    [
        secrets.token_urlsafe(50),
        get_random_secret_key(),  # Django's generator: 50 characters
        "q8v#2m!x@k4z$w7p^n1r&t5y*u9i(o3e)a6s-d0f_g=h+j#l2c8b",  # a # inside, as generated keys have
    ],
    ids=["token_urlsafe", "django generator", "with a hash"],
)
def test_generated_keys_are_accepted(secret_key):
    assert secret_key_problem(secret_key) is None
