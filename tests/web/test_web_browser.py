"""The web pages in a real browser (Chromium through Playwright) against the served app."""

from __future__ import annotations

import re
from typing import Any

from marketplace.settings import Settings
from tests.browser import SOON, expect, pytestmark, signed_in_page
from tests.helpers import Api, bid, published_auction, running_relays, worker_ctx

__all__ = ["pytestmark"]


async def test_a_bid_placed_in_one_browser_appears_in_another(
    api: Api, settings: Settings, live_server: str, browser: Any
) -> None:
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    auction = await published_auction(api, buyer, price_cap_cents=350_000, title="Live feed task")
    path = f"/auctions/{auction['id']}"
    async with worker_ctx(settings) as ctx, running_relays(ctx):
        watcher = await signed_in_page(browser, live_server, None, width=375)  # phone width
        await watcher.goto(path)
        await expect(watcher.locator("#live-state")).to_contain_text("Live")
        await expect(watcher.locator("#no-bids")).to_be_visible()

        bidder = await signed_in_page(browser, live_server, vendor)
        await bidder.goto(path)
        await bidder.get_by_label("Amount in dollars").fill("3,250.00")
        await bidder.get_by_role("button", name="Place bid").click()
        await expect(bidder.get_by_text("You are the low bidder")).to_be_visible()

        feed = watcher.locator("#feed li")
        await expect(feed).to_have_count(1, timeout=SOON)
        await expect(feed.first).to_contain_text("Bidder 1")
        await expect(feed.first).to_contain_text("$3,250.00")
        await expect(watcher.locator("#low-bid")).to_have_text("$3,250.00")
        await expect(watcher.locator("#bid-count")).to_have_text("1")
        # Veiled: the watcher never learns who bid.
        assert "User vendor" not in await watcher.content()

        # A bid made elsewhere (the API) shows up in both browsers.
        assert (
            await bid(api, await api.verified_vendor(), auction["id"], 320_000)
        ).status_code == 201
        await expect(feed).to_have_count(2, timeout=SOON)
        await expect(feed.first).to_contain_text("Bidder 2")
        await expect(bidder.locator("#feed li").first).to_contain_text("$3,200.00", timeout=SOON)
        # The bidder was outbid: the page says so and offers the form again.
        await expect(bidder.get_by_text("You have been outbid")).to_be_visible(timeout=SOON)
        await expect(bidder.locator("#max-allowed")).to_have_text("$3,199.00")


async def test_vendor_bids_and_a_too_high_bid_shows_the_maximum(
    api: Api, settings: Settings, live_server: str, browser: Any
) -> None:
    buyer = await api.buyer()
    first, second = await api.verified_vendor(), await api.verified_vendor()
    auction = await published_auction(api, buyer, price_cap_cents=349_900)
    path = f"/auctions/{auction['id']}"

    page = await signed_in_page(browser, live_server, first)
    await page.goto(path)
    await expect(page.locator("#max-allowed")).to_have_text("$3,499.00")
    await page.get_by_label("Amount in dollars").fill("3600")
    await page.get_by_role("button", name="Place bid").click()
    await expect(page.get_by_role("alert")).to_have_text("Your bid must be at most $3,499.00.")
    await expect(page.get_by_label("Amount in dollars")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Amount in dollars").fill("3,000")
    await page.get_by_role("button", name="Place bid").click()
    await expect(page.get_by_text("Your bid of $3,000.00 is in.")).to_be_visible()
    await expect(page.get_by_text("You are the low bidder at $3,000.00")).to_be_visible()
    await expect(page.get_by_role("button", name="Place bid")).to_have_count(0)

    other = await signed_in_page(browser, live_server, second)
    await other.goto(path)
    await expect(other.locator("#max-allowed")).to_have_text("$2,999.00")
    await other.get_by_label("Amount in dollars").fill("3000")
    await other.get_by_role("button", name="Place bid").click()
    await expect(other.get_by_role("alert")).to_have_text("Your bid must be at most $2,999.00.")
    await other.get_by_label("Amount in dollars").fill("twelve")
    await other.get_by_role("button", name="Place bid").click()
    await expect(other.get_by_role("alert")).to_contain_text("Enter your bid in dollars")

    await other.goto("/me/bids")
    await expect(other.get_by_text("You have not bid yet")).to_be_visible()
    await page.goto("/me/bids")
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody tr")).to_contain_text("low bid")


async def test_buyer_creates_and_publishes_a_task_with_errors_beside_fields(
    api: Api, live_server: str, browser: Any
) -> None:
    buyer = await api.buyer()
    page = await signed_in_page(browser, live_server, buyer, width=375)
    await page.goto("/buyer/tasks/new")
    await page.get_by_label("Title").fill("Add CSV export to the permits report")
    await page.get_by_label("Summary").fill("Download the monthly report as CSV.")
    await page.get_by_label("Description", exact=True).fill("A button; tests pass.")
    await page.get_by_label("GitHub repository").fill("city-of-x/permits")
    await page.get_by_label("Price cap in dollars").fill("12,000.00")
    await page.get_by_label("Skills").fill("python, csv")
    await page.get_by_role("button", name="Save as draft").click()

    cap = page.get_by_label("Price cap in dollars")
    await expect(cap).to_have_attribute("aria-invalid", "true")
    error = page.locator("#price_cap-error")
    await expect(error).to_have_text("Price cap: at most $10,000.00, the micro-purchase threshold.")
    # The message sits beside its field: the input names it, and it follows the input.
    assert "price_cap-error" in (await cap.get_attribute("aria-describedby") or "")
    follows = await page.evaluate(
        "() => document.getElementById('price_cap').nextElementSibling.id"
    )
    assert follows == "price_cap-error"
    await expect(page.get_by_label("Title")).to_have_value("Add CSV export to the permits report")

    await cap.fill("3,500")
    await page.get_by_role("button", name="Save as draft").click()
    await expect(page.get_by_text("Draft saved.")).to_be_visible()
    await expect(page.locator(".badge")).to_have_text("Draft")
    await page.get_by_role("button", name="Publish").click()
    await page.get_by_role("dialog").get_by_role("button", name="Yes, publish it").click()
    await expect(page.get_by_text("Published: the auction is")).to_be_visible()
    await expect(page.locator(".badge")).to_have_text(re.compile("Upcoming|Open|Closing soon"))
    await expect(page.get_by_text("$3,500.00").first).to_be_visible()

    anonymous = await signed_in_page(browser, live_server, None)
    await anonymous.goto("/")
    await expect(anonymous.get_by_role("link", name="Add CSV export")).to_be_visible()
    await page.goto("/buyer")
    await expect(page.get_by_role("link", name="Add CSV export")).to_be_visible()
