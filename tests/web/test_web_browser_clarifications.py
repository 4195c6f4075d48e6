"""In Chromium (issue 28): a vendor asks from the auction page, the buyer answers from the
dashboard's link and amends the task, and a public watcher's open page shows the answer
and the amendment as they happen, naming nobody; axe-core finds no WCAG 2.1 A/AA
violation on any of the pages, as vendor, buyer and the public."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from marketplace.settings import Settings
from tests.axe import violations
from tests.browser import expect, pytestmark, signed_in_page
from tests.helpers import Api, bid, published_auction, running_relays, worker_ctx

__all__ = ["pytestmark"]  # the Chromium skip reason
SHOTS = os.environ.get("MARKETPLACE_SHOTS_DIR")
ASKER = "Asker Philippa Thorne"


async def test_ask_answer_and_amend_in_the_browser(
    api: Api, db: Any, settings: Settings, live_server: str, browser: Any, tmp_path: Path
) -> None:
    shots = Path(SHOTS) if SHOTS else tmp_path
    dept = await api.department("Parks Department")
    buyer = await api.buyer(dept)
    vendor, bidder = await api.verified_vendor(), await api.verified_vendor()
    await db.execute("UPDATE users SET name = $2 WHERE id = $1", vendor.id, ASKER)
    aid = (
        await published_auction(
            api,
            buyer,
            title="Fix the date picker on the permits form",
            acceptance="The picker accepts every valid date in Safari 17.",
        )
    )["id"]
    assert (await bid(api, bidder, aid, 340_000)).status_code == 201
    path = f"/auctions/{aid}"

    async with worker_ctx(settings) as ctx, running_relays(ctx):
        public = await signed_in_page(browser, live_server, None, width=375)
        await public.goto(path)
        await expect(public.locator("#live-state")).to_contain_text("Live")
        await expect(public.get_by_text("No questions answered yet.")).to_be_visible()

        asker = await signed_in_page(browser, live_server, vendor)
        await asker.goto(path)
        await asker.get_by_label("Ask a clarification question").fill("bell \x07 rings")
        await asker.get_by_role("button", name="Send the question").click()
        await expect(asker.locator("#question-error")).to_contain_text("control characters")
        assert await violations(asker) == []
        await asker.screenshot(path=str(shots / "qa-vendor-refused.png"), full_page=True)
        await asker.get_by_label("Ask a clarification question").fill(
            "Must the renewal form's picker be fixed too?"
        )
        await asker.get_by_role("button", name="Send the question").click()
        await expect(asker.get_by_text("Your question is sent.")).to_be_visible()
        await expect(asker.get_by_text("Question (yours)")).to_be_visible()
        await expect(asker.get_by_text("Awaiting the buyer's answer.")).to_be_visible()
        assert await violations(asker) == []
        await asker.screenshot(path=str(shots / "qa-vendor-asked.png"), full_page=True)

        office = await signed_in_page(browser, live_server, buyer)
        await office.goto("/buyer")
        first = office.locator("main h2").first
        await expect(first).to_contain_text("Questions awaiting your answer (1)")
        await expect(office.get_by_text(f"Asked by {ASKER}")).to_be_visible()
        assert await violations(office) == []
        await office.screenshot(path=str(shots / "qa-buyer-dashboard.png"), full_page=True)
        await office.locator("#unanswered a").first.click()
        await expect(office.get_by_text(f"from {ASKER}")).to_be_visible()
        await office.get_by_label("Your answer").fill("Yes: both forms share the picker.")
        await office.get_by_role("button", name="Publish the answer").click()
        await expect(office.get_by_text("Your answer is published")).to_be_visible()

        # The public page, open all along, shows the answer without a reload.
        await expect(public.get_by_text("Yes: both forms share the picker.")).to_be_visible()
        await expect(
            public.get_by_text("Must the renewal form's picker be fixed too?")
        ).to_be_visible()

        await office.get_by_role("textbox", name="Acceptance criteria").fill(
            "The picker accepts every valid date in Safari 17 and Firefox 130."
        )
        await office.get_by_label("Reason for the amendment").fill("Firefox was left out.")
        await office.get_by_role("button", name="Publish the amendment").click()
        await expect(office.get_by_text("The amendment is published")).to_be_visible()
        assert await violations(office) == []
        await office.screenshot(path=str(shots / "qa-buyer-amended.png"), full_page=True)

        await expect(public.get_by_text("Firefox was left out.")).to_be_visible()
        await expect(public.locator("#acceptance-text")).to_contain_text("Firefox 130")
        await expect(public.get_by_text("Bidding now closes")).to_be_visible()
        # Questions now run to the moved close (the window became shorter than two days).
        closes = await public.locator("#ends-at time").get_attribute("datetime")
        await expect(public.locator("#questions-close time")).to_have_attribute(
            "datetime", closes or ""
        )
        await public.get_by_text("Acceptance criteria before this amendment").click()
        await expect(
            public.get_by_text("every valid date in Safari 17.", exact=False).first
        ).to_be_visible()
        assert ASKER not in await public.content()
        assert await violations(public) == []
        await public.screenshot(path=str(shots / "qa-public-live.png"), full_page=True)

        await public.reload()
        await expect(public.get_by_text("Yes: both forms share the picker.")).to_be_visible()
        assert ASKER not in await public.content()
        assert await violations(public) == []
