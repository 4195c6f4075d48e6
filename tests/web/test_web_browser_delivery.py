"""In Chromium: the winner delivers a pull request from the page and reads the verification
results, each rule with its evidence, against the fake GitHub server."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from arq import Retry

from marketplace.settings import Settings
from tests import axe
from tests.browser import expect, pytestmark, signed_in_page
from tests.fakes.github import FakeGitHub
from tests.github_scene import HEAD, REPO, awarded, good_pull, on_fake_github
from tests.helpers import Api
from workers.verification import verify_delivery

__all__ = ["pytestmark"]  # the Chromium skip reason
SHOTS = Path(tempfile.gettempdir()) / "marketplace-shots"
SHOTS.mkdir(exist_ok=True)


@pytest.fixture
def settings(settings: Settings, fake_github: FakeGitHub) -> Settings:
    """The served app (and ``api``) talk to the fake GitHub."""
    return on_fake_github(settings, fake_github, github_token="worker-token")


@pytest.fixture
def gh_settings(settings: Settings) -> Settings:
    return settings


async def test_vendor_delivers_a_pull_request_and_sees_the_verification_results(
    api: Api,
    db: Any,
    pool: Any,
    settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
    live_server: str,
    browser: Any,
) -> None:
    s = await awarded(api, db, pool, settings, fake_github)
    aid = s.auction_id
    awarded_at = await db.fetchval("SELECT awarded_at FROM awards WHERE auction_id = $1", aid)
    good_pull(fake_github, awarded_at)  # merged in time, but no check has run yet

    page = await signed_in_page(browser, live_server, s.winner, width=375)  # phone width
    await page.get_by_role("link", name="My awards").click()
    await page.get_by_role("link", name="Deliver the work").click()
    await expect(page.get_by_role("heading", name="Delivery and verification")).to_be_visible()
    await expect(page.get_by_text("Your linked GitHub account is @ada")).to_be_visible()

    field = page.get_by_label("Pull request address")
    await field.fill(f"{fake_github.web_url}/acme/other/pull/7")
    await page.get_by_role("button", name="Deliver this pull request").click()
    await expect(page.locator("#pull_request_url-error")).to_have_text(
        "The pull request is in acme/other; this auction's repository is city-of-x/permits."
    )
    await expect(field).to_have_attribute("aria-invalid", "true")
    await field.fill(f"{fake_github.web_url}/{REPO}/issues/12")
    await page.get_by_role("button", name="Deliver this pull request").click()
    await expect(page.locator("#pull_request_url-error")).to_contain_text(
        "That is not the address of a pull request"
    )

    await field.fill(s.pr_url(fake_github))
    await page.get_by_role("button", name="Deliver this pull request").click()
    await expect(page.get_by_text(f"Pull request #7 on {REPO} is delivered")).to_be_visible()
    await expect(page.locator("#delivered-pr")).to_have_attribute("href", s.pr_url(fake_github))
    await expect(page.locator("#no-results")).to_contain_text("No verification has finished")

    # The job the submission queued, run here: one rule fails, and the page says which.
    delivery_id = await db.fetchval("SELECT id FROM deliveries WHERE auction_id = $1", aid)
    await verify_delivery(ctx, delivery_id)
    await page.reload()
    record = page.locator(".verification").first
    await expect(record.get_by_role("heading")).to_contain_text("Failed")
    await expect(record).to_contain_text("1 of 9 rules failed")
    failing = record.locator("tr.check.fail")
    await expect(failing).to_have_count(1)
    await expect(failing).to_contain_text("Every check and status on the merged commit succeeded")
    author = record.locator('tr[data-check="author"]')
    await expect(author).to_contain_text("Passed")
    await expect(author.locator("dl.evidence")).to_contain_text("501")  # the numeric id
    await expect(page.locator("#delivery-status")).to_have_text(
        "Not verified: the latest verification failed (see below)"
    )

    # GitHub fails for a whole attempt: the page says nothing was decided, and why.
    fake_github.set_fault("502", times=4)
    with pytest.raises(Retry):
        await verify_delivery({**ctx, "job_try": 1}, delivery_id, "webhook")
    fake_github.clear_faults()
    await page.reload()
    tried = page.locator(".verification").first
    await expect(tried.get_by_role("heading")).to_contain_text("Could not check")
    await expect(tried).to_contain_text("GitHub could not be read, so nothing was decided")
    await expect(tried).to_contain_text("502")
    await expect(page.locator("#delivery-status")).to_contain_text(
        "Waiting: GitHub could not be read"
    )
    assert await axe.violations(page) == []
    await page.screenshot(path=str(SHOTS / "delivery-github-error.png"), full_page=True)

    # CI passes on GitHub; the next verification passes and the work awaits review.
    fake_github.add_check_run(REPO, HEAD, "tests")
    await verify_delivery(ctx, delivery_id, "webhook")
    await page.reload()
    await expect(page.locator(".verification")).to_have_count(3)
    newest = page.locator(".verification").first
    await expect(newest.get_by_role("heading")).to_contain_text("Passed")
    await expect(newest.locator("tr.check.pass")).to_have_count(9)
    await expect(page.locator("#auction-status")).to_have_text("pending review")
    await expect(page.get_by_label("Pull request address")).to_have_count(0)
    # Usable at phone width: nothing wider than the screen but the scrolling tables.
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0

    # The buyer reads the same results from the auction page.
    buyer = await signed_in_page(browser, live_server, s.buyer)
    await buyer.goto(f"/auctions/{aid}")
    await buyer.get_by_role("link", name="Delivery and verification results").click()
    await expect(buyer.locator(".verification")).to_have_count(3)
    await expect(buyer.get_by_label("Pull request address")).to_have_count(0)
