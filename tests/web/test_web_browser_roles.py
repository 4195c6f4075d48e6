"""A reviewer accepts a delivery in the browser; the vendor sees the payment released."""

from __future__ import annotations

from typing import Any

import asyncpg

from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider
from tests.browser import expect, pytestmark, signed_in_page
from tests.helpers import Api
from tests.scenes import delivered_for_review

__all__ = ["pytestmark"]  # the Chromium skip reason


async def test_reviewer_accepts_and_the_vendor_sees_the_payment_released(
    api: Api, db: asyncpg.Connection, pool: Any, live_server: str, browser: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    aid = s["auction_id"]
    reviewer = await api.user("reviewer")

    page = await signed_in_page(browser, live_server, reviewer, width=375)  # phone width
    await page.get_by_role("link", name="Reviews").click()
    card = page.locator(f"#review-{aid}")
    await expect(
        card.get_by_role("link", name="https://github.com/city-of-x/permits/pull/7")
    ).to_be_visible()
    await expect(card.locator("tr.check").first).to_contain_text("merged")
    await expect(card.locator("tr.check").first).to_contain_text("Passed")
    await card.get_by_label("Reason for your decision").fill("Meets the acceptance criteria.")
    await card.get_by_role("button", name="Accept the work").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Accept and release $3,900.00 to")
    await dialog.get_by_role("button", name="Yes, accept and release").click()
    await expect(page.get_by_text("is created and will be released")).to_be_visible()
    await expect(page.locator(f"#review-{aid}")).to_have_count(0)
    payment_id = await db.fetchval("SELECT id FROM payments WHERE auction_id = $1", aid)
    assert payment_id is not None

    # The release job's work, run here directly.
    assert await payments.release(pool, payment_id, LedgerProvider()) == "released"

    vendor = await signed_in_page(browser, live_server, s["winner"])
    await vendor.get_by_role("link", name="My payments").click()
    row = vendor.locator(f"#payment-{payment_id}")
    await expect(row).to_contain_text("$3,900.00")
    await expect(row).to_contain_text("released")
    await row.get_by_role("button", name="Confirm payment received").click()
    await vendor.get_by_role("dialog").get_by_role("button", name="Yes, I received it").click()
    await expect(vendor.get_by_text("you confirmed receiving $3,900.00")).to_be_visible()
    await expect(vendor.locator(f"#payment-{payment_id}")).to_contain_text("confirmed")
