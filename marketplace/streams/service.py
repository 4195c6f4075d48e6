"""The live feed of one auction: the outbox backlog, then the auction's Redis stream.

Event ids are outbox ids, so a reader resumes after the last id it saw. The backlog comes
from PostgreSQL (the record); the tail comes from the stream through the process's hub
(hub.py: one Redis reader for every feed of the process), and every stream entry names
the previous event of its auction (``prev``), so entries Redis lost (a flush, a restart
without persistence, trimming) are noticed and read back from the outbox: no gap, no
duplicate, always in id order.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator

import msgspec

from marketplace import outbox
from marketplace.auctions.service import load_visible
from marketplace.auth import Caller
from marketplace.db import Pool, Row
from marketplace.events import SEALED_HIDDEN, sealed_view
from marketplace.redis import auction_stream
from marketplace.streams import queries
from marketplace.streams.hub import (
    KEEPALIVE_SECONDS,
    Closed,
    Entry,
    Hub,
    Subscription,
    event_frame,
)

RETRY_MS = 3_000
PAGE = 500
RETRY_FRAME = b"retry: %d\n\n" % RETRY_MS  # how long a browser waits before reconnecting
KEEPALIVE_FRAME = b": keep-alive\n\n"

_encoder = msgspec.json.Encoder()


class FeedItem(msgspec.Struct, frozen=True, kw_only=True):
    """One event as the public sees it: ``data`` is its JSON, ``frame`` its SSE message."""

    id: int
    type: str
    data: bytes
    frame: bytes


Batch = list[FeedItem | Entry]  # what one write sends; empty: a keep-alive is due


def feed_data(
    event_type: str, payload: bytes, event_id: int, created_at: dt.datetime, sealed: bool
) -> bytes | None:
    """The event's JSON as the auction's public feed shows it, or None to leave it out.

    Sealed auctions say nothing about bids until ``bids.revealed`` (events.sealed_view).
    """
    if sealed and event_type in SEALED_HIDDEN:
        return None
    data = msgspec.to_builtins(outbox.stamped(event_id, created_at, payload))
    if sealed:
        data = sealed_view(event_type, data)
    return _encoder.encode(data)


def _item(row: Row, sealed: bool) -> FeedItem | None:
    data = feed_data(row["type"], bytes(row["payload"]), row["id"], row["created_at"], sealed)
    if data is None:
        return None
    frame = event_frame(row["id"], row["type"], data)
    return FeedItem(id=row["id"], type=row["type"], data=data, frame=frame)


async def open_feed(pool: Pool, caller: Caller | None, auction_id: int) -> bool:
    """Check the caller may see the auction (404 otherwise); True when it is sealed."""
    async with pool.acquire() as conn:
        row = await load_visible(conn, caller, auction_id)
    return bool(row["type"] == "sealed")


def subscribe(hub: Hub, auction_id: int, client: str | None, cap: int) -> Subscription:
    """The feed's place in the process's hub; 429 (``too_many_streams``) past ``cap`` feeds
    of one client address in this process."""
    return hub.subscribe(auction_stream(auction_id), client, cap)


async def follow(
    pool: Pool, feed: Subscription, auction_id: int, sealed: bool, after: int
) -> AsyncIterator[Batch]:
    """The auction's events after ``after``, in batches, until the hub closes ``feed``;
    an empty batch now and then as a keep-alive. Closes ``feed`` when done.

    The hub queues every entry after ``feed.armed_at`` from the moment of subscribing, so
    the events up to it come from PostgreSQL (first what is relayed, then, once it is
    known, up to ``armed_at``) and the queue's entries at or below the last id sent are
    skipped: no gap and no duplicate across the hand-off. What the hub queued while the
    previous write was on its way goes out in one write.
    """
    at = _Dealt(after)
    try:
        # Each phase closed as it ends, or at once when the client goes (aclosing).
        async with contextlib.aclosing(_relayed(pool, auction_id, sealed, at)) as phase:
            async for batch in phase:
                yield batch
        async with contextlib.aclosing(_until_armed(pool, feed, auction_id, sealed, at)) as phase:
            async for batch in phase:
                yield batch
        if not feed.ready.is_set():
            return  # closed while Redis was away
        async with contextlib.aclosing(_live(pool, feed, auction_id, sealed, at)) as phase:
            async for batch in phase:
                yield batch
    finally:
        feed.close()


class _Dealt:
    """The highest event id a feed has dealt with (sent, or deliberately left out)."""

    def __init__(self, last: int) -> None:
        self.last = last


async def _relayed(
    pool: Pool, auction_id: int, sealed: bool, at: _Dealt
) -> AsyncGenerator[Batch, None]:
    """What PostgreSQL holds as relayed after ``at``, a page at a time."""
    while True:
        async with pool.acquire() as conn:
            rows = await queries.relayed_backlog(conn, auction_id, at.last, PAGE)
        batch: Batch = []
        for row in rows:
            at.last = row["id"]
            item = _item(row, sealed)
            if item is not None:
                batch.append(item)
        if batch:
            yield batch
        if len(rows) < PAGE:
            return


async def _until_armed(
    pool: Pool, feed: Subscription, auction_id: int, sealed: bool, at: _Dealt
) -> AsyncGenerator[Batch, None]:
    """Keep-alives until the hub has armed the feed (Redis away: when it is back), then what
    PostgreSQL holds up to the entry the hub queues from."""
    while not feed.ready.is_set():
        if feed.closed:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(KEEPALIVE_SECONDS):
                await feed.ready.wait()
        if not feed.ready.is_set():
            yield []
    if feed.armed_at > at.last:
        upto = feed.armed_at + 1
        between: Batch = [i async for i in _between(pool, auction_id, sealed, at.last, upto)]
        if between:
            yield between
        at.last = feed.armed_at


async def _live(
    pool: Pool, feed: Subscription, auction_id: int, sealed: bool, at: _Dealt
) -> AsyncGenerator[Batch, None]:
    """The hub's entries as they come, with what Redis lost between two filled in from
    PostgreSQL; ends when the hub closes the feed (the client reconnects with
    Last-Event-ID)."""
    while True:
        try:
            first = await feed.get()
        except Closed:
            return
        if first is None:
            yield []
            continue
        batch: Batch = []
        for entry in [first, *feed.take_ready()]:
            if entry.id <= at.last:
                continue
            if entry.prev > at.last:
                # Redis lost something between what we sent and this entry.
                batch += [i async for i in _between(pool, auction_id, sealed, at.last, entry.id)]
            at.last = entry.id
            batch.append(entry)
        if batch:
            yield batch


async def _between(
    pool: Pool, auction_id: int, sealed: bool, after: int, before: int
) -> AsyncIterator[FeedItem]:
    """The auction's events strictly between two ids, from the outbox, as the feed shows them."""
    async with pool.acquire() as conn:
        rows = await queries.auction_events_between(conn, auction_id, after, before)
    for row in rows:
        item = _item(row, sealed)
        if item is not None:
            yield item
