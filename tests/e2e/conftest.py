"""Browser tests: Debian's chromium driven by Playwright against ``live_server``.

Playwright's sync API runs an asyncio event loop in the test thread, so Django
refuses ORM calls made from the test while the browser is open with
SynchronousOnlyOperation. DJANGO_ALLOW_ASYNC_UNSAFE is therefore set, but only
while a browser test runs: set at import time it would leak into the rest of the
session, and into subprocesses such as `manage.py check --deploy`, which rightly
fails when it sees it (async.E001).

Even so, create test data before the browser starts: request data fixtures
before ``new_tab`` (``def test_x(acme, new_tab)``). A connection opened while
Playwright's loop runs lives in that context and is never closed, and on
PostgreSQL the test database then cannot be dropped at the end of the session.
The live server's own threads are unaffected.
"""

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import require_service

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# Generous for a loaded CI machine, short enough that a hang fails fast.
TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1280, "height": 860}


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch):
    monkeypatch.setitem(os.environ, "DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser() -> Iterator:
    """A headless chromium; skipped where it is absent, a failure under CI."""
    if not Path(CHROMIUM).exists():
        require_service("chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A page in its own browser context (its own cookies), with its errors."""

    page: object
    base_url: str
    errors: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str, *, status: int = 200):
        response = self.page.goto(self.url(path))
        assert response is not None, path
        assert response.status == status, (
            f"{path}: HTTP {response.status}, expected {status}"
        )
        return response

    def submit(self, label: str, *, status: int | None = 200):
        """Press a button of the page's content and wait for the page it leads to.

        Waiting for the navigation, not for a URL: a form that redirects to its
        own page would otherwise be asserted on before the new page arrives.
        """
        button = self.page.locator("main").get_by_role("button", name=label, exact=True)
        with self.page.expect_navigation() as navigation:
            button.click()
        response = navigation.value
        if status is not None:
            assert response is not None, label
            assert response.status == status, (
                f"{label}: HTTP {response.status} at {self.path()}, expected {status}"
            )
        return response

    def path(self) -> str:
        return self.page.url.removeprefix(self.base_url)

    def assert_no_errors(self, where: str = "") -> None:
        assert not self.errors, f"browser errors{' on ' + where if where else ''}: " + (
            "\n".join(self.errors)
        )


@pytest.fixture
def new_tab(browser, live_server) -> Callable[[], Tab]:
    """Open a fresh browser context; console errors and CSP violations collected."""

    def make() -> Tab:
        context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        tab = Tab(page=page, base_url=live_server.url)

        def on_console(msg):
            if msg.type == "error":
                tab.errors.append(f"console: {msg.text} ({page.url})")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: tab.errors.append(f"pageerror: {exc}"))
        return tab

    return make


SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def snap(page, name: str) -> None:
    """Save a full-page screenshot as test-artifacts/screenshots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_for_mail(outbox, to: str, subject_contains: str = "", timeout: float = 5):
    """The newest message to ``to`` (mail is sent inside the request, but be safe)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            m
            for m in outbox
            if to in m.to and subject_contains.lower() in m.subject.lower()
        ]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            subjects = [(m.to, m.subject) for m in outbox]
            raise AssertionError(f"no mail to {to} ({subject_contains!r}): {subjects}")
        time.sleep(0.05)


def link_in(message, pattern: str) -> str:
    """The path of the first link in a message whose path matches ``pattern``."""
    match = re.search(rf"https?://[^/\s]+({pattern})", message.body)
    assert match, f"no link matching {pattern!r} in:\n{message.body}"
    return match.group(1)


def totp_now(secret: str) -> str:
    """The current RFC 6238 code, waiting out the end of a 30-second step.

    allauth accepts only the current step (no tolerance) and refuses a code
    twice, so a code computed in the last seconds of a step could arrive late.
    """
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    period = app_settings.TOTP_PERIOD
    if time.time() % period > period - 4:
        time.sleep(period - time.time() % period + 0.2)
    return format_hotp_value(hotp_value(secret, int(time.time()) // period))
