"""A refused bid is told the reason that held for the row version that refused it (issue 29).

Each test forces one interleaving that the race model (tests/faults/test_race_model.py) can only
meet by chance: a vendor's bid is stopped inside ``place_bid()`` right after its guarded
UPDATE refused it, a rival's transaction changes the auction, and then the vendor's bid
goes on to explain itself. The stop is injected into this test's own copy of the function
(an advisory lock the test holds, waited on only by the paused vendor), so nothing in the
product waits for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers import Api, User, bid, iso_in, published_auction

# Each of these failed on place_bid() of sql/0012 with 409 already_low_bidder.
PAUSE_KEY = 29_029
# Where the pause goes: after the line that begins the handling of a refused guard.
ANCHORS = ("-- The guard refused.", "IF v_code IS NULL AND NOT v_taken THEN")
PLACE_BID = "place_bid(bigint,bigint,bigint,bigint,text)"


async def _pause_after_guard(db: asyncpg.Connection, bidder_id: int) -> None:
    """Make ``bidder_id``'s bids wait on PAUSE_KEY once their guard has refused them."""
    source: str = await db.fetchval("SELECT pg_get_functiondef($1::regprocedure)", PLACE_BID)
    anchor = next((a for a in ANCHORS if a in source), None)
    assert anchor is not None and source.count(anchor) == 1, "no pause point in place_bid()"
    pause = (
        f"\nIF p_bidder_id = {bidder_id} THEN PERFORM pg_advisory_lock_shared({PAUSE_KEY});"
        f" PERFORM pg_advisory_unlock_shared({PAUSE_KEY}); END IF;\n"
    )
    at = source.index("\n", source.index(anchor))  # after the anchor's line
    await db.execute(source[:at] + pause + source[at:])


@pytest.fixture
async def gate(db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """The connection holding PAUSE_KEY: paused bids go on when it lets go."""
    await db.execute("SELECT pg_advisory_lock($1)", PAUSE_KEY)
    yield db
    await db.execute("SELECT pg_advisory_unlock_all()")


async def _wait_until_paused(db: asyncpg.Connection, task: asyncio.Task[Any]) -> None:
    for _ in range(500):
        if task.done():
            raise AssertionError(f"answered without pausing: {task.result().text}")
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1"
            " AND NOT granted",
            PAUSE_KEY,
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the bid never reached the pause point")


async def _rival_bid(conn: asyncpg.Connection, auction_id: int, rival: User, amount: int) -> Any:
    """A bid of the rival in the transaction already open on ``conn``, then its commit."""
    row = await conn.fetchrow(
        "SELECT * FROM place_bid($1, $2, $3, NULL, 'rival')", auction_id, rival.id, amount
    )
    await conn.execute("COMMIT")
    return row


def _bid_over_http(server: str, vendor: User, auction_id: int, amount: int) -> asyncio.Task[Any]:
    """The vendor's bid through a real HTTP server (the in-process test client would block
    this event loop while the bid waits at the pause)."""

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(base_url=server, timeout=20) as http:
            return await http.post(
                f"/api/auctions/{auction_id}/bids",
                json={"amount_cents": amount},
                headers=vendor.headers,
            )

    return asyncio.create_task(send())


async def _stored_bids(db: asyncpg.Connection, auction_id: int) -> list[tuple[int, int]]:
    rows = await db.fetch(
        "SELECT bidder_id, amount_cents FROM bids WHERE auction_id = $1 ORDER BY id", auction_id
    )
    return [(r["bidder_id"], r["amount_cents"]) for r in rows]


async def _bid_just_after_the_end_a_slow_rival_began_before(
    api: Api, db: asyncpg.Connection, database_url: str, server: str, **auction: Any
) -> tuple[httpx.Response, Any, User, User, int]:
    """The vendor's bid begins just after the end and waits at the pause; a rival's bid,
    whose transaction began just before the end, then commits; the vendor's bid goes on.
    Returns the vendor's answer, the rival's place_bid() row, vendor, rival, auction id."""
    buyer, vendor, rival = (
        await api.buyer(),
        await api.verified_vendor(),
        await api.verified_vendor(),
    )
    aid = (await published_auction(api, buyer, price_cap_cents=10_000, **auction))["id"]
    await _pause_after_guard(db, vendor.id)
    slow = await asyncpg.connect(database_url)
    try:
        await slow.execute("BEGIN")
        began: dt.datetime = await slow.fetchval("SELECT now()")
        # The end falls between the rival's start and the vendor's.
        await db.execute(
            "UPDATE auctions SET ends_at = $2::timestamptz + interval '1 millisecond' WHERE id = $1",
            aid,
            began,
        )
        await asyncio.sleep(0.05)
        vendors_bid = _bid_over_http(server, vendor, aid, 9_000)
        await _wait_until_paused(db, vendors_bid)
        taken = await _rival_bid(slow, aid, rival, 9_500)
    finally:
        await slow.close()
    await db.execute("SELECT pg_advisory_unlock($1)", PAUSE_KEY)
    return await vendors_bid, taken, vendor, rival, aid


async def test_a_bid_after_the_end_that_a_slower_rival_extended_is_taken(
    api: Api,
    db: asyncpg.Connection,
    gate: asyncpg.Connection,
    database_url: str,
    live_server: str,
) -> None:
    """The race model's failure: the vendor's bid starts just after the end and is refused
    as ended; a rival's bid that began before the end commits and extends it; the vendor
    was told "you are the low bidder" while holding no bid. At the vendor's instant the
    auction, extended by a bid placed before its end, is open: the bid is taken."""
    r, taken, vendor, rival, aid = await _bid_just_after_the_end_a_slow_rival_began_before(
        api, db, database_url, live_server, soft_close_seconds=30
    )
    assert taken["outcome"] == "accepted" and taken["extended"], dict(taken)
    assert r.status_code == 201, r.text
    assert await _stored_bids(db, aid) == [(rival.id, 9_500), (vendor.id, 9_000)]


async def test_a_bid_refused_before_the_opening_is_taken_once_open(
    api: Api, db: asyncpg.Connection, gate: asyncpg.Connection, live_server: str
) -> None:
    """The guard sees the auction still scheduled; it opens before the refusal is explained.
    The vendor is not told "you are the low bidder" on an auction with no bids."""
    buyer, vendor = await api.buyer(), await api.verified_vendor()
    aid = (
        await published_auction(
            api, buyer, price_cap_cents=10_000, starts_at=iso_in(600), ends_at=iso_in(4200)
        )
    )["id"]
    assert (await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid)) == "scheduled"
    await _pause_after_guard(db, vendor.id)
    vendors_bid = _bid_over_http(live_server, vendor, aid, 9_000)
    await _wait_until_paused(db, vendors_bid)
    await db.execute("UPDATE auctions SET status = 'open', starts_at = now() WHERE id = $1", aid)
    await db.execute("SELECT pg_advisory_unlock($1)", PAUSE_KEY)
    r = await vendors_bid
    assert r.status_code == 201, r.text
    assert await _stored_bids(db, aid) == [(vendor.id, 9_000)]


async def test_the_low_bidder_outbid_meanwhile_is_judged_on_the_newer_version(
    api: Api,
    db: asyncpg.Connection,
    gate: asyncpg.Connection,
    database_url: str,
    live_server: str,
) -> None:
    """The guard refuses the low bidder's next bid; a rival outbids them before the refusal
    is explained. The answer is judged on the version the explanation reads: a bid that
    fits it is taken, one that does not is refused with a maximum it exceeds."""
    buyer, vendor, rival = (
        await api.buyer(),
        await api.verified_vendor(),
        await api.verified_vendor(),
    )
    aid = (await published_auction(api, buyer, price_cap_cents=10_000))["id"]
    assert (await bid(api, vendor, aid, 9_000)).status_code == 201
    await _pause_after_guard(db, vendor.id)
    for amount, rivals, expected in ((8_700, 8_900, 201), (8_550, 8_600, 422)):
        vendors_bid = _bid_over_http(live_server, vendor, aid, amount)
        await _wait_until_paused(db, vendors_bid)
        rival_conn = await asyncpg.connect(database_url)
        try:
            await rival_conn.execute("BEGIN")
            taken = await _rival_bid(rival_conn, aid, rival, rivals)
            assert taken["outcome"] == "accepted", dict(taken)
        finally:
            await rival_conn.close()
        await db.execute("SELECT pg_advisory_unlock($1)", PAUSE_KEY)
        r = await vendors_bid
        assert r.status_code == expected, r.text
        if expected == 422:
            body = r.json()
            assert body["code"] == "amount_too_high"
            assert body["max_allowed_cents"] == rivals - 100 < amount, body
        await db.execute("SELECT pg_advisory_lock($1)", PAUSE_KEY)
    assert await _stored_bids(db, aid) == [
        (vendor.id, 9_000),
        (rival.id, 8_900),
        (vendor.id, 8_700),
        (rival.id, 8_600),
    ]


async def test_a_bid_after_the_end_stays_closed_when_the_rival_cannot_extend(
    api: Api,
    db: asyncpg.Connection,
    gate: asyncpg.Connection,
    database_url: str,
    live_server: str,
) -> None:
    """As above with no extensions left: the rival's bid, begun before the end, is taken
    without moving it, and the vendor's, begun after, is told the auction has ended."""
    r, taken, _, rival, aid = await _bid_just_after_the_end_a_slow_rival_began_before(
        api, db, database_url, live_server, max_extensions=0
    )
    assert taken["outcome"] == "accepted" and not taken["extended"], dict(taken)
    assert (r.status_code, r.json()["code"]) == (409, "auction_closed"), r.text
    assert await _stored_bids(db, aid) == [(rival.id, 9_500)]


async def test_sealed_bids_of_one_vendor_at_once_take_one(
    api: Api, db: asyncpg.Connection, live_server: str
) -> None:
    """Eight sealed bids of one vendor sent at once: one is taken, every other is told it
    already bid (or, above the cap, that it is too high), never a reverse-auction reason."""
    buyer, vendor = await api.buyer(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, type="sealed", price_cap_cents=10_000))["id"]
    amounts = [9_000 - n for n in range(7)] + [10_001]
    answers = await asyncio.gather(*(_bid_over_http(live_server, vendor, aid, a) for a in amounts))
    codes = sorted((r.status_code, r.json().get("code")) for r in answers)
    assert codes == [
        (201, None),
        (409, "already_bid"),
        (409, "already_bid"),
        (409, "already_bid"),
        (409, "already_bid"),
        (409, "already_bid"),
        (409, "already_bid"),
        (422, "amount_too_high"),
    ], codes
    assert len(await _stored_bids(db, aid)) == 1
