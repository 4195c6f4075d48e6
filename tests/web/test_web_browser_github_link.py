"""In Chromium: a vendor links a GitHub account from the profile page and confirms which
account goes where before anything is linked (issue 21, finding 1); axe-core finds no WCAG
2.1 A/AA violation on the pages on the way."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from marketplace.settings import Settings
from tests.axe import violations
from tests.browser import expect, pytestmark, signed_in_page
from tests.fakes.github import FakeGitHub
from tests.helpers import Api, loopback_socket, served

__all__ = ["pytestmark"]  # the Chromium skip reason
# Where the screenshots go when someone wants to look at them (else the test's tmp dir).
SHOTS = os.environ.get("MARKETPLACE_SHOTS_DIR")


@pytest.fixture
async def github_server(settings: Settings, fake_github: FakeGitHub) -> AsyncIterator[str]:
    """The app served on loopback with the OAuth app on the fake GitHub, whose consent
    screen sends the browser back to this server's callback."""
    sock = loopback_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    fake_github.callback_url = f"{base}/auth/github/callback"  # the OAuth App's registration
    with_github = msgspec.structs.replace(
        settings,
        public_url=base,
        secret_key="test-secret-key-for-oauth-states",
        github_api_url=fake_github.api_url,
        github_url=fake_github.web_url,
        github_client_id=fake_github.client_id,
        github_client_secret=fake_github.client_secret,
    )
    async with served(with_github, sock) as served_at:
        yield served_at


async def test_vendor_links_github_after_confirming_the_account(
    api: Api, db: Any, fake_github: FakeGitHub, github_server: str, browser: Any, tmp_path: Path
) -> None:
    shots = Path(SHOTS) if SHOTS else tmp_path
    fake_github.add_user("ada", id=501, email=None, name="Ada Lovelace")
    vendor = await api.verified_vendor()
    page = await signed_in_page(browser, github_server, vendor, width=375)

    fake_github.signed_in_login = "ada"  # who approves on GitHub's consent screen
    await page.goto("/me")
    await expect(page.locator("#github-account")).to_have_text("not linked")
    await page.get_by_role("button", name="Link your GitHub account").click()
    await expect(page.get_by_role("heading", name="Link your GitHub account?")).to_be_visible()
    await expect(
        page.get_by_text("Link GitHub @ada (Ada Lovelace) to your marketplace")
    ).to_be_visible()
    await page.screenshot(path=str(shots / "github-link-confirm.png"), full_page=True)
    assert await violations(page) == []
    assert await db.fetchval("SELECT github_id FROM users WHERE id = $1", vendor.id) is None

    await page.get_by_role("button", name="Link @ada").click()
    await expect(page.get_by_text("Your GitHub account @ada is linked")).to_be_visible()
    await expect(page.locator("#github-account")).to_have_text("@ada")
    await page.screenshot(path=str(shots / "github-link-done.png"), full_page=True)
    assert await violations(page) == []
    assert await db.fetchval("SELECT github_id FROM users WHERE id = $1", vendor.id) == 501


async def test_sign_in_with_github_in_the_browser_that_started_it(
    fake_github: FakeGitHub, github_server: str, browser: Any, db: Any
) -> None:
    """The sign-in's nonce cookie survives GitHub's redirects in a real browser: the
    browser that started it is signed in; the same hand-off link, spent, signs in nobody
    elsewhere (one never claimed is refused there too: tests/web/test_github_oauth.py)."""
    fake_github.add_user("grace", id=777, email=None, name="Grace Hopper")
    fake_github.signed_in_login = "grace"
    page = await signed_in_page(browser, github_server, None)
    handoffs: list[str] = []
    page.on(
        "request",
        lambda req: handoffs.append(req.url) if "/signin/github?handoff=" in req.url else None,
    )
    await page.goto("/signin")
    await page.get_by_role("link", name="Sign in with GitHub").click()
    await expect(page.get_by_text("Signed in with GitHub as Grace Hopper.")).to_be_visible()
    assert await violations(page) == []
    assert len(handoffs) == 1

    other = await signed_in_page(browser, github_server, None)
    await other.goto(handoffs[0])
    await expect(other.get_by_text("expired or was already used")).to_be_visible()
    await other.goto("/me")
    await expect(other.get_by_label("API token")).to_be_visible()  # sent to sign in
