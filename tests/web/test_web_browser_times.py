"""In Chromium, in two browser zones: a draft saved unchanged keeps its instants, the new-task
form's defaults are in the zone it names, the deadline extension and the audit filter read
times in the zone they name (issue 23, findings 1 and 3; build 1)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

import asyncpg
import pytest

from marketplace.auctions import lifecycle
from tests.axe import violations
from tests.browser import expect, pytestmark, signed_in_page
from tests.helpers import CLOSE_SETTINGS, Api, auction_body, bid, end_auction_now, published_auction

__all__ = ["pytestmark"]  # the Chromium skip reason
ZONES = ["America/New_York", "Asia/Kolkata"]
# Chromium's ICU still names Kolkata by its old name; both are the same zone to Python.
NAMES = {"America/New_York": "America/New_York", "Asia/Kolkata": "Asia/(Kolkata|Calcutta)"}


def named(zone: str) -> re.Pattern[str]:
    return re.compile(NAMES[zone])


def _whole_seconds_from_now(seconds: int) -> dt.datetime:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return now + dt.timedelta(seconds=seconds)


def _z(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _local_input(at: dt.datetime, zone: str) -> str:
    return at.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("zone", ZONES)
async def test_a_draft_saved_unchanged_keeps_its_instants(
    api: Api, live_server: str, browser: Any, zone: str
) -> None:
    buyer = await api.buyer()
    # Seconds on purpose: a form that dropped them would move the times too.
    starts = _whole_seconds_from_now(2 * 3600 + 37)
    ends = starts + dt.timedelta(days=3, seconds=11)
    due = ends + dt.timedelta(days=20, hours=5)
    body = auction_body(
        starts_at=_z(starts),
        ends_at=_z(ends),
        delivery_due_at=_z(due),
        delivery_business_days=None,
    )
    r = await api.client.post("/api/auctions", json=body, headers=buyer.headers)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]

    page = await signed_in_page(browser, live_server, buyer, zone=zone)
    await page.goto(f"/buyer/tasks/{aid}/edit")
    await expect(page.locator("legend", has_text="Bidding window")).to_contain_text(named(zone))
    # The form shows the draft's times in the zone its legend names.
    shown = await page.get_by_label("Opens").input_value()
    assert shown.startswith(_local_input(starts, zone)), (shown, zone)
    assert await violations(page) == []
    await page.get_by_role("button", name="Save the draft").click()
    await expect(page.get_by_text("Draft updated.")).to_be_visible()

    saved = (await api.client.get(f"/api/auctions/{aid}", headers=buyer.headers)).json()
    assert _instant(saved["starts_at"]) == starts
    assert _instant(saved["ends_at"]) == ends
    assert _instant(saved["delivery_due_at"]) == due


@pytest.mark.parametrize("zone", ZONES)
async def test_the_new_task_form_opens_ten_minutes_from_now_in_its_zone(
    api: Api, live_server: str, browser: Any, zone: str
) -> None:
    buyer = await api.buyer()
    page = await signed_in_page(browser, live_server, buyer, zone=zone)
    await page.goto("/buyer/tasks/new")
    await expect(page.locator("legend", has_text="Bidding window")).to_contain_text(named(zone))
    await page.get_by_label("Title").fill("Zoned defaults")
    await page.get_by_label("Summary").fill("Opens soon.")
    await page.get_by_label("Description", exact=True).fill("Tests pass.")
    await page.get_by_label("GitHub repository").fill("city-of-x/permits")
    await page.get_by_label("Price cap in dollars").fill("3,500")
    before = dt.datetime.now(dt.UTC)
    await page.get_by_role("button", name="Save as draft").click()
    await expect(page.get_by_text("Draft saved.")).to_be_visible()
    aid = int(page.url.rstrip("/").rsplit("/", 1)[1])
    saved = (await api.client.get(f"/api/auctions/{aid}", headers=buyer.headers)).json()
    opens_in = (_instant(saved["starts_at"]) - before).total_seconds()
    assert 8 * 60 <= opens_in <= 11 * 60, (saved["starts_at"], zone)


@pytest.mark.parametrize("zone", ZONES)
async def test_the_deadline_extension_reads_the_zone_it_names(
    api: Api, db: asyncpg.Connection, pool: Any, live_server: str, browser: Any, zone: str
) -> None:
    buyer = await api.buyer()
    auction = await published_auction(api, buyer)
    aid = auction["id"]
    assert (await bid(api, await api.verified_vendor(), aid, 300_000)).status_code == 201
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"

    wanted = _whole_seconds_from_now(40 * 86400).replace(second=0)
    page = await signed_in_page(browser, live_server, api.admin, zone=zone)
    await page.goto(f"/auctions/{aid}")
    form = page.locator("form", has=page.get_by_role("button", name="Extend the deadline"))
    await expect(form.locator("label", has_text="New deadline")).to_contain_text(named(zone))
    await page.get_by_label("New deadline").fill(_local_input(wanted, zone))
    await page.get_by_label("Reason (the buyer and the vendor see it)").fill("Holiday freeze")
    await page.get_by_role("button", name="Extend the deadline").click()
    await expect(page.get_by_text("The delivery deadline is now")).to_be_visible()
    stored = await db.fetchval(
        "SELECT delivery_due_at FROM awards WHERE auction_id = $1 ORDER BY id DESC LIMIT 1", aid
    )
    assert stored == wanted, (stored, wanted, zone)


@pytest.mark.parametrize("zone", ZONES)
async def test_the_audit_filter_reads_the_zone_it_names(
    api: Api, db: asyncpg.Connection, live_server: str, browser: Any, zone: str
) -> None:
    buyer = await api.buyer()
    r = await api.client.post("/api/auctions", json=auction_body(), headers=buyer.headers)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    at = await db.fetchval("SELECT max(occurred_at) FROM audit_log WHERE auction_id = $1", aid)
    assert at is not None
    auditor = await api.user("auditor")
    page = await signed_in_page(browser, live_server, auditor, zone=zone)
    await page.goto("/audit")
    await expect(page.locator("label[for=f-from]")).to_contain_text(named(zone))
    start = at.replace(second=0, microsecond=0)
    await page.get_by_label("Auction number").fill(str(aid))
    await page.locator("#f-from").fill(_local_input(start, zone))
    await page.locator("#f-to").fill(_local_input(start + dt.timedelta(minutes=2), zone))
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("td code", has_text="auction.created")).to_have_count(1)
    # The period as the page kept it still names the browser's zone, and still matches.
    await expect(page.locator("label[for=f-from]")).to_contain_text(named(zone))
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("td code", has_text="auction.created")).to_have_count(1)
    # An hour later in that zone: nothing.
    later = start + dt.timedelta(hours=1)
    await page.locator("#f-from").fill(_local_input(later, zone))
    await page.locator("#f-to").fill(_local_input(later + dt.timedelta(minutes=2), zone))
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No recorded events match these filters")).to_be_visible()
    assert await violations(page) == []
