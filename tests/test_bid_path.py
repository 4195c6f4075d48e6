"""The one-round-trip bid path (sql/0008_perf.sql): caching, revocation, exact JSON."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.events import decode_event, encode_event
from marketplace.settings import Settings
from tests.helpers import Api, bid, end_auction_now, published_auction


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
