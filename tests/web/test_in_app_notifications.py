"""In-app notifications (DESIGN §10): what is mailed is also shown in the app, in the same
words, from the same consumer; never earlier, never to anyone else; read when seen."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.auctions import lifecycle
from marketplace.notifications import messages
from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider
from marketplace.settings import Settings
from tests.axe import violations
from tests.browser import CHROMIUM, expect, signed_in_page
from tests.helpers import (
    CLOSE_SETTINGS,
    Api,
    User,
    bid,
    csrf_of,
    deliver_events,
    end_auction_now,
    published_auction,
    sign_in,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, public_url="http://marketplace.test")


async def notes(api: Api, user: User, **params: Any) -> list[dict[str, Any]]:
    r = await api.client.get("/api/me/notifications", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"items", "next"}
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def mails(db: asyncpg.Connection, user: User) -> list[Any]:
    rows: list[Any] = await db.fetch(
        "SELECT subject, body FROM mail_outbox WHERE recipient_id = $1 ORDER BY id DESC",
        user.id,
    )
    return rows


async def assert_worded_as_mailed(api: Api, db: asyncpg.Connection, user: User) -> None:
    """Every mail the user was sent is a notification with its subject and its words."""
    sent = await mails(db, user)
    shown = await notes(api, user, limit=200)
    assert [n["subject"] for n in shown] == [m["subject"] for m in sent]
    for note, mail in zip(shown, sent, strict=True):
        assert note["body"] and note["body"] in mail["body"], (note, mail["body"])


TOKEN_NOTICE = "An API token was issued for your account"  # Api.user() has an admin issue it


def subjects(items: list[dict[str, Any]]) -> list[str]:
    return [n["subject"] for n in items if n["subject"] != TOKEN_NOTICE]


async def test_outbid_won_lost_verified_reviewed_and_paid_reach_the_app_as_mailed(
    api: Api, db: asyncpg.Connection, pool: Any, settings: Settings
) -> None:
    buyer = await api.buyer()
    loser, winner = await api.verified_vendor(), await api.verified_vendor()
    reviewer = await api.user("reviewer")
    title = "Fix the date picker on the permits form"
    aid = (await published_auction(api, buyer, price_cap_cents=500_000))["id"]
    assert (await bid(api, loser, aid, 400_000)).status_code == 201
    assert (await bid(api, winner, aid, 390_000)).status_code == 201
    await deliver_events(pool, settings)

    # Verification result, then outbid: the amount, never who bid it.
    assert subjects(await notes(api, loser)) == [f"Outbid: {title}", "You are verified"]
    outbid = (await notes(api, loser))[0]
    assert "$3,900.00" in outbid["body"] and "Bidder" not in outbid["body"]
    assert f"http://marketplace.test/auctions/{aid}" in outbid["body"]
    assert outbid["read"] is False
    assert subjects(await notes(api, winner)) == ["You are verified"]

    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    await deliver_events(pool, settings)
    assert subjects(await notes(api, winner))[0] == f"You won: {title}"
    assert subjects(await notes(api, loser))[0] == f"Auction closed: {title}"

    award_id = await db.fetchval("SELECT id FROM awards WHERE auction_id = $1", aid)
    delivery_id = await db.fetchval(
        """INSERT INTO deliveries (auction_id, award_id, submitted_by, pull_request_url,
                                   repo_full_name, pr_number)
           VALUES ($1, $2, $3, 'https://github.com/city-of-x/permits/pull/7',
                   'city-of-x/permits', 7) RETURNING id""",
        aid,
        award_id,
        winner.id,
    )
    await db.execute(
        """INSERT INTO verifications (delivery_id, auction_id, passed, checks)
           VALUES ($1, $2, true, '[{"name": "merged", "passed": true, "evidence": {}}]')""",
        delivery_id,
        aid,
    )
    await db.execute("UPDATE auctions SET status = 'pending_review' WHERE id = $1", aid)
    await db.execute(
        "UPDATE awards SET delivered_at = now(), verified_at = now() WHERE id = $1", award_id
    )
    r = await api.client.post(
        f"/api/auctions/{aid}/review",
        json={"decision": "accept", "reason": "meets the acceptance criteria"},
        headers=reviewer.headers,
    )
    assert r.status_code == 200, r.text
    assert await payments.release(pool, r.json()["payment_id"], LedgerProvider()) == "released"
    await deliver_events(pool, settings)

    got = await notes(api, winner)
    assert subjects(got)[:2] == [f"Payment released: {title}", f"Delivery accepted: {title}"]
    assert "$3,900.00" in got[0]["body"]
    assert got[0]["body"].endswith(f"http://marketplace.test/payments/{r.json()['payment_id']}")
    assert "meets the acceptance criteria" in got[1]["body"]
    assert f"Review accept: {title}" in subjects(await notes(api, buyer))
    for user in (loser, winner, buyer):
        await assert_worded_as_mailed(api, db, user)
    # Nobody hears of what was mailed to someone else.
    assert not subjects(await notes(api, reviewer))

    # Handled again (a redelivery), nothing is doubled.
    await db.execute("DELETE FROM consumer_processed WHERE consumer = $1", messages.GROUP)
    await deliver_events(pool, settings)
    for user in (loser, winner, buyer):
        await assert_worded_as_mailed(api, db, user)


async def test_a_sealed_bid_notifies_nobody_until_close(
    api: Api, db: asyncpg.Connection, pool: Any, settings: Settings
) -> None:
    dept = await api.department()
    buyer = await api.buyer(dept)
    first, second = await api.verified_vendor(), await api.verified_vendor()
    finance = await api.user("finance", department_id=dept)
    aid = (await published_auction(api, buyer, type="sealed", price_cap_cents=500_000))["id"]
    await deliver_events(pool, settings)
    everyone = [buyer, first, second, finance, api.admin]
    before = {u.id: await notes(api, u) for u in everyone}
    assert (await bid(api, first, aid, 410_000)).status_code == 201
    assert (await bid(api, second, aid, 400_000)).status_code == 201
    await deliver_events(pool, settings)
    assert {u.id: await notes(api, u) for u in everyone} == before

    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    await deliver_events(pool, settings)
    title = "Fix the date picker on the permits form"
    assert subjects(await notes(api, second))[0] == f"You won: {title}"
    assert subjects(await notes(api, first))[0] == f"Auction closed: {title}"


async def test_marking_read_and_the_list_envelope(api: Api, pool: Any, settings: Settings) -> None:
    buyer = await api.buyer()
    vendors = [await api.verified_vendor() for _ in range(2)]
    aid = (await published_auction(api, buyer))["id"]
    for i in range(6):  # the two vendors take turns: each bid but the first outbids
        assert (await bid(api, vendors[i % 2], aid, 300_000 - 1_000 * i)).status_code == 201
    other = await api.verified_vendor()
    await deliver_events(pool, settings)
    vendor = vendors[0]
    every = await notes(api, vendor)
    assert [n["subject"].split(":")[0] for n in every] == ["Outbid"] * 3 + [
        "You are verified",
        TOKEN_NOTICE,
    ]
    assert [n["id"] for n in every] == sorted((n["id"] for n in every), reverse=True)

    # Pages of 2 follow the cursor without repeats; `unread=true` filters.
    page = (await api.client.get("/api/me/notifications?limit=2", headers=vendor.headers)).json()
    rest = await notes(api, vendor, cursor=page["next"], limit=10)
    assert [n["id"] for n in page["items"] + rest] == [n["id"] for n in every]

    middle = every[1]["id"]
    r = await api.client.post(
        "/api/me/notifications/read", json={"up_to_id": middle}, headers=vendor.headers
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"marked": 4, "unread": 1}
    assert [n["read"] for n in await notes(api, vendor)] == [False, True, True, True, True]
    assert [n["id"] for n in await notes(api, vendor, unread="true")] == [every[0]["id"]]
    # Another user's ids mark nothing of theirs, and nothing of the vendor's.
    r = await api.client.post(
        "/api/me/notifications/read", json={"up_to_id": 2**62}, headers=other.headers
    )
    assert r.json() == {"marked": 2, "unread": 0}  # only their own two
    assert (await notes(api, vendor))[0]["read"] is False

    for body in ({}, {"up_to_id": 0}, {"up_to_id": "1"}, {"up_to_id": 1, "x": 1}):
        r = await api.client.post("/api/me/notifications/read", json=body, headers=vendor.headers)
        assert r.status_code == 400, (body, r.text)
    r = await api.client.get("/api/me/notifications?cursor=nonsense", headers=vendor.headers)
    assert r.status_code == 400
    assert (await api.client.get("/api/me/notifications")).status_code == 401


async def test_the_page_shows_the_words_marks_them_read_and_the_header_counts(
    api: Api, pool: Any, settings: Settings, client: AsyncTestClient[Any]
) -> None:
    buyer = await api.buyer()
    loser, winner = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    assert (await bid(api, loser, aid, 300_000)).status_code == 201
    assert (await bid(api, winner, aid, 290_000)).status_code == 201
    await deliver_events(pool, settings)
    await sign_in(client, loser)

    home = await client.get("/")
    assert 'href="/me/notifications"' in home.text
    assert '3<span class="visually-hidden"> unread</span>' in home.text
    page = await client.get("/me/notifications")
    assert page.status_code == 200
    assert page.text.count('class="badge new"') == 3
    assert "You have been outbid on" in page.text and "$2,900.00" in page.text
    # The mailed address of this service becomes a link here.
    assert f'<a href="/auctions/{aid}">http://marketplace.test/auctions/{aid}</a>' in page.text
    assert 'visually-hidden"> unread' not in page.text  # seen: the header's count is gone
    again = await client.get("/me/notifications")
    assert 'class="badge new"' not in again.text
    assert all(n["read"] for n in await notes(api, loser))
    # Its CSRF-carrying layout is the usual one (sign-out still works from it).
    assert csrf_of(again.text)
    client.cookies.clear()
    r = await client.get("/me/notifications", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need /usr/bin/chromium")
async def test_in_chromium_the_count_leads_to_the_messages_and_goes_when_seen(
    api: Api,
    db: asyncpg.Connection,
    pool: Any,
    settings: Settings,
    live_server: str,
    browser: Any,
    tmp_path: Path,
) -> None:
    shots = Path(os.environ.get("MARKETPLACE_SHOTS_DIR") or tmp_path)
    buyer = await api.buyer()
    loser, winner = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, title="Repair the permit map"))["id"]
    assert (await bid(api, loser, aid, 300_000)).status_code == 201
    assert (await bid(api, winner, aid, 290_000)).status_code == 201
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    await deliver_events(pool, settings)

    for width in (1024, 375):
        await db.execute("UPDATE notifications SET read_at = NULL WHERE user_id = $1", loser.id)
        page = await signed_in_page(browser, live_server, loser, width=width)
        await page.goto("/")
        link = page.get_by_role("link", name="Notifications 4 unread")
        await expect(link).to_be_visible()
        assert await violations(page) == []
        await page.locator("header.site").screenshot(path=str(shots / f"count-{width}.png"))
        await link.click()
        await expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
        await expect(page.locator(".badge.new")).to_have_count(4)
        await expect(
            page.get_by_role("heading", name="New Outbid: Repair the permit map")
        ).to_be_visible()
        await expect(page.get_by_text("the lowest bid is now $2,900.00")).to_be_visible()
        await expect(page.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
        assert await violations(page) == []
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await page.screenshot(path=str(shots / f"notifications-{width}.png"), full_page=True)
        await page.get_by_role("link", name=f"http://marketplace.test/auctions/{aid}").first.click()
        await expect(page).to_have_url(re.compile(rf"/auctions/{aid}$"))
        await page.goto("/me/notifications")
        await expect(page.locator(".badge.new")).to_have_count(0)
        await page.context.close()
