"""Headless Chromium for the browser tests, driven by Playwright against pytest-django's live server.

Playwright must never download a browser here: it drives the system Chromium (Debian's `chromium`
package, or the executable named by CHROMIUM_PATH). Without one the tests are skipped locally and
fail in CI (when the CI environment variable is set), so a CI image missing the browser is noticed.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

# Playwright's sync API keeps an asyncio event loop running in this thread, and Django refuses ORM
# calls from a thread with a running loop. The tests only drive the browser synchronously, so the
# guard has nothing to protect here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

HERE = Path(__file__).resolve().parent
ARTIFACTS_DIR = HERE.parent.parent / "test-artifacts"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
MISSING_BROWSER = "Browser tests need Chromium: sudo apt-get install chromium (or set CHROMIUM_PATH)"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_TIMEOUT_MS = 10_000


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test under tests/browser/ carries the `browser` marker (so `-m "not browser"` skips them)."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            # The live server serves static files itself; WhiteNoise's note about a missing STATIC_ROOT
            # (collectstatic is not run for tests) is noise here.
            item.add_marker(pytest.mark.filterwarnings("ignore:No directory at:UserWarning"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so the `page` fixture knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _unavailable(message):
    if os.environ.get("CI"):
        pytest.fail(f"{message} [CI is set, so browser tests may not be skipped]", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path():
    configured = os.environ.get("CHROMIUM_PATH") or DEFAULT_CHROMIUM
    found = shutil.which(configured)
    if not found:
        if os.environ.get("CI"):
            _unavailable(f"{MISSING_BROWSER}; not found: {configured}")
        _unavailable(MISSING_BROWSER)
    return found


@pytest.fixture(scope="session")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Browser tests need the playwright package: pip install -r requirements-dev.txt")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def artifacts_dir():
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


def _artifact_name(nodeid):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("tests/browser/")[-1]).strip("_")


@pytest.fixture
def page(browser, live_server, request):
    """A page in a fresh browser context (own cookies and storage) whose relative URLs go to the live
    server. On failure a full-page screenshot is saved in test-artifacts/. Uncaught JavaScript errors
    fail the test."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    new_page = context.new_page()
    js_errors = []
    new_page.on("pageerror", lambda error: js_errors.append(str(error)))
    yield new_page
    report = getattr(request.node, "rep_call", None)
    try:
        if report is not None and report.failed:
            ARTIFACTS_DIR.mkdir(exist_ok=True)
            path = ARTIFACTS_DIR / f"{_artifact_name(request.node.nodeid)}.png"
            try:
                new_page.screenshot(path=str(path), full_page=True)
            except Exception as error:  # a screenshot must never hide the real failure
                print(f"Could not save a screenshot of the failed page: {error}")
            else:
                print(f"Screenshot of the failed page: {path}")
    finally:
        context.close()
    if js_errors and report is not None and report.passed:
        pytest.fail("JavaScript errors on the page:\n" + "\n".join(js_errors), pytrace=False)
