"""The README's test command runs every test in the repository: no tests/ folder is left out of collection."""

import ast

from tests.collected import ROOT, collected

SKIP_DIRS = {".venv", "node_modules", ".git", "var", "staticfiles"}


def _tests_folders():
    for folder in sorted(ROOT.rglob("tests")):
        if folder.is_dir() and not SKIP_DIRS.intersection(folder.relative_to(ROOT).parts):
            yield folder


def _test_modules(folder):
    return sorted(path for path in folder.rglob("test_*.py") if "__pycache__" not in path.parts)


def test_it_finds_the_tests_folders_of_the_apps():
    folders = {str(folder.relative_to(ROOT)) for folder in _tests_folders()}
    assert {"tests", "members/tests", "payments/tests", "privacy/tests"} <= folders


def test_every_tests_folder_is_collected():
    files = collected().files()
    missed = [
        str(folder.relative_to(ROOT))
        for folder in _tests_folders()
        if not any(folder in path.parents for path in files)
    ]
    assert not missed, f"tests/ folders the README's test command does not collect (pyproject testpaths?): {missed}"


def test_every_test_module_in_a_tests_folder_is_collected():
    files = collected().files()
    missed = [
        str(path.relative_to(ROOT))
        for folder in _tests_folders()
        for path in _test_modules(folder)
        if path not in files
    ]
    assert not missed, f"test modules that collect no test: {missed}"


def _test_functions(path):
    """`module::test_name` and `module::TestClass::test_name` of the tests written in a module."""
    tree = ast.parse(path.read_text())
    module = str(path.relative_to(ROOT))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
            yield f"{module}::{node.name}"
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for member in node.body:
                if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and member.name.startswith("test_"):
                    yield f"{module}::{node.name}::{member.name}"


def test_every_test_function_is_collected():
    """privacy's 42 tests, data-protection security checks included, were once left out of collection."""
    collected_ids = {item["nodeid"].split("[")[0] for item in collected().items}
    missed = [
        name
        for folder in _tests_folders()
        for path in _test_modules(folder)
        for name in _test_functions(path)
        if name not in collected_ids
    ]
    assert not missed, f"tests the README's test command does not collect: {missed[:20]}"
