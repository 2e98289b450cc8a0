#!/usr/bin/env python3
"""Developer entry point: needs only python3 (>= 3.10) and git.

    python3 dev.py run     set up everything and serve the app on http://127.0.0.1:8000/
    python3 dev.py test    set up everything and run the whole test suite in parallel (extra args go to pytest)
    python3 dev.py check   lint, format, import layers, missing-migration and deployment checks (CI runs these)
    python3 dev.py lock    after editing requirements*.in: write the hashed requirements*.txt (pip-compile)

Set-up is idempotent: a virtualenv in .venv with the pinned requirements (reinstalled only when
requirements*.txt change), migrations, reference data and demo accounts.
"""

from __future__ import annotations

import hashlib
import os
import secrets
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


# The suite runs in parallel processes, one per core (at most 4); `-n 0` in the extra arguments runs it in one.
# Each process has its own test database (pytest-django) and Redis database (config/settings.py). Tests are
# handed out one by one ("load"): the file- and scope-grouping modes key tests by node id, and schemathesis
# gives all the operations of one test the same id, so they would run one operation and drop the rest.
PARALLEL = ["-n", "auto", "--maxprocesses", "4", "--dist", "load"]


def cmd_test(argv: list[str]) -> None:
    ensure_venv()
    run(PYTHON, "-m", "pytest", *PARALLEL, *argv)


# Each hashed lock file and the hand-edited file it is compiled from.
LOCKS = {
    ROOT / "requirements.txt": ROOT / "requirements.in",
    ROOT / "requirements-dev.txt": ROOT / "requirements-dev.in",
}


def cmd_lock(argv: list[str]) -> None:
    """Resolve requirements*.in into requirements*.txt: every package pinned, each with its sha256 hashes."""
    ensure_venv()
    for lock, source in LOCKS.items():
        say(f"{source.name} -> {lock.name}")
        run(
            BIN / "pip-compile",
            "--quiet",
            "--generate-hashes",
            "--allow-unsafe",  # pin pip and setuptools too: hash-checking mode needs every package pinned
            "--strip-extras",
            "--no-emit-index-url",
            "--output-file",
            lock.name,
            source.name,
            *argv,
        )


def pins(path: Path) -> dict[str, str]:
    """`name==version` of every requirement line in a requirements file (names normalised as pip does)."""
    import re

    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def check_locks() -> None:
    for lock, source in LOCKS.items():
        locked = pins(lock)
        stale = {name: version for name, version in pins(source).items() if locked.get(name) != version}
        if stale:
            sys.exit(f"{lock.name} does not match {source.name} ({', '.join(stale)}): run python3 dev.py lock")


def cmd_check(argv: list[str]) -> None:
    ensure_venv()
    say("hashed requirements match requirements*.in")
    check_locks()
    say("ruff")
    run(BIN / "ruff", "check", ".")
    say("ruff format: the code is formatted as `ruff format .` writes it")
    run(BIN / "ruff", "format", "--check", ".")
    say("import-linter: the app layers in pyproject.toml hold")
    run(BIN / "lint-imports", "--no-logo")
    say("missing migrations")
    manage("makemigrations", "--check", "--dry-run")
    say("deployment checks with the documented production settings")
    env = {**os.environ, **production_example_env()}
    manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    say("bandit: high-severity findings in our code fail the check")
    run(BIN / "bandit", "--quiet", "--recursive", ".", "--exclude", BANDIT_EXCLUDE, "-lll")
    say("pip-audit: known vulnerabilities in the pinned runtime requirements")
    pip_audit()


# Not scanned by bandit: third-party code, tests (asserts, fixed test secrets) and generated migrations.
BANDIT_EXCLUDE = "./.venv,./tests,*/tests/*,*/migrations/*,./bench,./node_modules"


def pip_audit() -> None:
    """Audit requirements.txt (every pin, transitive ones included) against PyPI's vulnerability data.

    A known vulnerability fails the check. When the vulnerability service cannot be reached (an offline
    machine, or a mirror without PyPI's per-release JSON), nothing can be audited: that is said loudly,
    and fails the check only with PIP_AUDIT_STRICT=1 (set it where PyPI is reachable, e.g. a release job).
    """
    import json

    completed = subprocess.run(  # noqa: S603 - our own tool
        [
            str(BIN / "pip-audit"),
            "--requirement",
            str(ROOT / "requirements.txt"),
            "--no-deps",
            "--disable-pip",  # the file pins every transitive dependency itself
            "--vulnerability-service",
            os.environ.get("PIP_AUDIT_SERVICE", "pypi"),
            "--progress-spinner",
            "off",
            "--format",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        print(completed.stdout + completed.stderr, file=sys.stderr)
        sys.exit(completed.returncode or 1)
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            print(f"  {dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixes})")
    if vulnerable:
        sys.exit("pip-audit found known vulnerabilities: upgrade the pins above.")
    if skipped:
        print(
            f"  WARNING: {len(skipped)} of {len(dependencies)} pinned packages could not be audited "
            f"({skipped[0]['skip_reason']}).",
            file=sys.stderr,
        )
        if os.environ.get("PIP_AUDIT_STRICT") == "1":
            sys.exit("PIP_AUDIT_STRICT=1: every pin must be audited.")
    audited = len(dependencies) - len(skipped)
    print(f"  {audited} of {len(dependencies)} pins audited: no known vulnerabilities among them.")


def production_example_env() -> dict[str, str]:
    """The production values documented in .env.example (the lines marked `# prod:`).

    The documented SECRET_KEY is empty (each site generates its own, and settings refuse a missing or
    placeholder key with DEBUG off): a fresh random key stands in for it.
    """
    values = documented_production_values()
    if not values.get("SECRET_KEY"):
        values["SECRET_KEY"] = secrets.token_urlsafe(50)
    return values


def documented_production_values() -> dict[str, str]:
    """The `# prod:` lines of .env.example exactly as written."""
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("# prod: "):
            key, _, value = line.removeprefix("# prod: ").partition("=")
            values[key.strip()] = value.strip()
    return values


COMMANDS = {"run": cmd_run, "test": cmd_test, "check": cmd_check, "lock": cmd_lock}

if __name__ == "__main__":
    if sys.version_info < (3, 10):  # noqa: UP036 - the one place an old python3 gets a clear message
        sys.exit("Python 3.10 or newer is required.")
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
