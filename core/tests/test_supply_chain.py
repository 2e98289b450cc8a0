"""dev.py check's pip-audit step: a known vulnerability fails it; an unreachable vulnerability service is
reported (and fails only with PIP_AUDIT_STRICT=1). The service itself is an edge we can't reach here, so
pip-audit's JSON report is faked; bandit runs for real."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402


def _fake_report(monkeypatch, dependencies):
    def run(args, **kwargs):
        assert "--no-deps" in args and str(ROOT / "requirements.txt") in args
        return subprocess.CompletedProcess(args, 0, stdout=json.dumps({"dependencies": dependencies}), stderr="")

    monkeypatch.setattr(dev.subprocess, "run", run)


def test_a_known_vulnerability_fails_the_check(monkeypatch, capsys):
    vuln = {"id": "PYSEC-2099-1", "fix_versions": ["5.2.99"], "aliases": [], "description": ""}
    _fake_report(monkeypatch, [{"name": "django", "version": "5.2.19", "vulns": [vuln]}])
    with pytest.raises(SystemExit, match="known vulnerabilities"):
        dev.pip_audit()
    assert "django 5.2.19: PYSEC-2099-1 (fixed in 5.2.99)" in capsys.readouterr().out


def test_clean_pins_pass(monkeypatch, capsys):
    _fake_report(monkeypatch, [{"name": "django", "version": "5.2.19", "vulns": []}])
    dev.pip_audit()
    assert "1 of 1 pins audited" in capsys.readouterr().out


def test_an_unreachable_service_warns_and_fails_only_when_strict(monkeypatch, capsys):
    skipped = [{"name": "django", "version": "5.2.19", "skip_reason": "Dependency not found on PyPI"}]
    _fake_report(monkeypatch, skipped)
    monkeypatch.delenv("PIP_AUDIT_STRICT", raising=False)
    dev.pip_audit()
    assert "could not be audited" in capsys.readouterr().err
    monkeypatch.setenv("PIP_AUDIT_STRICT", "1")
    with pytest.raises(SystemExit, match="PIP_AUDIT_STRICT"):
        dev.pip_audit()


def test_bandit_finds_no_high_severity_issue_in_our_code():
    bandit = dev.BIN / "bandit"
    if not bandit.exists():
        pytest.skip("bandit is not installed (pip install -r requirements-dev.txt)")
    completed = subprocess.run(  # noqa: S603 - our own tool
        [str(bandit), "--quiet", "--recursive", ".", "--exclude", dev.BANDIT_EXCLUDE, "-lll"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
