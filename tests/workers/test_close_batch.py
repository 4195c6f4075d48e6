"""Closing many auctions that end together, in batches (DESIGN §4, on-time close)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import asyncpg
import msgspec

from marketplace.auctions import lifecycle
from tests.helpers import CLOSE_SETTINGS, Api, bid, end_auction_now, published_auction


async def test_batch_close_awards_each_auction_as_one_by_one_would(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    buyer = await api.buyer()
    a, b = await api.verified_vendor(), await api.verified_vendor()
    reverse = [(await published_auction(api, buyer))["id"] for _ in range(3)]
    sealed = (await published_auction(api, buyer, type="sealed"))["id"]
    empty = (await published_auction(api, buyer))["id"]
    for n, aid in enumerate(reverse):
        assert (await bid(api, a, aid, 300_000 - n)).status_code == 201
        assert (await bid(api, b, aid, 290_000 - n)).status_code == 201
    assert (await bid(api, a, sealed, 250_000)).status_code == 201
    assert (await bid(api, b, sealed, 260_000)).status_code == 201
    ids = [*reverse, sealed, empty]
    for aid in ids:
        await end_auction_now(db, aid)

    # Two closers at once, in batches of two: each due auction is closed exactly once.
    counts = await asyncio.gather(
        lifecycle.close_due(pool, CLOSE_SETTINGS, batch=2),
        lifecycle.close_due(pool, CLOSE_SETTINGS, batch=2),
    )
    assert sum(counts) == len(ids)
    assert await lifecycle.close_due(pool, CLOSE_SETTINGS) == 0

    rows = {
        r["id"]: r
        for r in await db.fetch(
            """SELECT a.id, a.status, w.winner_id, w.amount_cents, w.runner_up_ids
               FROM auctions a LEFT JOIN awards w ON w.auction_id = a.id
               WHERE a.id = ANY($1)""",
            ids,
        )
    }
    for n, aid in enumerate(reverse):
        assert rows[aid]["status"] == "awarded"
        assert (rows[aid]["winner_id"], rows[aid]["amount_cents"]) == (b.id, 290_000 - n)
        assert rows[aid]["runner_up_ids"] == [a.id]
    assert (rows[sealed]["winner_id"], rows[sealed]["amount_cents"]) == (a.id, 250_000)
    assert rows[empty]["status"] == "closed_no_bids" and rows[empty]["winner_id"] is None

    # Per auction, the events and the audit rows come in the order a single close writes.
    for aid in ids:
        types = [
            r["type"]
            for r in await db.fetch(
                "SELECT type FROM outbox WHERE auction_id = $1 ORDER BY id", aid
            )
        ]
        expected = {sealed: ["bids.revealed", "auction.awarded"], empty: ["auction.closed_no_bids"]}
        assert types[-len(expected.get(aid, ["auction.awarded"])) :] == expected.get(
            aid, ["auction.awarded"]
        )
        last = await db.fetchrow(
            "SELECT data FROM audit_log WHERE auction_id = $1 ORDER BY seq DESC LIMIT 1", aid
        )
        data = msgspec.json.decode(last["data"])
        assert data["before"] == {"status": "open"} and data["role"] == "system"
        assert data["action"] == ("auction.closed_no_bids" if aid == empty else "auction.awarded")
    awarded = msgspec.json.decode(
        await db.fetchval(
            """SELECT data FROM audit_log WHERE auction_id = $1 AND data::jsonb->>'action'
               = 'auction.awarded'""",
            reverse[0],
        )
    )
    assert awarded["after"]["ranking"][0][1:] == [b.id, 290_000]
    # Each auction's hash chain stays linked: seq without gaps, each row on the one before.
    for aid in ids:
        chain = await db.fetch(
            "SELECT seq, prev_hash, hash FROM audit_log WHERE chain = $1 ORDER BY seq",
            f"auction:{aid}",
        )
        assert [r["seq"] for r in chain] == list(range(1, len(chain) + 1))
        assert all(r["prev_hash"] == p["hash"] for p, r in itertools.pairwise(chain))


async def test_batch_close_skips_auctions_not_yet_due(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    due, running = [(await published_auction(api, buyer))["id"] for _ in range(2)]
    for aid in (due, running):
        assert (await bid(api, vendor, aid, 300_000)).status_code == 201
    await end_auction_now(db, due)
    assert await lifecycle.close_due(pool, CLOSE_SETTINGS) == 1
    statuses = dict(
        await db.fetch("SELECT id, status FROM auctions WHERE id = ANY($1)", [due, running])
    )
    assert statuses == {due: "awarded", running: "open"}
