"""In Chromium: finance records the payout of a released order from its page; the payee
then sees it. axe-core finds no WCAG 2.1 A/AA violation on either view."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider
from tests.axe import violations
from tests.browser import expect, pytestmark, signed_in_page
from tests.helpers import Api
from tests.scenes import accept, delivered_for_review

__all__ = ["pytestmark"]  # the Chromium skip reason
SHOTS = os.environ.get("MARKETPLACE_SHOTS_DIR")


async def test_finance_records_a_payout_and_the_payee_sees_it(
    api: Api, db: Any, pool: Any, live_server: str, browser: Any, tmp_path: Path
) -> None:
    shots = Path(SHOTS) if SHOTS else tmp_path
    s = await delivered_for_review(api, db, pool)
    r = await api.client.put(
        "/api/me/payment-details",
        json={"method": "card", "reference": "PCARD-9911"},
        headers=s["winner"].headers,
    )
    assert r.status_code == 200, r.text
    reviewer = await api.user("reviewer")
    pid = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]
    assert await payments.release(pool, pid, LedgerProvider()) == "released"
    finance = await api.user("finance", department_id=s["dept"])

    page = await signed_in_page(browser, live_server, finance)
    await page.goto(f"/payments/{pid}")
    await expect(page.get_by_role("heading", name="Record the payout")).to_be_visible()
    field = page.get_by_label("Reference of the card payment or transfer")
    await field.fill("x")
    await page.get_by_role("button", name="Record as paid out").click()
    await _agree(page)
    await expect(page.locator("#executed-error")).to_contain_text("2 to 200 characters")
    await expect(field).to_have_attribute("aria-invalid", "true")
    assert await violations(page) == []
    await page.screenshot(path=str(shots / "payout-refused.png"), full_page=True)
    await field.fill("TRX-2026-0042")
    await page.get_by_role("button", name="Record as paid out").click()
    dialog = page.get_by_role(
        "dialog", name=re.compile(r"Record payment \d+ of \$[\d,.]+ to .+ as paid out\?")
    )
    await expect(dialog).to_contain_text("cannot be changed")
    assert await violations(page) == []
    await page.screenshot(path=str(shots / "payout-confirm.png"), full_page=True)
    await _agree(page)
    await expect(page.get_by_text("was paid out (reference TRX-2026-0042)")).to_be_visible()
    await expect(page.locator("#executed")).to_contain_text("TRX-2026-0042")
    await expect(page.get_by_role("heading", name="Record the payout")).to_have_count(0)
    assert await violations(page) == []

    payee = await signed_in_page(browser, live_server, s["winner"], width=375)
    await payee.goto(f"/payments/{pid}")
    await expect(payee.locator("#executed")).to_contain_text("TRX-2026-0042")
    await expect(payee.get_by_role("button", name="Confirm payment received")).to_be_visible()
    assert await violations(payee) == []
    await payee.screenshot(path=str(shots / "payout-payee.png"), full_page=True)


async def _agree(page: Any) -> None:
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Yes, record the payout").click()
    await expect(dialog).to_be_hidden()
