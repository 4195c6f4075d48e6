"""Pages as people use them: rendered over HTTP (test_web_*) and driven in headless Chromium
with axe-core's WCAG 2.1 A/AA check (test_web_browser_*, tests/browser.py, tests/axe.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium (tests/browser.py); the test fails if a page broke the CSP."""
    from tests.browser import CHROMIUM, chromium

    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium")
    async with chromium() as launched:
        yield launched
