"""`python manage.py test [labels]` runs the same pytest suite as `python3 dev.py test`.

Labels are app names or paths (`python manage.py test members`), as the brief documents.
"""

from pathlib import Path


class PytestTestRunner:
    def __init__(self, verbosity=1, failfast=False, keepdb=False, **kwargs):
        self.verbosity = verbosity
        self.failfast = failfast
        self.keepdb = keepdb

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--keepdb", action="store_true", help="Keep the test database between runs.")

    def run_tests(self, test_labels, **kwargs):
        import pytest  # only `manage.py test` needs pytest (a dev requirement): not at import time

        argv = []
        if self.verbosity == 0:
            argv.append("--quiet")
        elif self.verbosity >= 2:
            argv.append("--verbose")
        if self.failfast:
            argv.append("--exitfirst")
        if self.keepdb:
            argv.append("--reuse-db")
        argv.extend(self._as_path(label) for label in test_labels)
        exit_code = pytest.main(argv)
        # pytest's "no tests collected" is not a failure of the code under test.
        return 0 if exit_code == 5 else exit_code

    @staticmethod
    def _as_path(label):
        """`members` or `members.tests.test_services` (Django style) -> a path pytest understands."""
        if "/" in label or "::" in label or label.endswith(".py"):
            return label
        path = label.replace(".", "/")
        return path + ".py" if Path(path + ".py").is_file() else path
