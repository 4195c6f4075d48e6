"""In Chromium: an admin adds a user and lands on their page with the token shown once,
changes their roles, issues a second token and revokes the first; the vendor queue names
kind, registry id and address confirmation; axe-core finds no WCAG 2.1 A/AA violation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import asyncpg

from tests.axe import violations
from tests.browser import expect, pytestmark, signed_in_page
from tests.helpers import Api

__all__ = ["pytestmark"]  # the Chromium skip reason


async def test_admin_adds_a_user_then_changes_roles_and_tokens(
    api: Api, live_server: str, browser: Any, db: asyncpg.Connection, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("MARKETPLACE_SHOTS_DIR") or tmp_path)
    dept = await api.department("Permits Office")
    page = await signed_in_page(browser, live_server, api.admin, width=375)
    await page.get_by_role("link", name="Users").click()
    await page.get_by_label("Name").fill("Dana Whitfield")
    await page.get_by_label("Email").fill("dana@permits.example.gov")
    await page.get_by_label("Auditor: reads every record and exports the audit log").check()
    await page.get_by_role("button", name="Add the user").click()

    await expect(page.get_by_role("heading", name="Dana Whitfield", level=1)).to_be_visible()
    await expect(page.get_by_text("Dana Whitfield can now sign in.")).to_be_visible()
    token = await page.locator("#new-token").inner_text()
    assert len(token) > 20
    assert await violations(page) == []
    await page.screenshot(path=str(shots / "admin-user-created.png"), full_page=True)
    await page.reload()  # nothing is sent again, and the token is not shown again
    await expect(page.locator("#new-token")).to_have_count(0)
    user_id = await db.fetchval("SELECT id FROM users WHERE email = 'dana@permits.example.gov'")
    assert await db.fetchval("SELECT count(*) FROM users WHERE id = $1", user_id) == 1

    await page.get_by_label("Buyer: posts and manages the department's tasks").check()
    await page.get_by_role("button", name="Save roles and department").click()
    await expect(page.locator("#department-error")).to_contain_text("must belong to a department")
    await expect(
        page.get_by_label("Department (buyers must have one", exact=False)
    ).to_have_attribute("aria-invalid", "true")
    assert await violations(page) == []
    await page.get_by_label("Department (buyers must have one", exact=False).select_option(
        str(dept)
    )
    await page.get_by_label("Auditor: reads every record and exports the audit log").uncheck()
    await page.get_by_role("button", name="Save roles and department").click()
    await expect(page.get_by_text("Dana Whitfield now has the roles buyer.")).to_be_visible()
    row = await db.fetchrow("SELECT roles, department_id FROM users WHERE id = $1", user_id)
    assert list(row["roles"]) == ["buyer"] and row["department_id"] == dept

    first = await db.fetchval("SELECT min(id) FROM api_tokens WHERE user_id = $1", user_id)
    await page.get_by_role("button", name="Issue a new API token").click()
    await expect(page.locator("#new-token")).to_be_visible()
    await page.get_by_role("button", name=f"Revoke token {first}").click()
    await expect(page.get_by_text(f"Token {first} is revoked")).to_be_visible()
    await expect(page.locator(f"#token-{first}")).to_contain_text("revoked")
    assert await violations(page) == []
    await page.screenshot(path=str(shots / "admin-user-tokens.png"), full_page=True)
    revoked = await api.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401


async def test_vendor_queue_shows_kind_and_registry_id(
    api: Api, live_server: str, browser: Any, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("MARKETPLACE_SHOTS_DIR") or tmp_path)
    vendor = await api.user("vendor")
    r = await api.client.post(
        "/api/me/verification",
        json={"kind": "student", "registry_id": "STU-2026-0042"},
        headers=vendor.headers,
    )
    assert r.status_code < 300, r.text
    page = await signed_in_page(browser, live_server, api.admin)
    await page.goto("/admin/vendors")
    card = page.locator(f"#vendor-{vendor.id}")
    await expect(card.locator(".verification-kind")).to_have_text("A student (student id)")
    await expect(card.locator(".registry-id")).to_have_text("STU-2026-0042")
    await expect(card.locator(".email-confirmed")).to_have_text("confirmed")
    assert await violations(page) == []
    await page.screenshot(path=str(shots / "admin-vendors.png"), full_page=True)
