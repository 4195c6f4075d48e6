"""Auctions as buyers and the public see them (DESIGN §3, §10)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from marketplace.settings import Settings
from tests.helpers import Api, auction_body, bid, iso_in, published_auction
from workers.main import build_worker


async def test_buyer_creates_edits_publishes_and_public_sees_it(api: Api) -> None:
    c = api.client
    dept = await api.department("Permits Office")
    buyer = await api.buyer(dept)
    r = await c.post(
        "/api/auctions",
        json=auction_body(starts_at=iso_in(600), ends_at=iso_in(4200)),
        headers=buyer.headers,
    )
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["status"] == "draft" and draft["department_name"] == "Permits Office"
    aid = draft["id"]

    # Drafts are visible only to their department.
    assert (await c.get(f"/api/auctions/{aid}")).status_code == 404
    other_buyer = await api.buyer()
    assert (await c.get(f"/api/auctions/{aid}", headers=other_buyer.headers)).status_code == 404
    assert (await c.get(f"/api/auctions/{aid}", headers=buyer.headers)).status_code == 200
    assert all(a["id"] != aid for a in (await c.get("/api/auctions")).json()["items"])

    r = await c.patch(
        f"/api/auctions/{aid}", json={"title": "Fix Safari date picker"}, headers=buyer.headers
    )
    assert r.status_code == 200 and r.json()["title"] == "Fix Safari date picker"
    r = await c.patch(f"/api/auctions/{aid}", json={"title": "x"}, headers=other_buyer.headers)
    assert r.status_code == 404

    r = await c.post(f"/api/auctions/{aid}/publish", headers=buyer.headers)
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    r = await c.patch(f"/api/auctions/{aid}", json={"title": "late"}, headers=buyer.headers)
    assert r.status_code == 409 and r.json()["code"] == "not_a_draft"
    detail = (await c.get(f"/api/auctions/{aid}")).json()
    assert detail["status"] == "scheduled"
    assert detail["starts_at"].endswith(("Z", "+00:00"))


async def test_create_refuses_bad_tasks(api: Api, settings: Settings) -> None:
    c = api.client
    buyer = await api.buyer()

    async def create(**overrides: Any) -> Any:
        return await c.post("/api/auctions", json=auction_body(**overrides), headers=buyer.headers)

    r = await create(price_cap_cents=settings.threshold_cents + 1)
    assert r.status_code == 422 and r.json()["code"] == "cap_above_threshold"
    r = await create(ends_at=iso_in(-10))
    assert r.status_code == 422 and r.json()["code"] == "ends_before_start"
    r = await create(starts_at="2026-12-01T10:00:00")  # no zone
    assert r.status_code == 400 and r.json()["field"] == "starts_at"
    r = await create(repo="not a repo")
    assert r.status_code == 400 and r.json()["field"] == "repo"
    r = await create(delivery_due_at=iso_in(7200))  # both ways of giving the deadline
    assert r.status_code == 422 and r.json()["code"] == "delivery_due_required"
    r = await create(delivery_business_days=None, delivery_due_at=iso_in(60))
    assert r.status_code == 422 and r.json()["code"] == "delivery_before_close"
    r = await create(type="dutch")
    assert r.status_code == 400
    r = await create(price_cap_cents=1000.0)
    assert r.status_code == 400 and r.json()["field"] == "price_cap_cents"
    r = await create(surprise=True)
    assert r.status_code == 400 and r.json()["code"] == "unknown_field"
    vendor = await api.verified_vendor()
    r = await c.post("/api/auctions", json=auction_body(), headers=vendor.headers)
    assert r.status_code == 403
    assert (await c.get("/api/auctions")).json()["items"] == []


async def test_window_must_be_long_enough(api: Api, settings: Settings, client: Any) -> None:
    buyer = await api.buyer()
    # The test settings allow 1 s; a 0.5 s window is refused.
    r = await api.client.post(
        "/api/auctions",
        json=auction_body(starts_at=iso_in(100), ends_at=iso_in(100.5)),
        headers=buyer.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "window_too_short"


async def test_publish_rules(api: Api, db: asyncpg.Connection) -> None:
    c = api.client
    buyer = await api.buyer()
    r = await c.post("/api/auctions", json=auction_body(description=""), headers=buyer.headers)
    aid = r.json()["id"]
    r = await c.post(f"/api/auctions/{aid}/publish", headers=buyer.headers)
    assert r.status_code == 422 and r.json()["code"] == "description_required"
    await c.patch(f"/api/auctions/{aid}", json={"description": "Do it."}, headers=buyer.headers)
    await db.execute(
        "UPDATE auctions SET starts_at = now() - interval '1 hour', ends_at = now() + interval '1 hour' WHERE id = $1",
        aid,
    )
    r = await c.post(f"/api/auctions/{aid}/publish", headers=buyer.headers)
    assert r.status_code == 422 and r.json()["code"] == "starts_in_past"
    # The cap is checked again at publish (the threshold may have been lowered).
    await db.execute(
        "UPDATE auctions SET starts_at = now(), price_cap_cents = 99999999 WHERE id = $1", aid
    )
    r = await c.post(f"/api/auctions/{aid}/publish", headers=buyer.headers)
    assert r.status_code == 422 and r.json()["code"] == "cap_above_threshold"
    await db.execute("UPDATE auctions SET price_cap_cents = 5000 WHERE id = $1", aid)
    r = await c.post(f"/api/auctions/{aid}/publish", headers=buyer.headers)
    assert r.status_code == 200 and r.json()["status"] == "open"
    r = await c.post(f"/api/auctions/{aid}/publish", headers=buyer.headers)
    assert r.status_code == 409


async def test_listing_filters_sorting_and_pages(api: Api) -> None:
    c = api.client
    d1, d2 = await api.department(), await api.department()
    b1, b2 = await api.buyer(d1), await api.buyer(d2)
    made = []
    for i in range(7):
        buyer = b1 if i % 2 else b2
        a = await published_auction(
            api,
            buyer,
            title=f"Task {i} {'accessibility' if i == 3 else 'api'}",
            price_cap_cents=10_000 + i * 1000,
            ends_at=iso_in(3600 + i * 60),
            skills=["rust"] if i == 5 else ["python"],
        )
        made.append(a["id"])
    ids = []
    cursor = None
    while True:
        url = "/api/auctions?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await c.get(url)).json()
        ids += [a["id"] for a in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert ids == made  # ending soonest first
    newest = (await c.get("/api/auctions?sort=newest&limit=100")).json()["items"]
    assert [a["id"] for a in newest] == made[::-1]
    cap = (await c.get("/api/auctions?sort=cap_high&limit=2")).json()
    second = (await c.get(f"/api/auctions?sort=cap_high&limit=5&cursor={cap['next']}")).json()
    assert [a["id"] for a in cap["items"] + second["items"]] == made[::-1]
    r = await c.get(f"/api/auctions?sort=newest&cursor={cap['next']}")
    assert r.status_code == 400
    assert [
        a["id"] for a in (await c.get(f"/api/auctions?department_id={d1}")).json()["items"]
    ] == made[1::2]
    assert [a["id"] for a in (await c.get("/api/auctions?skill=RUST")).json()["items"]] == [made[5]]
    assert [a["id"] for a in (await c.get("/api/auctions?q=accessib")).json()["items"]] == [made[3]]
    assert (await c.get("/api/auctions?q=%25")).json()["items"] == []


async def test_ending_soon_lists_open_auctions_before_ended_ones(
    api: Api, db: asyncpg.Connection
) -> None:
    """Open (soonest end first), then scheduled, then ended (most recently ended first),
    across pages; a forged cursor is a 400, not a 500."""
    c = api.client
    buyer = await api.buyer()

    async def make(title: str, **times: Any) -> int:
        return int((await published_auction(api, buyer, title=title, **times))["id"])

    ended_long_ago = await make("Ended long ago", ends_at=iso_in(60))
    later = await make("Open, closes later", ends_at=iso_in(7200))
    ended_recently = await make("Ended recently", ends_at=iso_in(60))
    upcoming = await make("Scheduled", starts_at=iso_in(3600), ends_at=iso_in(5400))
    sooner = await make("Open, closes sooner", ends_at=iso_in(3600))
    for aid, hours_ago in ((ended_long_ago, 48), (ended_recently, 1)):
        await db.execute(
            """UPDATE auctions SET status = 'closed_no_bids', closed_at = now(),
                      starts_at = now() - interval '1 day' * 3,
                      ends_at = now() - $2 * interval '1 hour'
               WHERE id = $1""",
            aid,
            hours_ago,
        )
    ids, cursor = [], None
    while True:
        url = "/api/auctions?sort=ending_soon&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await c.get(url)).json()
        ids += [a["id"] for a in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert ids == [sooner, later, upcoming, ended_recently, ended_long_ago]
    assert [a["id"] for a in (await c.get("/api/auctions")).json()["items"]] == ids  # default

    from marketplace.structs import encode_cursor

    for forged in (
        encode_cursor("ending_soon", "2026-01-01T00:00:00+00:00", 1),  # the old shape
        encode_cursor("ending_soon", [0, "not a time"], 1),
        encode_cursor("ending_soon", [0, "2026-01-01T00:00:00+00:00"], "x"),
    ):
        r = await c.get(f"/api/auctions?cursor={forged}")
        assert r.status_code == 400 and r.json()["code"] == "invalid_cursor", r.text
    assert (await c.get("/api/auctions?status=open")).json()["items"][0]["status"] == "open"
    assert (await c.get("/api/auctions?status=bogus")).status_code == 400


async def test_auctions_open_and_close_on_time_with_no_traffic(
    api: Api, settings: Settings, db: asyncpg.Connection
) -> None:
    worker = build_worker(
        settings, settings.database_url or "", settings.redis_url or "", handle_signals=False
    )
    task = asyncio.create_task(worker.async_run())
    try:
        buyer = await api.buyer()
        vendor = await api.verified_vendor()
        with_bid = await published_auction(
            api, buyer, starts_at=iso_in(1), ends_at=iso_in(3), soft_close_seconds=0
        )
        without = await published_auction(api, buyer, starts_at=iso_in(0), ends_at=iso_in(2))
        assert with_bid["status"] == "scheduled"
        assert await _wait_for(db, with_bid["id"], "open")
        assert (await bid(api, vendor, with_bid["id"], 200_000)).status_code == 201
        assert await _wait_for(db, with_bid["id"], "awarded")
        assert await _wait_for(db, without["id"], "closed_no_bids")
        row = await db.fetchrow(
            "SELECT closed_at - ends_at AS late FROM auctions WHERE id = $1", with_bid["id"]
        )
        assert row["late"].total_seconds() >= 0  # never before the end
    finally:
        await worker.close()
        task.cancel()


async def _wait_for(
    db: asyncpg.Connection, auction_id: int, status: str, within: float = 20
) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await db.fetchval("SELECT status FROM auctions WHERE id = $1", auction_id) == status:
            return True
        await asyncio.sleep(0.1)
    return False
