"""Bidding as vendors see it, through the HTTP API (DESIGN §4)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from marketplace.auctions import lifecycle
from tests.helpers import CLOSE_SETTINGS, Api, bid, end_auction_now, published_auction


async def test_reverse_auction_rules_from_the_issue(api: Api, db: asyncpg.Connection) -> None:
    buyer = await api.buyer()
    a, b = await api.verified_vendor(), await api.verified_vendor()
    auction = await published_auction(api, buyer, price_cap_cents=350_000)
    assert auction["status"] == "open"
    aid = auction["id"]

    r = await bid(api, a, aid, 350_000)
    assert r.status_code == 201, r.text
    assert r.json()["amount_cents"] == 350_000 and r.json()["bidder_alias"] == "Bidder 1"

    r = await bid(api, b, aid, 350_000)
    assert r.status_code == 422
    assert r.json()["code"] == "amount_too_high" and r.json()["max_allowed_cents"] == 349_900

    r = await bid(api, a, aid, 300_000)
    assert r.status_code == 409 and r.json()["code"] == "already_low_bidder"

    for bad in (0, -1, 12.5, 12.0, "1,000", None, "350000", 2**70):
        r = await bid(api, b, aid, bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["field"] == "amount_cents", r.json()

    assert (await bid(api, b, aid, 349_900)).status_code == 201
    # Nothing refused was stored.
    assert await db.fetchval("SELECT count(*) FROM bids WHERE auction_id = $1", aid) == 2

    await end_auction_now(db, aid, 1)
    r = await bid(api, a, aid, 300_000)
    assert r.status_code == 409 and r.json()["code"] == "auction_closed"
    assert await lifecycle.close_auction(_pool(db), aid, CLOSE_SETTINGS) == "awarded"
    r = await bid(api, a, aid, 300_000)
    assert r.status_code == 409 and r.json()["code"] == "auction_not_open"

    detail = (await api.client.get(f"/api/auctions/{aid}")).json()
    assert detail["status"] == "awarded"
    assert detail["award"]["winner_id"] == b.id and detail["award"]["amount_cents"] == 349_900
    award = await db.fetchrow("SELECT * FROM awards WHERE auction_id = $1", aid)
    assert award["runner_up_ids"] == [a.id]


class _Pool:
    """A one-connection stand-in for a pool, so services run on the test's connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    def acquire(self) -> Any:
        conn = self.conn

        class _Ctx:
            async def __aenter__(self) -> asyncpg.Connection:
                return conn

            async def __aexit__(self, *exc: object) -> None:
                return None

        return _Ctx()


def _pool(conn: asyncpg.Connection) -> Any:
    return _Pool(conn)


async def test_identities_are_veiled_until_close(api: Api, db: asyncpg.Connection) -> None:
    buyer = await api.buyer()
    a, b = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    await bid(api, a, aid, 100_000)
    await bid(api, b, aid, 90_000)
    await bid(api, a, aid, 80_000)

    public = (await api.client.get(f"/api/auctions/{aid}/bids")).json()["items"]
    assert [x["amount_cents"] for x in public] == [100_000, 90_000, 80_000]
    assert [x["bidder_alias"] for x in public] == ["Bidder 1", "Bidder 2", "Bidder 1"]
    assert all(x["bidder_id"] is None for x in public)
    for viewer in (buyer, api.admin, b):
        items = (await api.client.get(f"/api/auctions/{aid}/bids", headers=viewer.headers)).json()
        mine = [x for x in items["items"] if x["bidder_id"] is not None]
        assert all(x["mine"] for x in mine)
        assert len(mine) == (1 if viewer is b else 0)

    detail = (await api.client.get(f"/api/auctions/{aid}", headers=a.headers)).json()
    assert detail["low_bid_cents"] == 80_000 and detail["bid_count"] == 3
    assert detail["position"]["is_low_bidder"] is True
    assert detail["position"]["message"] == "you are the low bidder"
    detail = (await api.client.get(f"/api/auctions/{aid}", headers=b.headers)).json()
    assert detail["position"]["can_bid"] is True
    assert detail["position"]["max_allowed_cents"] == 79_900

    await end_auction_now(db, aid)
    await lifecycle.close_auction(_pool(db), aid, CLOSE_SETTINGS)
    public = (await api.client.get(f"/api/auctions/{aid}/bids")).json()["items"]
    assert [x["bidder_id"] for x in public] == [a.id, b.id, a.id]


async def test_sealed_bids_reveal_nothing_until_close(api: Api, db: asyncpg.Connection) -> None:
    buyer = await api.buyer()
    a = await api.verified_vendor()
    b = await api.verified_vendor()
    c = await api.verified_vendor()
    aid = (await published_auction(api, buyer, type="sealed", price_cap_cents=200_000))["id"]

    assert (await bid(api, a, aid, 150_000)).status_code == 201
    r = await bid(api, a, aid, 140_000)
    assert r.status_code == 409 and r.json()["code"] == "already_bid"
    r = await bid(api, b, aid, 200_001)
    assert r.status_code == 422 and r.json()["max_allowed_cents"] == 200_000
    assert (await bid(api, b, aid, 120_000)).status_code == 201
    # The cap, not the current low, bounds a sealed bid: c may bid above b.
    assert (await bid(api, c, aid, 180_000)).status_code == 201

    for viewer in (None, buyer, api.admin, c):
        headers = viewer.headers if viewer else {}
        detail = (await api.client.get(f"/api/auctions/{aid}", headers=headers)).json()
        assert detail["low_bid_cents"] is None and detail["bid_count"] is None
        items = (await api.client.get(f"/api/auctions/{aid}/bids", headers=headers)).json()["items"]
        if viewer is c:
            assert [x["amount_cents"] for x in items] == [180_000]
        else:
            assert items == []
    listing = (await api.client.get("/api/auctions")).json()["items"]
    assert [x["bid_count"] for x in listing if x["id"] == aid] == [None]

    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(_pool(db), aid, CLOSE_SETTINGS) == "awarded"
    items = (await api.client.get(f"/api/auctions/{aid}/bids")).json()["items"]
    assert sorted(x["amount_cents"] for x in items) == [120_000, 150_000, 180_000]
    assert all(x["bidder_id"] is not None for x in items)
    detail = (await api.client.get(f"/api/auctions/{aid}")).json()
    assert detail["award"]["winner_id"] == b.id and detail["bid_count"] == 3
    types = [
        r["type"]
        for r in await db.fetch("SELECT type FROM outbox WHERE auction_id = $1 ORDER BY id", aid)
    ]
    assert "bid.placed" not in types and "bids.revealed" in types


async def test_who_may_bid(api: Api) -> None:
    dept = await api.department()
    buyer = await api.buyer(dept)
    aid = (await published_auction(api, buyer))["id"]
    unverified = await api.user("vendor")
    r = await bid(api, unverified, aid, 1000)
    assert r.status_code == 403 and r.json()["code"] == "vendor_not_verified"
    r = await bid(api, buyer, aid, 1000)
    assert r.status_code == 403 and r.json()["code"] == "role_required"
    # A vendor who is also a buyer in the same department has a conflict of interest.
    insider = await api.user("buyer", "vendor", department_id=dept)
    await api.client.post(
        f"/api/vendors/{insider.id}/verification",
        json={"status": "verified", "reason": "ok"},
        headers=api.admin.headers,
    )
    r = await bid(api, insider, aid, 1000)
    assert r.status_code == 403 and r.json()["code"] == "conflict_of_interest"
    r = await api.client.post(f"/api/auctions/{aid}/bids", json={"amount_cents": 1000})
    assert r.status_code == 401
    vendor = await api.verified_vendor()
    r = await bid(api, vendor, 999_999, 1000)
    assert r.status_code == 404


async def test_idempotency_key(api: Api, db: asyncpg.Connection) -> None:
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    first = await bid(api, vendor, aid, 300_000, **{"Idempotency-Key": "k-1"})
    again = await bid(api, vendor, aid, 300_000, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert await db.fetchval("SELECT count(*) FROM bids WHERE auction_id = $1", aid) == 1
    r = await bid(api, vendor, aid, 290_000, **{"Idempotency-Key": "k-1"})
    assert r.status_code == 409 and r.json()["code"] == "idempotency_key_reused"
    # Parallel retries of one key: one bid.
    other = await api.verified_vendor()
    answers = await asyncio.gather(
        *(bid(api, other, aid, 250_000, **{"Idempotency-Key": "k-2"}) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert await db.fetchval("SELECT count(*) FROM bids WHERE auction_id = $1", aid) == 2


async def test_soft_close_extends_and_closes_at_new_end(api: Api, db: asyncpg.Connection) -> None:
    buyer = await api.buyer()
    a, b = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, soft_close_seconds=60, max_extensions=1))["id"]
    await db.execute(
        "UPDATE auctions SET ends_at = now() + interval '5 seconds' WHERE id = $1", aid
    )
    before = await db.fetchval("SELECT ends_at FROM auctions WHERE id = $1", aid)
    assert (await bid(api, a, aid, 300_000)).status_code == 201
    row = await db.fetchrow("SELECT ends_at, extensions, status FROM auctions WHERE id = $1", aid)
    assert row["extensions"] == 1 and row["ends_at"] > before
    assert (row["ends_at"] - before).total_seconds() > 40
    # The second bid in the window finds the extensions used up.
    assert (await bid(api, b, aid, 290_000)).status_code == 201
    assert await db.fetchval("SELECT extensions FROM auctions WHERE id = $1", aid) == 1
    # Just after the old end it is still open, and the close job refuses to close it.
    await db.execute("SELECT pg_sleep(5)")
    assert await lifecycle.close_auction(_pool(db), aid, CLOSE_SETTINGS) is None
    assert await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid) == "open"
    types = [
        r["type"] for r in await db.fetch("SELECT type FROM outbox WHERE auction_id = $1", aid)
    ]
    assert types.count("auction.extended") == 1


async def test_cancel_voids_bids(api: Api, db: asyncpg.Connection) -> None:
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    await bid(api, vendor, aid, 300_000)
    r = await api.client.post(
        f"/api/auctions/{aid}/cancel", json={"reason": "scope changed"}, headers=buyer.headers
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert await db.fetchval("SELECT status FROM bids WHERE auction_id = $1", aid) == "voided"
    assert (await bid(api, vendor, aid, 200_000)).status_code == 409
    r = await api.client.post(
        f"/api/auctions/{aid}/cancel", json={"reason": "again"}, headers=buyer.headers
    )
    assert r.status_code == 409


async def test_my_bids(api: Api) -> None:
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    await bid(api, vendor, aid, 300_000)
    mine = (await api.client.get("/api/me/bids", headers=vendor.headers)).json()["items"]
    assert [(m["auction_id"], m["amount_cents"], m["is_low_bid"]) for m in mine] == [
        (aid, 300_000, True)
    ]
