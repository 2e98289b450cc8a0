"""The code's shape, checked: what `lint-imports` (dev.py check) cannot see.

- An import inside a function hides a dependency from the reader and from import-linter's layers;
  one is allowed only with a comment on its line (or the line above) that says why (app loading, a
  heavy library used by one command, a test tool).
- A name starting with `_` is private to its app: no other app imports it.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_PARTS = {".venv", "node_modules", "migrations", "tests", "bench", "deploy", "scripts", "__pycache__"}


def _app_modules():
    for path in sorted(ROOT.glob("*/**/*.py")):
        relative = path.relative_to(ROOT)
        if SKIPPED_PARTS & set(relative.parts):
            continue
        if not (ROOT / relative.parts[0] / "__init__.py").exists():
            continue
        yield relative, ast.parse(path.read_text(), filename=str(path)), path.read_text().splitlines()


def _imports_in_functions(tree):
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    yield node


def _explained(lines, node) -> bool:
    """A comment on the import's own line, or on the line above it or above the imports grouped with it."""
    if "#" in lines[node.lineno - 1]:
        return True
    number = node.lineno - 2
    while number >= 0 and lines[number].strip().startswith(("from ", "import ")):
        number -= 1
    return number >= 0 and lines[number].strip().startswith("#")


def test_an_import_inside_a_function_says_why():
    unexplained = sorted(
        {
            f"{relative}:{node.lineno}"
            for relative, tree, lines in _app_modules()
            for node in _imports_in_functions(tree)
            if not _explained(lines, node)
        }
    )
    assert unexplained == [], "imports inside functions without a comment saying why:\n" + "\n".join(unexplained)


def test_no_app_imports_another_apps_private_names():
    apps = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    crossings = []
    for relative, tree, _lines in _app_modules():
        own_app = relative.parts[0]
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            top = node.module.split(".")[0]
            if top not in apps or top == own_app:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    crossings.append(f"{relative}:{node.lineno} imports {node.module}.{alias.name}")
    assert crossings == [], "private names imported across apps:\n" + "\n".join(crossings)
