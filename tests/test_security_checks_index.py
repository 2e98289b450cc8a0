"""Every numbered check of QUALITY.md's "Security checks every release must pass" has tests that say so.

A test proving check N carries `@pytest.mark.security_check(N)` (on the function, its class, or the
module's `pytestmark`). This test asks pytest what the README's test command collects (tests/collected.py),
so a check whose tests are deleted, renamed away or left out of collection fails here, and
`pytest -m security_check` runs the whole list.
"""

import pytest

from tests.collected import collected

QUALITY_CHECKS = range(1, 26)  # QUALITY.md numbers its security checks 1 to 25
# The checks whose tests exist; each later check joins this list with its tests.
CHECKS_WITH_TESTS = list(QUALITY_CHECKS)


def collected_checks() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for item in collected().items:
        for number in item["security_checks"]:
            found.setdefault(number, []).append(item["nodeid"])
    return found


def test_marks_name_only_checks_that_exist():
    unknown = sorted(set(collected_checks()) - set(QUALITY_CHECKS))
    assert not unknown, f"security_check numbers that QUALITY.md does not have: {unknown}"


@pytest.mark.parametrize("number", CHECKS_WITH_TESTS)
def test_check_has_a_collected_test(number):
    """One result per check, so a run shows which check lost its tests."""
    assert collected_checks().get(number), (
        f"security check {number} has no collected test marked security_check({number})"
    )
