"""In Chromium: an auditor reads the red flags page, filters it and follows a flag to its
auction's log; the page passes axe-core's WCAG 2.1 A/AA checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.axe import violations
from tests.browser import expect, pytestmark, signed_in_page
from tests.helpers import Api
from tests.scenes import flagged_department

__all__ = ["pytestmark"]  # the Chromium skip reason
SHOTS = os.environ.get("MARKETPLACE_SHOTS_DIR")


async def test_auditor_reads_and_follows_red_flags(
    api: Api, db: Any, pool: Any, live_server: str, browser: Any, tmp_path: Path
) -> None:
    s = await flagged_department(api, db, pool)
    auditor = await api.user("auditor")
    page = await signed_in_page(browser, live_server, auditor)
    await page.get_by_role("link", name="Audit log").click()
    await page.get_by_role("link", name="Red flags").click()
    await expect(page.get_by_role("heading", name="Red flags")).to_be_visible()
    await expect(page.locator("td code", has_text="split_purchase").first).to_be_visible()
    assert await violations(page) == []
    shots = Path(SHOTS) if SHOTS else tmp_path
    await page.screenshot(path=str(shots / "audit-flags.png"), full_page=True)

    await page.get_by_label("Indicator").select_option("R028")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody")).to_contain_text("exactly the same price")
    await page.get_by_role("link", name="its log").click()
    await expect(page.get_by_label("Auction number")).to_have_value(str(s["same_price"]))

    narrow = await signed_in_page(browser, live_server, auditor, width=375)
    await narrow.goto("/audit/flags")
    assert await violations(narrow) == []
    vendor = await api.verified_vendor()
    other = await signed_in_page(browser, live_server, vendor)
    response = await other.goto("/audit/flags")
    assert response.status == 403
