"""One Redis reader per API process for every live feed it serves.

A feed used to hold a Redis connection of its own for its blocking XREAD, so open feeds
were Redis clients one for one. The hub runs one XREAD across the auction streams that have
subscribers and hands each entry to every subscriber's bounded queue. A subscriber whose
queue is full is dropped (its stream closed) rather than buffered without bound; its client
reconnects with ``Last-Event-ID`` and resumes exactly from the outbox.

A new stream is taken in promptly: subscribing writes to the hub's own wake stream, which is
part of every XREAD, so the blocked read returns at once and the next one includes the new
stream. The hub "arms" a stream by noting its last entry (``armed_at``): the hub hands on
every entry after it, the feed reads everything up to it from PostgreSQL.

The per-client cap of concurrent feeds is counted here, per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from redis.typing import KeyT, StreamIdT

from marketplace.errors import TooManyRequests
from marketplace.redis import HUB_WAKE_PREFIX
from marketplace.shutdown import stop_tasks

log = logging.getLogger(__name__)

# Below the Redis client's socket timeout (10 s), so a quiet read is not an error.
BLOCK_MS = 5_000
READ_COUNT = 200  # entries per stream per XREAD
QUEUE_SIZE = 500  # entries a subscriber may fall behind before it is dropped
WAKE_TTL_SECONDS = 3600  # a crashed process's wake stream goes away on its own
TOO_MANY_RETRY_AFTER = 5


KEEPALIVE_SECONDS = 15.0  # a feed with nothing to send says so this often


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of an auction stream: ``prev`` is the previous event id of the auction;
    ``frame`` the SSE message every feed sends for it, encoded once for all of them."""

    id: int
    prev: int
    type: str
    data: bytes
    frame: bytes = b""


def event_frame(event_id: int, event_type: str, data: bytes) -> bytes:
    """One SSE message: ``data`` is JSON on one line (msgspec escapes line breaks; a line
    break would end the message early, so data with one is refused: ValueError)."""
    if b"\n" in data or b"\r" in data:
        raise ValueError("an event's data spans lines")
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event_type.encode(), data)


_TICK = object()  # a quiet spell: the feed sends a keep-alive


class Closed(Exception):
    """The subscription ended: dropped as a slow consumer, or the hub stopped."""


class Subscription:
    """One feed's place in the hub: its queue and the point where the hub took it up."""

    def __init__(self, hub: Hub, key: str, client: str | None) -> None:
        self.hub = hub
        self.key = key
        self.client = client
        self.queue: asyncio.Queue[Any] = asyncio.Queue(hub.queue_size)
        self.ready = asyncio.Event()  # set once armed_at is known
        self.armed_at = 0  # every entry after this id reaches the queue
        self.closed = False
        self.dropped = False
        self.quiet = True  # nothing handed on since the hub's last keep-alive tick
        # Set by the HTTP response: ends it even while it waits on a client that reads
        # nothing (its writes block, so it never comes back to the queue).
        self.on_drop: Callable[[], None] | None = None

    async def get(self) -> Entry | None:
        """The next entry, or None when a keep-alive is due (the hub ticks every
        ``KEEPALIVE_SECONDS`` for feeds it handed nothing since); raises Closed once closed.

        No timer per call: with a crowd on one auction every entry wakes every feed, and a
        timeout armed and cancelled per wake-up was a tenth of the API's CPU.
        """
        if self.closed:
            raise Closed
        entry = await self.queue.get()
        if entry is None or self.closed:
            raise Closed
        return None if entry is _TICK else entry

    def take_ready(self) -> list[Entry]:
        """The entries already queued, without waiting: a feed that fell behind catches up
        in one write."""
        ready: list[Entry] = []
        while not self.queue.empty():
            entry = self.queue.get_nowait()
            if entry is None:  # closed: the next get() says so
                break
            if entry is not _TICK:
                ready.append(entry)
        return ready

    def close(self) -> None:
        """Leave the hub (idempotent); frees the client's slot."""
        if self.closed:
            return
        self.closed = True
        self.hub._forget(self)
        self.ready.set()  # a feed still waiting to be armed stops waiting
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)  # wakes a waiting get()

    def drop(self) -> None:
        """Close, and end the HTTP response too."""
        if self.closed:
            return
        self.dropped = True
        self.close()
        if self.on_drop is not None:
            self.on_drop()


class _Stream:
    def __init__(self) -> None:
        self.cursor: str | None = None  # None until armed
        self.subscribers: set[Subscription] = set()


class Hub:
    """Reads the auction streams that have subscribers; start() and stop() in the lifespan."""

    def __init__(
        self,
        redis: ArqRedis,
        queue_size: int = QUEUE_SIZE,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.redis = redis
        self.queue_size = queue_size
        self.keepalive_seconds = keepalive_seconds
        self._streams: dict[str, _Stream] = {}
        self._clients: dict[str, int] = {}
        self._wake_key = f"{HUB_WAKE_PREFIX}{uuid.uuid4().hex}"
        self._wake_cursor = "0-0"
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.ending = False  # the server is stopping: feeds end as soon as they start

    def __len__(self) -> int:
        """How many subscriptions are open."""
        return sum(len(s.subscribers) for s in self._streams.values())

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="sse-hub-reader"),
            asyncio.create_task(self._wake_forever(), name="sse-hub-waker"),
            asyncio.create_task(self._tick_forever(), name="sse-hub-keepalive"),
        ]

    def end_feeds(self) -> None:
        """End every open feed as a complete response, when the server starts stopping: a
        feed never ends by itself, so the server would wait on it. Each browser's
        EventSource reconnects with its Last-Event-ID (to another process, or to this one
        once it is back) and misses nothing.

        Feeds subscribed from now on (requests already under way) end as soon as they have
        sent what PostgreSQL holds. (A feed whose write waits on a client that reads nothing
        never comes back to see its end: the server's shutdown deadline covers it,
        marketplace/server.py.)"""
        self.ending = True
        for stream in list(self._streams.values()):
            for sub in list(stream.subscribers):
                sub.close()

    async def stop(self) -> None:
        """Stop reading and end every open feed (their clients reconnect elsewhere)."""
        for exc in await stop_tasks(self._tasks):
            log.error("the live feed hub had failed", exc_info=exc)
        self._tasks = []
        for stream in list(self._streams.values()):
            for sub in list(stream.subscribers):
                sub.drop()
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self.redis.delete(self._wake_key)

    def subscribe(self, key: str, client: str | None = None, cap: int = 0) -> Subscription:
        """A subscription to the stream ``key``; 429 when ``client`` already holds ``cap``."""
        if client is not None and cap and self._clients.get(client, 0) >= cap:
            raise TooManyRequests(
                "too_many_streams",
                f"at most {cap} event streams at once per client; close one and retry",
                retry_after=TOO_MANY_RETRY_AFTER,
            )
        sub = Subscription(self, key, client)
        if client is not None:
            self._clients[client] = self._clients.get(client, 0) + 1
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream()
        stream.subscribers.add(sub)
        if self.ending:
            sub.close()
            return sub
        if stream.cursor is None:
            self._wake.set()  # the hub must arm it: interrupt its blocked read
        else:
            sub.armed_at = _event_id(stream.cursor)
            sub.ready.set()
        return sub

    def _forget(self, sub: Subscription) -> None:
        stream = self._streams.get(sub.key)
        if stream is not None and sub in stream.subscribers:
            stream.subscribers.discard(sub)
            if not stream.subscribers:
                del self._streams[sub.key]
        if sub.client is not None:
            left = self._clients.get(sub.client, 0) - 1
            if left > 0:
                self._clients[sub.client] = left
            else:
                self._clients.pop(sub.client, None)

    async def _wake_forever(self) -> None:
        """Write to the wake stream whenever a subscription needs a new stream armed; many
        subscriptions in a burst share one write."""
        backoff = 0.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                pipe = self.redis.pipeline(transaction=False)
                pipe.xadd(self._wake_key, {"w": 1}, maxlen=1, approximate=False)
                pipe.expire(self._wake_key, WAKE_TTL_SECONDS)
                await pipe.execute()
                backoff = 0.0
            except (RedisError, OSError) as exc:
                # The reader meets the same outage and arms streams once Redis is back.
                log.warning("live feed hub cannot wake its reader: %s", exc)
                backoff = min(max(backoff * 2, 0.2), 5.0)
                await asyncio.sleep(backoff)

    async def _tick_forever(self) -> None:
        """Every ``keepalive_seconds``, a keep-alive for each armed feed that was handed
        nothing since the last tick (one timer for the process, not one per feed)."""
        while True:
            await asyncio.sleep(self.keepalive_seconds)
            for stream in list(self._streams.values()):
                for sub in stream.subscribers:
                    if sub.quiet and sub.ready.is_set():
                        with contextlib.suppress(asyncio.QueueFull):
                            sub.queue.put_nowait(_TICK)
                    sub.quiet = True

    async def _read_forever(self) -> None:
        backoff = 0.0
        while True:
            try:
                await self._arm()
                streams: dict[KeyT, StreamIdT] = {
                    k: s.cursor for k, s in self._streams.items() if s.cursor is not None
                }
                streams[self._wake_key] = self._wake_cursor
                answer = await self.redis.xread(streams, count=READ_COUNT, block=BLOCK_MS)
                backoff = 0.0
            except (RedisError, OSError) as exc:
                # Redis is away: feeds stay open on keep-alives and catch up when it is back
                # (the relay catches up from PostgreSQL meanwhile).
                log.warning("live feed hub cannot read Redis: %s", exc)
                backoff = min(max(backoff * 2, 0.2), 5.0)
                await asyncio.sleep(backoff)
                continue
            except Exception:  # never let one surprise silence every feed of the process
                log.exception("live feed hub failed reading; retrying")
                backoff = min(max(backoff * 2, 0.2), 5.0)
                await asyncio.sleep(backoff)
                continue
            for raw_key, entries in answer or []:
                self._hand_on(raw_key.decode(), entries)

    async def _arm(self) -> None:
        """Note the last entry of every stream that has subscribers and no cursor yet."""
        new = [k for k, s in self._streams.items() if s.cursor is None]
        if not new:
            return
        pipe = self.redis.pipeline(transaction=False)
        for key in new:
            pipe.xrevrange(key, count=1)
        lasts = await pipe.execute()
        for key, last in zip(new, lasts, strict=True):
            stream = self._streams.get(key)
            if stream is None or stream.cursor is not None:
                continue  # everyone left meanwhile
            stream.cursor = last[0][0].decode() if last else "0-0"
            for sub in stream.subscribers:
                sub.armed_at = _event_id(stream.cursor)
                sub.ready.set()

    def _hand_on(self, key: str, entries: list[Any]) -> None:
        if key == self._wake_key:
            if entries:
                self._wake_cursor = entries[-1][0].decode()
            return
        stream = self._streams.get(key)
        if stream is None or stream.cursor is None:
            return  # left, or left and came back while we read: armed again next round
        for raw_id, fields in entries:
            stream.cursor = raw_id.decode()
            try:
                event_id, event_type = _event_id(stream.cursor), fields[b"type"].decode()
                entry = Entry(
                    id=event_id,
                    prev=int(fields.get(b"prev", b"0") or 0),
                    type=event_type,
                    data=fields[b"data"],
                    frame=event_frame(event_id, event_type, fields[b"data"]),
                )
            except (KeyError, ValueError):  # not written by the relay: step over it
                log.error("skipping a malformed entry %s of %s", stream.cursor, key)
                continue
            for sub in list(stream.subscribers):
                sub.quiet = False
                try:
                    sub.queue.put_nowait(entry)
                except asyncio.QueueFull:
                    log.warning(
                        "dropping a live feed of %s that fell %s behind", key, sub.queue.qsize()
                    )
                    sub.drop()


def _event_id(entry_id: str) -> int:
    """The event id of a stream entry id (``<outbox id>-0``)."""
    return int(entry_id.split("-", 1)[0])
