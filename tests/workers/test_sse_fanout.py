"""Live feeds (SSE) at scale: one Redis reader per API process, a cap per client address,
exact resume across the hand-off from the outbox to the live tail, slow consumers dropped.

Feeds are opened over real HTTP against a uvicorn server (tests/helpers.py ``served``) with
raw sockets, cheap enough to hold a thousand; events are real outbox rows moved by the real
relay, except where a test needs bulk (the slow consumer), which writes large entries to
the auction's stream itself, as the relay would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import msgspec
import pytest

from marketplace import outbox
from marketplace.events import AuctionUpdated
from marketplace.redis import auction_stream
from marketplace.settings import Settings
from tests.helpers import Api, published_auction, served, stop_tasks
from workers.relay import Relay, relay_forever

DEADLINE = 120.0  # generous: the machine running the suite may be busy


class Event(msgspec.Struct, frozen=True):
    id: int
    type: str
    data: dict[str, Any]


class RawFeed:
    """One SSE client on a raw socket: the request, the head, then events off the chunked
    body. ``rcvbuf`` shrinks the socket's receive buffer (a client that reads nothing then
    fills the server's buffers sooner)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self._buffer = b""
        self._ended = False
        self.seen: list[Event] = []

    @classmethod
    async def open(
        cls, base: str, aid: int, headers: dict[str, str] | None = None, rcvbuf: int = 0
    ) -> RawFeed:
        port = int(base.rsplit(":", 1)[1])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        lines = [f"GET /api/auctions/{aid}/events HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        feed = cls(reader, writer)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
        status_line, *fields = head.decode("latin-1").split("\r\n")
        feed.status = int(status_line.split()[1])
        for field in fields:
            if field:
                name, _, value = field.partition(":")
                feed.headers[name.strip().lower()] = value.strip()
        if "content-length" in feed.headers:
            feed.body = await reader.readexactly(int(feed.headers["content-length"]))
        return feed

    async def _more(self) -> bool:
        """Read one chunk of the body into the buffer; False at its end."""
        if self._ended:
            return False
        size_line = await self.reader.readline()
        if not size_line.strip():
            self._ended = True  # the connection closed without the final chunk
            return False
        size = int(size_line.strip(), 16)
        chunk = await self.reader.readexactly(size + 2)
        if size == 0:
            self._ended = True
            return False
        self._buffer += chunk[:-2].replace(b"\r\n", b"\n")
        return True

    async def next_event(self) -> Event | None:
        """The next event with an id (comments and retry hints skipped); None at the end."""
        while True:
            while b"\n\n" not in self._buffer:
                if not await self._more():
                    return None
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.decode().split("\n"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            if "id" in fields:
                event = Event(int(fields["id"]), fields["event"], json.loads(fields["data"]))
                self.seen.append(event)
                return event

    async def read_until(self, done: Callable[[list[Event]], bool]) -> list[Event]:
        async with asyncio.timeout(DEADLINE):
            while not done(self.seen):
                if await self.next_event() is None:
                    raise AssertionError("the feed ended early")
        return self.seen

    async def read_to_end(self) -> list[Event]:
        async with asyncio.timeout(DEADLINE):
            while await self.next_event() is not None:
                pass
        return self.seen

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def connected_clients(redis: Any) -> int:
    return int((await redis.info("clients"))["connected_clients"])


async def relay_all(pool: Any, redis: Any) -> None:
    relay = Relay(pool, redis)
    for _ in range(3):  # a first pass may only take the watermark
        while await relay.relay_once():
            pass


async def outbox_ids(db: asyncpg.Connection, aid: int) -> list[int]:
    return [
        r["id"]
        for r in await db.fetch("SELECT id FROM outbox WHERE auction_id = $1 ORDER BY id", aid)
    ]


@contextlib.asynccontextmanager
async def relaying(pool: Any, redis: Any, settings: Settings) -> AsyncIterator[None]:
    task = asyncio.create_task(
        relay_forever({"pool": pool, "redis_client": redis, "settings": settings})
    )
    try:
        yield
    finally:
        await stop_tasks([task])


async def _many_feeds_use_constant_redis_connections(
    api: Api, settings: Settings, pool: Any, redis: Any, db: asyncpg.Connection, count: int
) -> None:
    buyer = await api.buyer()
    aids = [(await published_auction(api, buyer))["id"] for _ in range(5)]
    await relay_all(pool, redis)
    wide = msgspec.structs.replace(settings, sse_per_client=count + 10)
    async with served(wide) as base:
        # One feed per auction, live (an event relayed after it opened reaches it): the
        # process's reader and its pool are up.
        warm = [await RawFeed.open(base, aid) for aid in aids]
        marks = [await outbox.emit(db, AuctionUpdated(auction_id=aid), aid) for aid in aids]
        await relay_all(pool, redis)
        for feed, mark in zip(warm, marks, strict=True):
            await feed.read_until(lambda seen, m=mark: bool(seen) and seen[-1].id >= m)
        before = await connected_clients(redis)

        gate = asyncio.Semaphore(100)

        async def one(i: int) -> RawFeed:
            async with gate:
                feed = await RawFeed.open(base, aids[i % len(aids)])
            assert feed.status == 200, feed.body
            return feed

        feeds = await asyncio.gather(*(one(i) for i in range(count)))
        marks = [await outbox.emit(db, AuctionUpdated(auction_id=aid), aid) for aid in aids]
        await relay_all(pool, redis)

        async def live(i: int, feed: RawFeed) -> None:
            mark = marks[i % len(aids)]
            await feed.read_until(lambda seen: bool(seen) and seen[-1].id >= mark)

        await asyncio.gather(*(live(i, f) for i, f in enumerate(feeds)))
        # A feed with a connection of its own holds it in a blocking read: sample while
        # they would all be blocked again after the event.
        during = 0
        for _ in range(12):
            during = max(during, await connected_clients(redis))
            await asyncio.sleep(0.5)
        for feed in [*feeds, *warm]:
            await feed.close()
    print(f"\n{count} live feeds: Redis connected_clients {before} before, {during} with them open")
    assert during - before <= 2, (before, during)


async def test_many_feeds_use_constant_redis_connections(
    api: Api, settings: Settings, pool: Any, redis: Any, db: asyncpg.Connection
) -> None:
    await _many_feeds_use_constant_redis_connections(api, settings, pool, redis, db, 300)


@pytest.mark.slow
async def test_a_thousand_feeds_use_constant_redis_connections(
    api: Api, settings: Settings, pool: Any, redis: Any, db: asyncpg.Connection
) -> None:
    await _many_feeds_use_constant_redis_connections(api, settings, pool, redis, db, 1000)


async def test_feeds_per_client_address_are_capped(
    api: Api, settings: Settings, pool: Any, redis: Any
) -> None:
    capped = msgspec.structs.replace(settings, sse_per_client=Settings().sse_per_client)
    assert capped.sse_per_client == 20
    buyer = await api.buyer()
    aid = (await published_auction(api, buyer))["id"]
    await relay_all(pool, redis)
    async with served(capped) as base:
        feeds = [await RawFeed.open(base, aid) for _ in range(20)]
        assert [f.status for f in feeds] == [200] * 20
        over = await RawFeed.open(base, aid)
        assert over.status == 429, over.body
        assert json.loads(over.body)["code"] == "too_many_streams"
        assert int(over.headers["retry-after"]) > 0
        # X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
        forged = await RawFeed.open(base, aid, {"X-Forwarded-For": "198.51.100.9"})
        assert forged.status == 429
        await over.close()
        await forged.close()

        await feeds.pop().close()
        async with asyncio.timeout(DEADLINE):  # the server notices the hang-up
            while True:
                again = await RawFeed.open(base, aid)
                if again.status == 200:
                    break
                assert again.status == 429
                await again.close()
                await asyncio.sleep(0.05)
        feeds.append(again)
        await feeds[0].read_until(lambda seen: bool(seen))  # the others still stream
        for feed in feeds:
            await feed.close()

    # Behind a trusted proxy each forwarded client address has a budget of its own.
    proxied = msgspec.structs.replace(settings, trusted_proxies=("127.0.0.1/32",), sse_per_client=2)
    async with served(proxied) as base:
        a = {"X-Forwarded-For": "198.51.100.7"}
        b = {"X-Forwarded-For": "198.51.100.8"}
        held = [await RawFeed.open(base, aid, a) for _ in range(2)]
        assert [f.status for f in held] == [200, 200]
        refused = await RawFeed.open(base, aid, a)
        assert refused.status == 429
        other = await RawFeed.open(base, aid, b)
        assert other.status == 200
        for feed in [*held, refused, other]:
            await feed.close()


async def test_resume_across_the_hand_off_is_exact_under_concurrent_publishing(
    api: Api, settings: Settings, pool: Any, redis: Any, db: asyncpg.Connection
) -> None:
    """Readers hang up and come back with Last-Event-ID while events are published: on an
    auction whose stream the hub keeps reading (another reader stays), and on one whose
    stream it drops and takes up again. Together each reader sees every event once."""
    buyer = await api.buyer()
    kept, retaken = [(await published_auction(api, buyer))["id"] for _ in range(2)]
    rng = random.Random(22)
    async with served(settings) as base, relaying(pool, redis, settings):
        stayer = await RawFeed.open(base, kept)
        rounds = 240
        # How many events each auction will have once publishing is over, known before it
        # starts: a reader that has them all is done, whenever publishing itself ends.
        expected = {aid: len(await outbox_ids(db, aid)) + rounds // 2 for aid in (kept, retaken)}

        async def publish() -> None:
            for i in range(rounds):
                aid = (kept, retaken)[i % 2]
                await outbox.emit(db, AuctionUpdated(auction_id=aid), aid)
                await asyncio.sleep(rng.choice([0, 0.002, 0.01]))

        def finished(aid: int, seen: list[Event]) -> bool:
            return len(seen) >= expected[aid]

        async def come_and_go(aid: int) -> tuple[list[Event], int]:
            seen: list[Event] = []
            visits = 0
            while not finished(aid, seen):
                headers = {"Last-Event-ID": str(seen[-1].id)} if seen else {}
                feed = await RawFeed.open(base, aid, headers)
                assert feed.status == 200, feed.body
                visits += 1
                wanted = rng.randint(1, 6)
                async with asyncio.timeout(DEADLINE):
                    while len(feed.seen) < wanted and not finished(aid, seen + feed.seen):
                        # read on until all are in (a quiet spell is not an end)
                        if await feed.next_event() is None:
                            raise AssertionError("the feed ended early")
                seen += feed.seen
                await feed.close()
            return seen, visits

        publisher = asyncio.create_task(publish())
        results = await asyncio.gather(
            come_and_go(kept), come_and_go(kept), come_and_go(retaken), come_and_go(retaken)
        )
        await publisher
        await stayer.read_until(lambda seen: finished(kept, seen))
        await stayer.close()
    for aid, (seen, visits) in zip([kept, kept, retaken, retaken], results, strict=True):
        assert visits > 5
        assert [e.id for e in seen] == await outbox_ids(db, aid)
        assert all(e.data["event_id"] == e.id for e in seen)
    assert [e.id for e in stayer.seen] == await outbox_ids(db, kept)


async def test_a_client_that_reads_nothing_is_dropped_and_others_keep_receiving(
    api: Api, settings: Settings, pool: Any, redis: Any
) -> None:
    buyer = await api.buyer()
    aid = (await published_auction(api, buyer))["id"]
    await relay_all(pool, redis)
    key = auction_stream(aid)
    pad = "x" * 32_000
    base_id = 10**12  # far above the outbox's ids; these entries exist only on the stream

    async def put(first: int, count: int) -> int:
        pipe = redis.pipeline(transaction=False)
        for i in range(first, first + count):
            data = json.dumps({"event_id": base_id + i, "pad": pad})
            fields = {"type": "auction.updated", "data": data, "prev": 0}
            pipe.xadd(key, fields, id=f"{base_id + i}-0", maxlen=300, approximate=True)
        await pipe.execute()
        return base_id + first + count - 1

    async with served(settings) as base:
        slow = await RawFeed.open(base, aid, rcvbuf=4096)  # then never reads
        readers = [await RawFeed.open(base, aid) for _ in range(2)]
        assert slow.status == 200 and [r.status for r in readers] == [200, 200]
        last = await put(0, 1)
        for reader in readers:
            await reader.read_until(lambda seen: bool(seen) and seen[-1].id == last)

        # Enough to fill the slow client's socket buffers and then its queue in the hub.
        batch, total = 50, 1200
        for first in range(1, total, batch):
            last = await put(first, batch)
            for reader in readers:
                await reader.read_until(lambda seen, m=last: seen[-1].id == m)

        got = await slow.read_to_end()  # the server ended its response
        assert got, "it was streaming before it fell behind"
        assert got[-1].id < last, "it was dropped, not buffered to the end"
        ids = [e.id for e in got]
        assert ids == sorted(set(ids))

        last = await put(total + 1, 1)
        for reader in readers:
            await reader.read_until(lambda seen, m=last: seen[-1].id == m)
            fake = [e.id for e in reader.seen if e.id >= base_id]
            assert fake == list(range(base_id, last + 1)), "the others got every entry"
            await reader.close()
        await slow.close()


async def test_a_stream_entry_not_written_by_the_relay_is_stepped_over(
    api: Api, settings: Settings, pool: Any, redis: Any, db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    aid = (await published_auction(api, buyer))["id"]
    await relay_all(pool, redis)
    async with served(settings) as base:
        feed = await RawFeed.open(base, aid)
        first = await outbox.emit(db, AuctionUpdated(auction_id=aid), aid)
        await relay_all(pool, redis)
        await feed.read_until(lambda seen: bool(seen) and seen[-1].id == first)
        await redis.xadd(auction_stream(aid), {"junk": "1"}, id=f"{first}-1")
        second = await outbox.emit(db, AuctionUpdated(auction_id=aid), aid)
        await relay_all(pool, redis)
        await feed.read_until(lambda seen: seen[-1].id == second)
        await feed.close()
    assert [e.id for e in feed.seen] == await outbox_ids(db, aid)
