"""Screenshots of the main pages for the README, taken in Chromium against a realistic
scene (opt-in: not part of the test suite's run).

    MARKETPLACE_SCREENSHOTS=1 python -m pytest tests/web/test_web_screenshots.py

writes docs/screenshots/*.png (overwriting them). The scene is built through the same API,
jobs and fake GitHub server the tests use, so the pictures show what the pages really do.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from marketplace.auctions import lifecycle
from marketplace.settings import Settings
from tests.browser import expect, signed_in_page
from tests.fakes.github import FakeGitHub
from tests.github_scene import HEAD, REPO, REPO_ID, good_pull, link, on_fake_github
from tests.helpers import (
    Api,
    User,
    bid,
    end_auction_now,
    iso_in,
    published_auction,
    running_relays,
    worker_ctx,
)
from workers.verification import verify_delivery

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ZONE = "America/New_York"
WIDTH = 1100

pytestmark = pytest.mark.skipif(
    not os.environ.get("MARKETPLACE_SCREENSHOTS") or not Path("/usr/bin/chromium").exists(),
    reason="screenshots are taken on request: MARKETPLACE_SCREENSHOTS=1 (and Chromium)",
)


@pytest.fixture
def settings(settings: Settings, fake_github: FakeGitHub) -> Settings:
    """The served app (and ``api``) talk to the fake GitHub."""
    return on_fake_github(settings, fake_github, github_token="worker-token")


@pytest.fixture
def gh_settings(settings: Settings) -> Settings:
    return settings


async def person(api: Api, name: str, *roles: str, department_id: int | None = None) -> User:
    body: dict[str, Any] = {
        "email": name.lower().replace(" ", ".").replace(",", "") + "@example.gov",
        "name": name,
        "roles": list(roles),
    }
    if department_id is not None:
        body["department_id"] = department_id
    r = await api.client.post("/api/users", json=body, headers=api.admin.headers)
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    r = await api.client.post(f"/api/users/{user_id}/tokens", headers=api.admin.headers)
    return User(user_id, r.json()["token"])


async def verified(api: Api, name: str) -> User:
    vendor = await person(api, name, "vendor")
    r = await api.client.post(
        f"/api/vendors/{vendor.id}/verification",
        json={"status": "verified", "reason": "registry entry checked"},
        headers=api.admin.headers,
    )
    assert r.status_code == 201, r.text
    return vendor


async def shoot(page: Any, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


async def test_take_screenshots(
    api: Api,
    db: Any,
    pool: Any,
    settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
    live_server: str,
    browser: Any,
) -> None:
    fake_github.add_repo(REPO, id=REPO_ID, default_branch="main")
    fake_github.add_issue(REPO, 12, title="The date picker rejects valid dates")
    fake_github.add_user("ada", id=501)
    fake_github.add_user("bob", id=502)

    permits = await api.department("Permits Office")
    parks = await api.department("Parks and Recreation")
    buyer = await person(api, "Dana Whitfield", "buyer", department_id=permits)
    parks_buyer = await person(api, "Marcus Ode", "buyer", department_id=parks)
    ada = await verified(api, "Ada Lovelace Consulting")
    brook = await verified(api, "Brook Software LLC")
    chen = await verified(api, "Chen Wei (student)")
    for name, kind, registry in (
        ("Rivera Web Studio", "business", "LLC-2231-0987"),
        ("Sam Okafor", "individual", "ID-48213"),
    ):
        pending = await person(api, name, "vendor")
        r = await api.client.post(
            "/api/me/verification",
            json={"kind": kind, "registry_id": registry},
            headers=pending.headers,
        )
        assert r.status_code in (200, 201), r.text
    reviewer = await person(api, "Riley Chen", "reviewer")
    auditor = await person(api, "Avery Jones", "auditor")

    # The delivered task: awarded to Ada, delivered, verified (one failing try, then passing).
    delivered = (
        await published_auction(
            api,
            buyer,
            repo=REPO,
            price_cap_cents=450_000,
            title="Fix the date picker on the permits form",
        )
    )["id"]
    assert (await bid(api, brook, delivered, 420_000)).status_code == 201
    assert (await bid(api, ada, delivered, 389_000)).status_code == 201
    await end_auction_now(db, delivered)
    assert await lifecycle.close_auction(pool, delivered, settings) == "awarded"
    assert (await link(api, fake_github, ada, "ada")).status_code == 200
    awarded_at = await db.fetchval("SELECT awarded_at FROM awards WHERE auction_id = $1", delivered)
    good_pull(fake_github, awarded_at)
    r = await api.client.post(
        f"/api/auctions/{delivered}/delivery",
        json={"pull_request_url": f"{fake_github.web_url}/{REPO}/pull/7"},
        headers=ada.headers,
    )
    assert r.status_code == 201, r.text
    await verify_delivery(ctx, r.json()["id"])
    fake_github.add_check_run(REPO, HEAD, "tests")
    fake_github.add_status(REPO, HEAD, "ci/lint")
    await verify_delivery(ctx, r.json()["id"], "webhook")

    # Another award to Ada, not yet delivered: the delivery form.
    legend = (
        await published_auction(
            api,
            buyer,
            repo=REPO,
            price_cap_cents=150_000,
            title="Fix the map legend colours",
            summary="Two zones share one colour on the permits map legend.",
            description="Acceptance: each zone has its own colour with AA contrast.",
        )
    )["id"]
    assert (await bid(api, ada, legend, 120_000)).status_code == 201
    await end_auction_now(db, legend)
    assert await lifecycle.close_auction(pool, legend, settings) == "awarded"

    # Open, closing soon, scheduled, draft and no-bid auctions for the lists.
    csv_task = (
        await published_auction(
            api,
            buyer,
            title="Add CSV export to the monthly permits report",
            summary="Download the monthly report as CSV from the reports page.",
            description="A “Download CSV” button on /reports/monthly that exports the "
            "table as shown, with the same filters. Acceptance: unit tests for the export, "
            "and the file opens in Excel and LibreOffice.",
            price_cap_cents=350_000,
            ends_at=iso_in(3 * 86_400),
            skills=["python", "csv"],
        )
    )["id"]
    for vendor, amount in ((chen, 340_000), (brook, 325_000)):
        assert (await bid(api, vendor, csv_task, amount)).status_code == 201
    live = (
        await published_auction(
            api,
            parks_buyer,
            title="Accessibility fixes for the park reservations site",
            summary="Fix the 14 WCAG 2.1 AA failures listed in the audit.",
            description="The audit report is attached to issue #12. Acceptance: axe-core "
            "reports no AA failures on the five reservation pages.",
            price_cap_cents=800_000,
            ends_at=iso_in(5 * 3600),
            skills=["accessibility", "javascript"],
        )
    )["id"]
    await published_auction(
        api,
        parks_buyer,
        title="Translate the 311 intake form into Spanish",
        summary="Strings in the form and its emails, reviewed by a native speaker.",
        price_cap_cents=200_000,
        starts_at=iso_in(86_400),
        ends_at=iso_in(4 * 86_400),
        skills=["i18n"],
    )
    r = await api.client.post(
        "/api/auctions",
        json={
            "title": "Upgrade Django on the licensing portal",
            "summary": "From 3.2 to 5.1, with the deprecation warnings fixed.",
            "description": "Acceptance: the test suite passes on Django 5.1.",
            "repo": "city-of-x/licensing",
            "type": "reverse",
            "price_cap_cents": 600_000,
            "starts_at": iso_in(86_400),
            "ends_at": iso_in(8 * 86_400),
            "delivery_business_days": 15,
        },
        headers=buyer.headers,
    )
    assert r.status_code == 201, r.text

    async with worker_ctx(settings) as relay_ctx, running_relays(relay_ctx):
        anyone = await signed_in_page(browser, live_server, None, width=WIDTH, zone=ZONE)
        await anyone.goto("/")
        await shoot(anyone, "01-auctions")

        # The live feed: a bid placed elsewhere appears while the page is open.
        watcher = await signed_in_page(browser, live_server, None, width=WIDTH, zone=ZONE)
        await watcher.goto(f"/auctions/{live}")
        await expect(watcher.locator("#live-state")).to_contain_text("Live")
        for vendor, amount in ((chen, 760_000), (brook, 745_000), (ada, 720_000)):
            assert (await bid(api, vendor, live, amount)).status_code == 201
        await expect(watcher.locator("#feed li")).to_have_count(3, timeout=10_000)
        await asyncio.sleep(1.2)  # one countdown tick
        await shoot(watcher, "02-auction-live")
        phone = await signed_in_page(browser, live_server, None, width=375, zone=ZONE)
        await phone.goto(f"/auctions/{live}")
        await expect(phone.locator("#live-state")).to_contain_text("Live")
        await shoot(phone, "02b-auction-phone")

    bidder = await signed_in_page(browser, live_server, chen, width=WIDTH, zone=ZONE)
    await bidder.goto(f"/auctions/{csv_task}")
    await bidder.get_by_label("Amount in dollars").fill("3,300")
    await bidder.get_by_role("button", name="Place bid").click()
    await expect(bidder.locator("#amount-error")).to_be_visible()
    await bidder.locator("#bid-heading").scroll_into_view_if_needed()
    await shoot(bidder, "03-bid-refused")

    dashboard = await signed_in_page(browser, live_server, buyer, width=WIDTH, zone=ZONE)
    await dashboard.goto("/buyer")
    await shoot(dashboard, "04-buyer-dashboard")
    await dashboard.goto("/buyer/tasks/new")
    await dashboard.get_by_label("Title").fill("Add CSV export to the permits report")
    await dashboard.get_by_label("Summary").fill("Download the monthly report as CSV.")
    await dashboard.get_by_label("Description", exact=True).fill(
        "A CSV button on the report page; tests pass."
    )
    await dashboard.get_by_label("GitHub repository").fill("city-of-x/permits")
    await dashboard.get_by_label("Price cap in dollars").fill("12,000.00")
    await dashboard.get_by_role("button", name="Save as draft").click()
    await expect(dashboard.locator("#price_cap-error")).to_be_visible()
    await shoot(dashboard, "05-task-form-error")

    queue = await signed_in_page(browser, live_server, reviewer, width=WIDTH, zone=ZONE)
    await queue.goto("/reviews")
    await shoot(queue, "06-reviewer-queue")

    audit = await signed_in_page(browser, live_server, auditor, width=WIDTH, zone=ZONE)
    await audit.goto(f"/audit?auction={delivered}")
    await shoot(audit, "07-audit-log")

    admin = await signed_in_page(browser, live_server, api.admin, width=WIDTH, zone=ZONE)
    await admin.goto("/admin/vendors")
    await shoot(admin, "08-admin-vendors")

    winner = await signed_in_page(browser, live_server, ada, width=WIDTH, zone=ZONE)
    await winner.goto(f"/auctions/{delivered}/delivery")
    await shoot(winner, "09-delivery-verification")
    await winner.goto("/me/awards")
    await winner.get_by_role("link", name="Deliver the work").click()
    await winner.get_by_label("Pull request address").fill(
        f"{fake_github.web_url}/city-of-x/parks/pull/3"
    )
    await winner.get_by_role("button", name="Deliver this pull request").click()
    await expect(winner.locator("#pull_request_url-error")).to_be_visible()
    await shoot(winner, "10-deliver-form-error")
    assert len(list(OUT.glob("*.png"))) >= 11
