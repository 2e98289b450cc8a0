"""A pytest plugin that writes what a run collected to the JSON file named by COLLECTION_REPORT.

tests/collected.py runs the README's test command with `--collect-only -p tests.collection_report` and
reads the file, so the collection and security-check tests judge what pytest really collects, not what the
source files say.
"""

import json
import os

_skipped_modules: list[str] = []


def pytest_collectreport(report):
    """A module skipped as a whole (`pytest.skip(..., allow_module_level=True)`) was still found and run."""
    if report.skipped and report.fspath:
        _skipped_modules.append(os.path.abspath(report.fspath))


def pytest_collection_finish(session):
    path = os.environ.get("COLLECTION_REPORT")
    if not path:
        return
    items = [
        {
            "nodeid": item.nodeid,
            "path": str(item.path),
            "security_checks": sorted(
                {arg for mark in item.iter_markers("security_check") for arg in mark.args if isinstance(arg, int)}
            ),
        }
        for item in session.items
    ]
    with open(path, "w", encoding="utf-8") as report:
        json.dump({"items": items, "skipped_modules": _skipped_modules}, report)
