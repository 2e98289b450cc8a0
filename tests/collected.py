"""What the README's test command (`python3 dev.py test`, i.e. pytest with the pyproject settings and no
paths) collects, asked of pytest itself in a subprocess; computed once per test run."""

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Collected:
    items: list[dict]
    skipped_modules: list[str]

    def files(self) -> set[Path]:
        return {Path(item["path"]) for item in self.items} | {Path(p) for p in self.skipped_modules}


@functools.cache
def collected() -> Collected:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "collected.json"
        env = {**os.environ, "COLLECTION_REPORT": str(report)}
        # No -n: xdist workers would each collect; the main process's collection is the same list.
        completed = subprocess.run(  # noqa: S603 - our own test run
            [
                sys.executable,
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:xdist",
                "-p",
                "tests.collection_report",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if completed.returncode != 0 or not report.exists():
            raise AssertionError(
                f"collecting the suite failed:\n{completed.stdout[-5000:]}\n{completed.stderr[-5000:]}"
            )
        data = json.loads(report.read_text())
    return Collected(items=data["items"], skipped_modules=data["skipped_modules"])
