#!/usr/bin/env python3
"""Developer entry point: needs only python3 (>= 3.10) and git.

    python3 dev.py run     set up everything and serve the app on http://127.0.0.1:8000/
    python3 dev.py test    set up everything and run the whole test suite (extra args go to pytest)
    python3 dev.py check   lint, missing-migration and deployment checks (CI runs these too)

Set-up is idempotent: a virtualenv in .venv with the pinned requirements (reinstalled only when
requirements*.txt change), migrations, reference data and demo accounts.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
REQUIREMENTS = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt"]


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args: str | os.PathLike, env: dict | None = None) -> None:
    completed = subprocess.run([str(a) for a in args], cwd=ROOT, env=env)  # noqa: S603 - our own tools
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def ensure_venv() -> None:
    if not PYTHON.exists() or not (BIN / "pip").exists() and not (BIN / "pip.exe").exists():
        say("creating virtualenv in .venv")
        try:
            venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        except (subprocess.CalledProcessError, OSError):
            # Debian and Ubuntu ship python3 without ensurepip (package python3-venv); fetch pip itself.
            say("ensurepip is unavailable (Debian/Ubuntu: apt install python3-venv); bootstrapping pip from PyPI")
            venv.EnvBuilder(with_pip=False, clear=True).create(VENV)
            bootstrap_pip()
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in REQUIREMENTS)).hexdigest()
    stamp = VENV / ".requirements.sha256"
    if not stamp.exists() or stamp.read_text() != digest:
        say("installing pinned dependencies")
        run(
            PYTHON,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            ROOT / "requirements-dev.txt",
        )
        stamp.write_text(digest)


def bootstrap_pip() -> None:
    import json
    import tempfile
    import urllib.request
    from urllib.parse import urljoin

    index = "https://pypi.org/pypi/pip/json"
    with urllib.request.urlopen(index, timeout=60) as response:  # noqa: S310
        release = json.load(response)
    wheel = next(f for f in release["urls"] if f["packagetype"] == "bdist_wheel")
    wheel["url"] = urljoin(index, wheel["url"])  # mirrors may answer with relative links
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / wheel["filename"]
        with urllib.request.urlopen(wheel["url"], timeout=120) as response:  # noqa: S310
            data = response.read()
        if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
            sys.exit("The downloaded pip wheel does not match PyPI's checksum.")
        path.write_bytes(data)
        # A wheel is a zip that Python can run from: use pip to install itself.
        run(PYTHON, path / "pip", "install", "--quiet", "--disable-pip-version-check", path)


def manage(*args: str, env: dict | None = None) -> None:
    run(PYTHON, ROOT / "manage.py", *args, env=env)


def setup_database() -> None:
    say("applying migrations")
    manage("migrate", "--noinput", "--verbosity", "0")
    say("loading reference data and demo accounts")
    manage("setup_demo")


def cmd_run(argv: list[str]) -> None:
    address = argv[0] if argv else "127.0.0.1:8000"
    ensure_venv()
    setup_database()
    env = dict(os.environ)
    env.setdefault("MPESA_CALLBACK_URL", f"http://{address}/api/mpesa/callback/")
    simulator = None
    if env.get("MPESA_ENVIRONMENT", "simulator") == "simulator":
        port = env.setdefault("DARAJA_SIMULATOR_PORT", "8765")
        # Payments go to the local Daraja simulator; numbers it does not know wait for an answer on
        # its phone page, so a person can approve or decline the prompt.
        simulator = subprocess.Popen(  # noqa: S603 - our own simulator
            [str(PYTHON), "-m", "daraja_simulator", "--host", "127.0.0.1", "--port", port, "--manual"],
            cwd=ROOT,
            env=env,
        )
        say(f"Daraja simulator on http://127.0.0.1:{port}/  (the phone: http://127.0.0.1:{port}/phone/)")
    say(f"serving on http://{address}/  (Ctrl+C to stop)")
    try:
        run(PYTHON, ROOT / "manage.py", "runserver", address, env=env)
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=10)


def cmd_test(argv: list[str]) -> None:
    ensure_venv()
    run(PYTHON, "-m", "pytest", *argv)


def cmd_check(argv: list[str]) -> None:
    ensure_venv()
    say("ruff")
    run(BIN / "ruff", "check", ".")
    say("missing migrations")
    manage("makemigrations", "--check", "--dry-run")
    say("deployment checks with the documented production settings")
    env = {**os.environ, **production_example_env()}
    manage("check", "--deploy", "--fail-level", "WARNING", env=env)


def production_example_env() -> dict[str, str]:
    """The production values documented in .env.example (the lines marked `# prod:`)."""
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("# prod: "):
            key, _, value = line.removeprefix("# prod: ").partition("=")
            values[key.strip()] = value.strip()
    return values


COMMANDS = {"run": cmd_run, "test": cmd_test, "check": cmd_check}

if __name__ == "__main__":
    if sys.version_info < (3, 10):  # noqa: UP036 - the one place an old python3 gets a clear message
        sys.exit("Python 3.10 or newer is required.")
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
