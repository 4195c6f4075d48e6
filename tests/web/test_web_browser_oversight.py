"""In Chromium: an auditor downloads exports and the page verifies them; a vendor asks to be
verified and an admin verifies them from the queue; and every page, for every role, at
phone width in a New York browser: labelled inputs, nothing wider than the screen, times
in the viewer's zone with the zone named."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import asyncpg

from marketplace.auctions import lifecycle
from tests.browser import expect, pytestmark, signed_in_page
from tests.helpers import CLOSE_SETTINGS, Api, bid, end_auction_now, published_auction
from tests.scenes import delivered_for_review

__all__ = ["pytestmark"]  # the Chromium skip reason
ZONE = "America/New_York"
ZONE_NAMED = re.compile(r"\bE[SD]T$")  # Nov 23, 2026, 07:17 AM EST


async def download(page: Any, link_name: str, into: Path) -> Path:
    async with page.expect_download() as info:
        await page.get_by_role("link", name=link_name, exact=True).click()
    done = await info.value
    path = into / done.suggested_filename
    await done.save_as(path)
    return path


async def test_auditor_downloads_an_export_and_the_page_verifies_it(
    api: Api, db: Any, pool: Any, live_server: str, browser: Any, tmp_path: Path
) -> None:
    buyer = await api.buyer()
    auction = await published_auction(api, buyer, title="Audited task", price_cap_cents=400_000)
    aid = auction["id"]
    for amount in (380_000, 360_000):
        assert (await bid(api, await api.verified_vendor(), aid, amount)).status_code == 201
    # Bid rows enter the log's views once bidding has closed (DESIGN §8).
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    auditor = await api.user("auditor")

    page = await signed_in_page(browser, live_server, auditor, zone=ZONE)
    await page.get_by_role("link", name="Audit log").click()
    await page.get_by_label("Auction number").fill(str(aid))
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("td code", has_text="bid.placed")).to_have_count(2)
    assert ZONE_NAMED.search(await page.locator("tbody time").first.inner_text())

    jsonl = await download(page, "JSONL (signed manifest included)", tmp_path)
    csv = await download(page, "CSV", tmp_path)
    manifest = await download(page, "its signed manifest (to verify the CSV)", tmp_path)
    assert jsonl.name == f"audit-{aid}.jsonl" and b'"manifest"' in jsonl.read_bytes()

    await page.get_by_role("link", name="Verify an export").click()
    await page.get_by_label("Export file (JSONL or CSV)").set_input_files(jsonl)
    await page.get_by_role("button", name="Verify").click()
    result = page.locator("#verify-result")
    await expect(result).to_contain_text(f"OK: {jsonl.name} verifies.")
    await expect(result).to_contain_text("nothing changed, missing or reordered")

    await page.get_by_label("Export file (JSONL or CSV)").set_input_files(csv)
    await page.get_by_label("Signed manifest (only for a CSV export)").set_input_files(manifest)
    await page.get_by_role("button", name="Verify").click()
    await expect(result).to_contain_text(f"OK: {csv.name} verifies.")

    # One amount changed in the file: the page names the first bad line.
    lines = jsonl.read_bytes().splitlines()
    at = next(i for i, line in enumerate(lines) if b"360000" in line)
    lines[at] = lines[at].replace(b"360000", b"160000")
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(b"\n".join(lines) + b"\n")
    await page.get_by_label("Export file (JSONL or CSV)").set_input_files(tampered)
    await page.get_by_role("button", name="Verify").click()
    await expect(result).to_contain_text("Not valid: tampered.jsonl")
    await expect(result).to_contain_text(f"line {at + 1}")


async def test_admin_verifies_a_pending_vendor(
    api: Api, live_server: str, browser: Any, db: asyncpg.Connection
) -> None:
    vendor = await api.user("vendor")
    mine = await signed_in_page(browser, live_server, vendor, width=375)
    await mine.goto("/me")
    await mine.get_by_label("An individual (tax or identity number)").check()
    await mine.get_by_label("Registry id").fill("not valid!")
    await mine.get_by_role("button", name="Ask to be verified").click()
    await expect(mine.locator("#registry_id-error")).to_contain_text("Use letters, digits")
    await expect(mine.get_by_label("Registry id")).to_have_attribute("aria-invalid", "true")
    await mine.get_by_label("An individual (tax or identity number)").check()
    await mine.get_by_label("Registry id").fill("ID-48213")
    await mine.get_by_role("button", name="Ask to be verified").click()
    await expect(mine.get_by_text("Your verification request is in.")).to_be_visible()
    await expect(mine.locator("#verification-status")).to_contain_text("pending")

    admin = await signed_in_page(browser, live_server, api.admin, width=375)
    await admin.get_by_role("link", name="Vendor checks").click()
    card = admin.locator(f"#vendor-{vendor.id}")
    await expect(card).to_contain_text("pending as individual")
    await card.get_by_role("button", name="Verify", exact=True).click()
    # No reason: the browser stops the form before anything is asked or sent.
    await expect(admin.get_by_role("dialog")).to_have_count(0)
    assert await card.get_by_label("Reason (the vendor sees it)").evaluate("e => !e.validity.valid")
    await card.get_by_label("Reason (the vendor sees it)").fill("Registry entry ID-48213 checked")
    await card.get_by_role("button", name="Verify", exact=True).click()
    dialog = admin.get_by_role("dialog")
    await expect(dialog).to_contain_text("Verify User vendor as an individual?")
    await dialog.get_by_role("button", name="Yes, verify").click()
    await expect(admin.get_by_text("User vendor is now verified.")).to_be_visible()
    await expect(admin.locator(f"#vendor-{vendor.id}")).to_have_count(0)
    status = "SELECT verification_status FROM users WHERE id = $1"
    assert await db.fetchval(status, vendor.id) == "verified"

    await mine.reload()
    await expect(mine.locator("#verification-status")).to_contain_text(
        re.compile(r"is verified .*You can bid\.", re.S)
    )


CHECK_PAGE = """() => {
  const unlabelled = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    if (!(el.labels.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby"))) {
      unlabelled.push(el.outerHTML.slice(0, 160));
    }
  }
  return {
    unlabelled,
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    times: [...document.querySelectorAll("time[data-local]")].map(t => t.textContent.trim()),
    h1: document.querySelector("h1") ? document.querySelector("h1").textContent : null,
    money: [...document.body.innerText.matchAll(/\\$[0-9][0-9,]*\\.[0-9]{2}/g)].length,
  };
}"""


async def test_every_page_at_phone_width_has_labels_and_zoned_times(
    api: Api, live_server: str, browser: Any, db: asyncpg.Connection, pool: Any
) -> None:
    s = await delivered_for_review(api, db, pool)
    aid = s["auction_id"]
    open_aid = (await published_auction(api, s["buyer"], title="Open task"))["id"]
    assert (await bid(api, s["loser"], open_aid, 300_000)).status_code == 201
    roles = {
        "anonymous": (None, ["/", f"/auctions/{open_aid}", "/signin", "/awards", "/insights"]),
        "winner": (
            s["winner"],
            ["/me", "/me/bids", "/me/awards", "/me/payments", f"/auctions/{aid}/delivery"],
        ),
        "bidder": (await api.verified_vendor(), [f"/auctions/{open_aid}"]),
        "buyer": (s["buyer"], ["/buyer", "/buyer/tasks/new", f"/auctions/{aid}"]),
        "reviewer": (await api.user("reviewer"), ["/reviews"]),
        "finance": (await api.user("finance"), ["/finance/payments"]),
        "auditor": (await api.user("auditor"), ["/audit", "/audit/verify"]),
        "admin": (
            api.admin,
            ["/admin/vendors", "/admin/users", "/admin/departments", f"/auctions/{aid}"],
        ),
    }
    for role, (user, paths) in roles.items():
        page = await signed_in_page(browser, live_server, user, width=375, zone=ZONE)
        for path in paths:
            response = await page.goto(path)
            assert response is not None and response.status == 200, (role, path)
            found = await page.evaluate(CHECK_PAGE)
            where = f"{role} {path}"
            assert found["h1"], where
            assert found["unlabelled"] == [], where
            assert found["overflow"] <= 0, (where, found["overflow"])
            for shown in found["times"]:
                assert ZONE_NAMED.search(shown), (where, shown)
            if path in ("/", f"/auctions/{open_aid}", "/me/awards", "/buyer"):
                assert found["money"] > 0, where  # amounts as dollars: $3,000.00
        await page.context.close()
    # The form's times are entered in the viewer's zone, and the label says which.
    buyer = await signed_in_page(browser, live_server, s["buyer"], zone=ZONE)
    await buyer.goto("/buyer/tasks/new")
    await expect(buyer.locator("[data-zone-label]").first).to_have_text(ZONE)
