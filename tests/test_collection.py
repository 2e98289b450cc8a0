"""The README's test command runs every test in the repository: no tests/ folder is left out of collection."""

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


def test_privacy_tests_are_collected():
    """They were left out of pyproject's testpaths once, data-protection security checks included."""
    privacy = [item for item in collected().items if item["nodeid"].startswith("privacy/tests/")]
    assert len(privacy) >= 42
