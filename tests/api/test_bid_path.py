"""The one-round-trip bid path (sql/functions/place_bid.sql): caching, revocation, exact JSON."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import asyncpg
import msgspec
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.auctions import lifecycle
from marketplace.events import decode_event, encode_event
from marketplace.settings import Settings
from tests.helpers import CLOSE_SETTINGS, Api, bid, end_auction_now, published_auction


async def test_revocation_and_standing_changes_reach_every_app_at_once(
    api: Api, settings: Settings, db: asyncpg.Connection
) -> None:
    """Two app instances stand for two API processes: B caches the vendor's token on its
    bid route; what A changes must still be refused by B on the very next request."""
    assert settings.database_url and settings.redis_url
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    aid = (await published_auction(api, buyer, price_cap_cents=100_000))["id"]
    r = await api.client.post(f"/api/users/{vendor.id}/tokens", headers=vendor.headers)
    second = r.json()
    second_headers = {"Authorization": f"Bearer {second['token']}"}
    other = create_app(settings, settings.database_url, settings.redis_url)
    async with AsyncTestClient(app=other) as b:

        async def bid_on_b(amount: int, headers: dict[str, str]) -> Any:
            return await b.post(
                f"/api/auctions/{aid}/bids", json={"amount_cents": amount}, headers=headers
            )

        assert (await bid_on_b(100_000, second_headers)).status_code == 201
        revoked = await api.client.delete(f"/api/tokens/{second['id']}", headers=vendor.headers)
        assert revoked.status_code == 204
        r = await bid_on_b(90_000, second_headers)
        assert r.status_code == 401 and r.json()["code"] == "invalid_token", r.text

        rival = await api.verified_vendor()
        assert (await bid_on_b(99_000, rival.headers)).status_code == 201
        # However the standing changes (an admin's decision, a registry check), B sees it.
        await db.execute(
            "UPDATE users SET verification_status = 'rejected' WHERE id = $1", rival.id
        )
        r = await bid_on_b(90_000, vendor.headers)
        assert r.status_code == 201, r.text
        r = await bid_on_b(80_000, rival.headers)
        assert r.status_code == 403 and r.json()["code"] == "vendor_not_verified", r.text


async def test_events_and_audit_rows_are_what_msgspec_writes(
    api: Api, db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    a, b = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, price_cap_cents=100_000))["id"]
    assert (await bid(api, a, aid, 100_000)).status_code == 201
    assert (await bid(api, b, aid, 100_000)).status_code == 422
    # Inside the soft-close window: the bid extends the auction.
    await db.execute(
        "UPDATE auctions SET ends_at = now() + interval '30 seconds' WHERE id = $1", aid
    )
    r = await bid(api, b, aid, 90_000)
    assert r.status_code == 201 and r.json()["bidder_alias"] == "Bidder 2"
    payloads = await db.fetch(
        "SELECT type, payload FROM outbox WHERE auction_id = $1 AND type <> 'auction.created'"
        " ORDER BY id",
        aid,
    )
    types = [p["type"] for p in payloads]
    assert types[-3:] == ["bid.placed", "bid.placed", "auction.extended"], types
    for p in payloads[-3:]:
        assert encode_event(decode_event(p["payload"])) == p["payload"]
    rows = await db.fetch("SELECT data FROM audit_log WHERE auction_id = $1 ORDER BY seq", aid)
    sorted_json = msgspec.json.Encoder(order="sorted")
    actions = []
    for row in rows:
        data = msgspec.json.decode(row["data"])
        assert sorted_json.encode(data).decode() == row["data"]
        actions.append(data["action"])
    assert actions[-3:] == ["bid.placed", "bid.refused", "bid.placed"]
    refused = msgspec.json.decode(rows[-2]["data"])
    assert refused["after"] == {
        "amount_cents": 100_000,
        "code": "amount_too_high",
        "detail": "the highest bid allowed now is 99900 cents",
    }
    await end_auction_now(db, aid)
    r = await bid(api, a, aid, 80_000)
    assert r.status_code == 409 and r.json()["code"] == "auction_closed"


async def test_a_refusal_commits_without_waiting_for_the_flush_an_accepted_bid_waits(
    api: Api, db: asyncpg.Connection
) -> None:
    """sql/0012: only a refusal's transaction (its audit row, nothing else) turns off
    synchronous_commit; an accepted bid is on disk before it is answered."""
    buyer = await api.buyer()
    a, b = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, price_cap_cents=100_000))["id"]

    async def place(vendor_id: int, amount: int) -> tuple[str, str]:
        async with db.transaction():
            row = await db.fetchrow(
                "SELECT * FROM place_bid($1, $2, $3, NULL, 'test')", aid, vendor_id, amount
            )
            return row["outcome"], await db.fetchval("SHOW synchronous_commit")

    assert await place(a.id, 100_000) == ("accepted", "on")
    assert await place(b.id, 100_000) == ("amount_too_high", "off")
    assert await place(a.id, 90_000) == ("already_low_bidder", "off")
    assert await place(b.id, 90_000) == ("accepted", "on")
    # The setting was the refusals' own: the session keeps the server's.
    assert await db.fetchval("SHOW synchronous_commit") == "on"
    refusals = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE auction_id = $1 AND data LIKE '%bid.refused%'", aid
    )
    assert refusals == 2


async def test_an_export_signs_only_rows_already_on_disk(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    """A refusal's audit row may reach the disk a moment after its answer; an export that
    includes it waits for the flush, so no row it signs can vanish in a crash."""
    buyer = await api.buyer()
    a, b = await api.verified_vendor(), await api.verified_vendor()
    auditor = await api.user("auditor")
    aid = (await published_auction(api, buyer, price_cap_cents=100_000))["id"]
    assert (await bid(api, a, aid, 100_000)).status_code == 201
    # Bid rows enter exports once their auction has closed; refusals after it still come.
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    for _ in range(5):
        assert (await bid(api, b, aid, 90_000)).status_code == 409
    written = await db.fetchval("SELECT pg_current_wal_insert_lsn()")
    params = {"format": "jsonl", "auction_id": aid}
    r = await api.client.get("/api/audit/export", params=params, headers=auditor.headers)
    assert r.status_code == 200, r.text
    assert await db.fetchval("SELECT pg_current_wal_flush_lsn() >= $1", written)
    lines = [msgspec.json.decode(line) for line in r.text.splitlines()]
    rows, manifest = lines[:-1], lines[-1]["manifest"]
    assert sum('"bid.refused"' in row["data"] for row in rows) == 5
    r = await api.client.get("/api/audit/manifest", params=params, headers=auditor.headers)
    assert r.status_code == 200, r.text
    assert r.json()["manifest"]["rows"] == manifest["rows"] == len(rows)


async def test_bids_run_on_their_own_bounded_pool(
    api: Api, settings: Settings, db: asyncpg.Connection
) -> None:
    """Bids, token lookups included, use the app's bid pool: with every general connection
    held (an audit export, slow pages), a vendor's first bid is still answered, and however
    many bids arrive at once, at most MARKETPLACE_BID_POOL_SIZE sessions serve them."""
    buyer = await api.buyer()
    vendors = [await api.verified_vendor() for _ in range(6)]
    aid = (await published_auction(api, buyer, price_cap_cents=100_000))["id"]
    # The app runs on the test client's event loop, in its portal thread, and a request
    # blocks this thread until answered: the general connections are held by a task on
    # the app's loop, for 20 s at most or until the bid has been answered.
    portal, general = api.client.blocking_portal, api.client.app.state.pool
    holding, answered = threading.Event(), threading.Event()

    async def hold_every_general_connection() -> float:
        conns = [await general.acquire() for _ in range(general.get_max_size())]
        holding.set()
        try:
            await asyncio.to_thread(answered.wait, 20)
        finally:
            for conn in conns:
                await general.release(conn)
        return time.monotonic()

    released = portal.start_task_soon(hold_every_general_connection)
    assert await asyncio.to_thread(holding.wait, 20)
    r = await bid(api, vendors[0], aid, 100_000)
    at = time.monotonic()
    answered.set()
    assert at < await asyncio.wrap_future(released), "the bid waited for a general connection"
    assert r.status_code == 201, r.text

    answers = await asyncio.gather(
        *(bid(api, vendors[i % 6], aid, 99_000 - i * 10) for i in range(36))
    )
    assert {r.status_code for r in answers} <= {201, 409, 422}
    assert any(r.status_code == 201 for r in answers)
    sessions = await db.fetchval(
        """SELECT count(*) FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = 'marketplace-bids'"""
    )
    assert 1 <= sessions <= settings.bid_pool_size == 4, sessions
