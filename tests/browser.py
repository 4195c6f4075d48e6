"""Chromium through Playwright for the browser tests: the launch, signed-in windows, and
the check that no page broke the Content-Security-Policy (the ``browser`` fixture is in
tests/conftest.py)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import User

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed (pip install -e '.[test]')"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
)
expect = playwright_api.expect
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SOON = 10_000  # ms: "appears within a few seconds"
# Console messages of the service's Content-Security-Policy refusing something, per
# browser: a page that needs what the policy forbids is broken for users, so any such
# message fails the test that opened the page (at the ``browser`` fixture's teardown).
_CSP_MESSAGES: dict[int, list[str]] = {}


def csp_violations(browser: Any) -> list[str]:
    """The CSP refusals the browser's pages reported on their consoles so far."""
    return list(_CSP_MESSAGES.get(id(browser), []))


def _watch_csp(browser: Any, context: Any) -> None:
    found = _CSP_MESSAGES.setdefault(id(browser), [])

    def console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            found.append(message.text)

    context.on("console", console)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A launched headless Chromium; on exit, fails if any of its pages met a CSP refusal."""
    assert shutil.which(str(CHROMIUM))
    async with playwright_api.async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        _CSP_MESSAGES[id(launched)] = []
        try:
            yield launched
        finally:
            refused = _CSP_MESSAGES.pop(id(launched), [])
            await launched.close()
        assert not refused, "the Content-Security-Policy refused:\n" + "\n".join(refused)


async def signed_in_page(
    browser: Any,
    base: str,
    user: User | None,
    width: int = 1024,
    zone: str | None = None,
    script: bool = True,
) -> Any:
    """A new browser window (its own cookies) signed in as ``user``; ``zone`` is the
    browser's time zone (the machine's when None); ``script=False`` turns JavaScript off."""
    context = await browser.new_context(
        base_url=base,
        viewport={"width": width, "height": 900},
        locale="en-US",
        timezone_id=zone,
        java_script_enabled=script,
    )
    _watch_csp(browser, context)
    page = await context.new_page()
    if user is not None:
        await page.goto("/signin")
        await page.get_by_label("API token").fill(user.token)
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await expect(page.get_by_text("Signed in as")).to_be_visible()
    return page
