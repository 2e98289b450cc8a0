"""Every numbered check of QUALITY.md's "Security checks every release must pass" has tests that say so.

A test proving check N carries `@pytest.mark.security_check(N)` (on the function, its class, or the
module's `pytestmark`). This test reads the marks from the source of every test module, so a check whose
tests are deleted or renamed away fails here, and `pytest -m security_check` runs the whole list.
"""

import ast
import functools
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKS = range(1, 17)  # QUALITY.md numbers its security checks 1 to 16
SKIP_DIRS = {".venv", "node_modules", "staticfiles", "var", ".git"}


def _check_numbers(node: ast.AST) -> list[int]:
    """The N of every `security_check(N)` call inside a decorator list or a pytestmark value."""
    numbers = []
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "security_check":
            for arg in call.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, int):
                    numbers.append(arg.value)
    return numbers


def _test_modules():
    for path in sorted(ROOT.rglob("test_*.py")):
        if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
            yield path


@functools.cache
def marked_tests() -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for path in _test_modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(ROOT)
        module_numbers = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
                module_numbers += _check_numbers(node.value)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                numbers = [n for decorator in node.decorator_list for n in _check_numbers(decorator)]
                if isinstance(node, ast.ClassDef):
                    for n in numbers:
                        found[n].append(f"{where}::{node.name}")
                elif node.name.startswith("test"):
                    for n in numbers + module_numbers:
                        found[n].append(f"{where}::{node.name}")
    return found


def test_marks_name_only_checks_that_exist():
    found = marked_tests()
    unknown = sorted(set(found) - set(CHECKS))
    assert not unknown, f"security_check numbers that QUALITY.md does not have: {unknown}"


@pytest.mark.parametrize("number", CHECKS)
def test_check_has_a_test(number):
    """One result per check, so a run shows which check lost its tests."""
    assert marked_tests().get(number), f"security check {number} has no test marked security_check({number})"
