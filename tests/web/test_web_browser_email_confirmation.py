"""In Chromium: a self sign-up sees on its profile that its address waits for confirmation,
opens the mailed link and confirms it with the button; axe-core finds no WCAG 2.1 A/AA
violation on the way."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tests.axe import violations
from tests.browser import expect, pytestmark, signed_in_page
from tests.helpers import Api, User

__all__ = ["pytestmark"]  # the Chromium skip reason
SHOTS = os.environ.get("MARKETPLACE_SHOTS_DIR")


async def test_a_sign_up_confirms_its_address_from_the_mailed_link(
    api: Api, db: Any, live_server: str, browser: Any, tmp_path: Path
) -> None:
    shots = Path(SHOTS) if SHOTS else tmp_path
    r = await api.client.post("/api/signup", json={"email": "lin@example.com", "name": "Lin"})
    vendor = User(r.json()["id"], r.json()["token"])
    page = await signed_in_page(browser, live_server, vendor, width=375)
    await page.goto("/me")
    await expect(page.locator("#email-unconfirmed")).to_contain_text("lin@example.com")
    assert await violations(page) == []
    await page.screenshot(path=str(shots / "email-unconfirmed.png"), full_page=True)

    body = await db.fetchval("SELECT body FROM mail_outbox WHERE to_address = 'lin@example.com'")
    token = re.search(r"/confirm-email\?token=([A-Za-z0-9_-]+)", body).group(1)
    await page.goto(f"/confirm-email?token={token}")
    await expect(page.get_by_role("heading", name="Confirm your e-mail address")).to_be_visible()
    assert await violations(page) == []
    await page.screenshot(path=str(shots / "email-confirm.png"), full_page=True)
    await page.get_by_role("button", name="Confirm lin@example.com").click()
    await expect(page.get_by_text("Your e-mail address is confirmed.")).to_be_visible()
    assert await violations(page) == []
    await page.goto("/me")
    await expect(page.locator("#email-unconfirmed")).to_have_count(0)
