"""Irreversible actions ask first in the browser: a dialog with script, a confirmation page
without; both by keyboard, both named for screen readers, focus on the result or the error,
and 0 axe-core violations of WCAG 2.1 A/AA in every state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import asyncpg

from tests.axe import violations
from tests.browser import expect, pytestmark, signed_in_page
from tests.helpers import Api, auction_body
from tests.scenes import delivered_for_review

__all__ = ["pytestmark"]  # the Chromium skip reason
SHOTS = os.environ.get("MARKETPLACE_SHOTS_DIR")


async def focused_text(page: Any) -> str:
    text: str = await page.evaluate("() => document.activeElement.textContent.trim()")
    return text


async def test_publish_asks_in_a_dialog_by_keyboard_and_focus_lands_on_the_result(
    api: Api, db: asyncpg.Connection, live_server: str, browser: Any, tmp_path: Path
) -> None:
    shots = Path(SHOTS) if SHOTS else tmp_path
    buyer = await api.buyer()
    r = await api.client.post(
        "/api/auctions",
        json=auction_body(title="Fix the permit map", price_cap_cents=510_050),
        headers=buyer.headers,
    )
    aid = r.json()["id"]
    page = await signed_in_page(browser, live_server, buyer)
    await page.goto(f"/auctions/{aid}")
    publish = page.get_by_role("button", name="Publish")
    await publish.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role(
        "dialog", name="Publish “Fix the permit map” for bids up to $5,100.50?"
    )
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("can no longer be edited, only cancelled")
    # The safe answer has the focus; the dialog is modal and passes axe-core.
    assert await focused_text(page) == "No, go back"
    assert await violations(page) == []
    await page.screenshot(path=str(shots / "confirm-publish-dialog.png"))

    # Escape says no: nothing is sent, focus goes back to the button.
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    assert await focused_text(page) == "Publish"
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "draft"

    # Going back and asking again in the same instant (Escape, Enter, fast) leaves the new
    # question live: the first dialog's late close event must not forget it.
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await page.evaluate(
        """() => { document.getElementById("confirm-dialog").close();
                  document.activeElement.click(); }"""
    )
    await expect(dialog).to_be_visible()
    assert await focused_text(page) == "No, go back"
    await page.keyboard.press("Shift+Tab")
    assert await focused_text(page) == "Yes, publish it"
    await page.keyboard.press("Enter")
    notice = page.get_by_role("status").filter(has_text="Published: the auction is")
    await expect(notice).to_be_visible()
    await expect(notice).to_be_focused()
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) != "draft"
    assert await violations(page) == []


async def test_without_script_a_confirmation_page_asks_and_errors_take_the_focus(
    api: Api, db: asyncpg.Connection, pool: Any, live_server: str, browser: Any, tmp_path: Path
) -> None:
    shots = Path(SHOTS) if SHOTS else tmp_path
    s = await delivered_for_review(api, db, pool)
    aid = s["auction_id"]
    await db.execute(
        "UPDATE users SET name = 'Tidewater Software LLC' WHERE id = $1", s["winner"].id
    )
    reviewer = await api.user("reviewer")
    page = await signed_in_page(browser, live_server, reviewer, width=375, script=False)
    await page.goto("/reviews")
    card = page.locator(f"#review-{aid}")
    await card.get_by_label("Reason for your decision").fill("Meets the acceptance criteria.")
    await card.get_by_role("button", name="Accept the work").click()
    question = page.locator("#confirm-question")
    await expect(question).to_have_text(
        "Accept and release $3,900.00 to Tidewater Software LLC at once?"
    )
    await expect(question).to_be_focused()
    await expect(page.get_by_role("link", name="No, go back")).to_have_attribute(
        "href", f"/reviews#review-{aid}"
    )
    assert await db.fetchval("SELECT count(*) FROM payments") == 0
    await page.screenshot(path=str(shots / "confirm-accept-page.png"), full_page=True)
    # axe-core needs script: the same page, reached with script on but the dialog left out.
    checked = await signed_in_page(browser, live_server, reviewer, width=375)
    await checked.goto("/reviews")
    await checked.evaluate(
        "() => document.querySelectorAll('[data-confirm]')"
        ".forEach(b => b.removeAttribute('data-confirm'))"
    )
    card2 = checked.locator(f"#review-{aid}")
    await card2.get_by_label("Reason for your decision").fill("Meets the acceptance criteria.")
    await card2.get_by_role("button", name="Accept the work").click()
    await expect(checked.locator("#confirm-question")).to_be_focused()
    assert await violations(checked) == []

    # Meanwhile another reviewer decides through the API: agreeing now is refused, and the
    # refusal has the focus.
    other = await api.user("reviewer")
    r = await api.client.post(
        f"/api/auctions/{aid}/review",
        json={"decision": "reject", "reason": "tests fail on Safari"},
        headers=other.headers,
    )
    assert r.status_code == 200, r.text
    await page.get_by_role("button", name="Yes, accept and release").click()
    error = page.get_by_role("alert")
    await expect(error).to_contain_text("no longer awaiting review")
    await expect(error).to_be_focused()
    assert await db.fetchval("SELECT count(*) FROM payments") == 0
    await checked.get_by_role("button", name="Yes, accept and release").click()
    await expect(checked.get_by_role("alert")).to_be_focused()
    assert await violations(checked) == []

    # With script, the same queue asks in a dialog; No sends nothing.
    s2 = await delivered_for_review(api, db, pool)
    live = await signed_in_page(browser, live_server, reviewer, width=375)
    await live.goto("/reviews")
    card = live.locator(f"#review-{s2['auction_id']}")
    await card.get_by_label("Reason for your decision").fill("The date picker still fails.")
    await card.get_by_role("button", name="Reject the work").click()
    dialog = live.get_by_role("dialog")
    await expect(dialog).to_contain_text("Reject the work User vendor delivered for")
    assert await violations(live) == []
    await live.screenshot(path=str(shots / "confirm-reject-dialog.png"))
    await dialog.get_by_role("button", name="No, go back").click()
    await expect(dialog).to_be_hidden()
    status = "SELECT status FROM auctions WHERE id = $1"
    assert await db.fetchval(status, s2["auction_id"]) == "pending_review"
    await card.get_by_role("button", name="Reject the work").click()
    await dialog.get_by_role("button", name="Yes, reject the work").click()
    await expect(live.get_by_role("status").filter(has_text="Rejected auction")).to_be_focused()
    assert await db.fetchval(status, s2["auction_id"]) == "rejected"
