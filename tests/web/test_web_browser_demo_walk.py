"""In Chromium, a newcomer walks the `up --demo` marketplace: every role's job to the end.

Set up as ``marketplace up --demo`` is: the GitHub sandbox, the served app and a real worker
pointed at it, the demo seeded through them. Then, following links only: the vendor signs
in with GitHub (the sandbox's consent page) and delivers the pull request the demo printed;
the worker verifies it; the reviewer accepts; the department's buyer disputes the payment
during its hold; finance resolves it with release and records the payout; the vendor
confirms receipt. axe-core checks every page on the way, and each step is photographed
(into docs/screenshots/ with MARKETPLACE_SCREENSHOTS=1).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from marketplace.demo import Demo, seed
from marketplace.demo_scenes import VENDOR_LOGIN, WALK_HOLD_SECONDS, sandbox_settings
from marketplace.sandbox.server import Sandbox
from marketplace.settings import Settings
from tests.axe import violations
from tests.browser import expect, pytestmark
from tests.demo_scene import sandbox, worker
from tests.helpers import loopback_socket, served

__all__ = ["pytestmark", "sandbox", "worker"]  # fixtures and the Chromium skip reason
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WAIT = 30_000  # ms: the worker's steps (verification, release) take seconds


@pytest.fixture
def sock() -> socket.socket:
    return loopback_socket()


@pytest.fixture
def settings(settings: Settings, sandbox: Sandbox, sock: socket.socket) -> Settings:
    """As `up --demo` configures its API and worker (the OAuth callback comes back here)."""
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sandbox.callback_url = f"{public}/auth/github/callback"  # as `up --demo` registers it
    return msgspec.structs.replace(
        sandbox_settings(settings, sandbox),
        public_url=public,
        secret_key="demo-walk-secret-key-0123456789abcdef",
        payment_hold_seconds=WALK_HOLD_SECONDS,
    )


@pytest.fixture
async def base(settings: Settings, sock: socket.socket) -> AsyncIterator[str]:
    async with served(settings, sock) as url:
        yield url


class Camera:
    """Checks each page with axe-core and photographs it."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.taken: list[Path] = []

    async def shoot(self, page: Any, name: str, *, full_page: bool = True) -> None:
        await page.wait_for_load_state("networkidle")
        assert await violations(page) == [], (name, page.url)
        path = self.out / f"{name}.png"
        await page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)


@pytest.fixture
def camera(tmp_path: Path) -> Camera:
    return Camera(DOCS if os.environ.get("MARKETPLACE_SCREENSHOTS") else tmp_path)


async def window(browser: Any, base: str) -> Any:
    context = await browser.new_context(
        base_url=base, viewport={"width": 1100, "height": 900}, locale="en-US"
    )
    return await context.new_page()


async def sign_in(browser: Any, base: str, token: str) -> Any:
    page = await window(browser, base)
    await page.goto("/signin")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_text("Signed in as")).to_be_visible()
    return page


async def agree(page: Any) -> None:
    """Answers yes to the dialog an irreversible action asks first (its words vary)."""
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name=re.compile(r"^Yes")).click()
    await expect(dialog).to_be_hidden()


def token(demo: Demo, persona: str) -> str:
    return next(p.token for p in demo.personas if p.persona == persona)


async def test_a_newcomer_walks_every_role_through_delivery_review_payment_dispute_and_receipt(
    settings: Settings,
    sandbox: Sandbox,
    worker: None,
    base: str,
    browser: Any,
    camera: Camera,
    db: Any,
) -> None:
    assert settings.database_url and settings.redis_url
    demo = await seed(settings, settings.database_url, settings.redis_url, sandbox)
    assert demo.walk is not None
    aid, pr_url = demo.walk.deliver_auction_id, demo.walk.pull_request_url
    title = await db.fetchval("SELECT title FROM auctions WHERE id = $1", aid)

    # Every page says it is the demo.
    vendor = await window(browser, base)
    await vendor.goto("/")
    await expect(vendor.get_by_text("Demo: GitHub sandbox.")).to_be_visible()
    await camera.shoot(vendor, "demo-01-auctions", full_page=False)

    # The vendor signs in with GitHub: the sandbox asks which account, then hands back.
    await vendor.goto("/signin")
    await vendor.get_by_role("link", name="Sign in with GitHub").click()
    await expect(
        vendor.get_by_role("heading", name="Sign in to the GitHub sandbox")
    ).to_be_visible()
    await camera.shoot(vendor, "demo-02-sandbox-sign-in")
    await vendor.get_by_role("link", name=f"Continue as @{VENDOR_LOGIN}").click()
    await expect(
        vendor.get_by_text("Signed in with GitHub as Tidewater Software LLC")
    ).to_be_visible()

    # Delivery: from My awards, the pull request the demo printed.
    await vendor.get_by_role("link", name="My awards").click()
    card = vendor.locator("li, article, section").filter(has_text=title).last
    await card.get_by_role("link", name="Deliver the work").click()
    await vendor.get_by_label("Pull request address").fill(pr_url)
    await vendor.get_by_role("button", name="Deliver this pull request").click()
    for _ in range(60):  # the worker verifies it against the sandbox
        if await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "pending_review":
            break
        await asyncio.sleep(0.5)
    await vendor.reload()
    await expect(vendor.get_by_text("merged by transit-maint").first).to_be_visible()
    await camera.shoot(vendor, "demo-03-delivered-and-verified")

    # Review: the reviewer accepts it, with a reason.
    reviewer = await sign_in(browser, base, token(demo, "reviewer"))
    await reviewer.get_by_role("link", name="Reviews").click()
    item = reviewer.locator(f"form[action='/reviews/{aid}']")
    await expect(item).to_be_visible()
    await camera.shoot(reviewer, "demo-04-review-queue", full_page=False)
    await item.get_by_label("Reason for your decision").fill("All three criteria are met.")
    await item.get_by_role("button", name="Accept the work").click()
    await agree(reviewer)
    await expect(reviewer.locator(f"form[action='/reviews/{aid}']")).to_have_count(0)
    pid = await db.fetchval("SELECT id FROM payments WHERE auction_id = $1", aid)
    assert pid is not None

    # Dispute: the department's buyer, during the hold, from their dashboard.
    buyer = await sign_in(
        browser, base, token(demo, "buyer, Metro Transit Authority - Rider Information")
    )
    await buyer.get_by_role("link", name="My tasks").click()
    await buyer.get_by_role("link", name=f"Payment {pid}", exact=True).click()
    await buyer.get_by_label("Reason").fill("The map layer hides stations at zoom 12.")
    await buyer.get_by_role("button", name="Dispute this payment").click()
    await expect(buyer.locator(".badge.disputed")).to_be_visible()
    await camera.shoot(buyer, "demo-05-payment-disputed")

    # Payment: finance resolves with release, sees it released, records the payout.
    finance = await sign_in(browser, base, token(demo, "finance"))
    await finance.get_by_role("link", name="Payments", exact=True).click()
    await camera.shoot(finance, "demo-06-finance-payments")
    await finance.get_by_role("link", name=f"Payment {pid}", exact=True).click()
    await finance.get_by_label("Reason (the buyer and the payee see it)").fill(
        "Checked at zoom 12 with the buyer: the stations show."
    )
    await finance.get_by_role("button", name="Release the payment").click()
    await agree(finance)
    for _ in range(120):  # released by the worker (at the latest when the hold ends)
        if await db.fetchval("SELECT status FROM payments WHERE id = $1", pid) == "released":
            break
        await asyncio.sleep(0.5)
    await finance.reload()
    await expect(finance.locator("#payment-status")).to_have_text("released")
    await finance.get_by_label("Reference of the card payment or transfer").fill("ACH 7731")
    await finance.get_by_role("button", name="Record as paid out").click()
    await agree(finance)
    await expect(finance.locator("#executed")).to_contain_text("ACH 7731")
    await camera.shoot(finance, "demo-07-payment-paid-out")

    # Confirmation: the vendor confirms receipt.
    await vendor.get_by_role("link", name="My payments").click()
    await vendor.get_by_role("link", name=f"Payment {pid}", exact=True).click()
    await vendor.get_by_role("button", name="Confirm payment received").click()
    await agree(vendor)
    await expect(vendor.locator("#payment-status")).to_have_text("confirmed")
    await camera.shoot(vendor, "demo-08-receipt-confirmed")
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == (
        "payment_confirmed"
    )
