import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from tests.conftest import REQUIRE_SERVICES
from tests.factories import UserFactory

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", ".e2e-artifacts"))
SHOTS = Path(os.environ.get("E2E_SHOTS_DIR", ".e2e-artifacts/shots"))
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        message = f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(message + ", and REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in the test's thread; the ORM calls the
    # tests make around it (fixtures, assertions) are still synchronous and safe. Allowed
    # only while the browser runs, so nothing else inherits the setting.
    mp = pytest.MonkeyPatch()
    mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()
    mp.undo()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.e2e_failed = report.failed
    return report


@pytest.fixture
def page(browser, request):
    """A 1366-px-wide page. When the test fails, its last screen (PNG and HTML) is kept
    in ``E2E_ARTIFACTS`` (default ``.e2e-artifacts/``)."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    if getattr(request.node, "e2e_failed", False):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        (ARTIFACTS / f"{request.node.name}.html").write_text(page.content())
    context.close()


def shot(page, name: str) -> None:
    """Keep a full-page screenshot of what the test sees in ``E2E_SHOTS_DIR``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page, live_server, username: str, group: str) -> None:
    """Sign in to the admin as a new staff member of ``group`` (Ops, Finance)."""
    user = UserFactory(username=username)
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(Group.objects.get(name=group))
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def api(live_server, path: str, token: str, body=None):
    """Call the partner API as the partner's machine would: (status, JSON body)."""
    request = urllib.request.Request(
        live_server.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())
