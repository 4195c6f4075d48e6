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
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from marketplace import outbox
from marketplace.auctions.service import load_visible
from marketplace.auth import Caller
from marketplace.events import SEALED_HIDDEN, sealed_view
from marketplace.redis import auction_stream
from marketplace.streams import queries
from marketplace.streams.hub import Closed, Hub, Subscription

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 3_000
PAGE = 500

_encoder = msgspec.json.Encoder()


class FeedItem(msgspec.Struct, frozen=True, kw_only=True):
    """One event as the public sees it: ``data`` is its JSON."""

    id: int
    type: str
    data: bytes


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


def _item(row: Any, sealed: bool) -> FeedItem | None:
    data = feed_data(row["type"], bytes(row["payload"]), row["id"], row["created_at"], sealed)
    return None if data is None else FeedItem(id=row["id"], type=row["type"], data=data)


async def open_feed(pool: Any, caller: Caller | None, auction_id: int) -> bool:
    """Check the caller may see the auction (404 otherwise); True when it is sealed."""
    async with pool.acquire() as conn:
        row = await load_visible(conn, caller, auction_id)
    return bool(row["type"] == "sealed")


def subscribe(hub: Hub, auction_id: int, client: str | None, cap: int) -> Subscription:
    """The feed's place in the process's hub; 429 (``too_many_streams``) past ``cap`` feeds
    of one client address in this process."""
    return hub.subscribe(auction_stream(auction_id), client, cap)


async def follow(
    pool: Any, feed: Subscription, auction_id: int, sealed: bool, after: int
) -> AsyncIterator[FeedItem | None]:
    """The auction's events after ``after`` until the hub closes ``feed``; None now and then
    as a keep-alive. Closes ``feed`` when done.

    The hub queues every entry after ``feed.armed_at`` from the moment of subscribing, so
    the events up to it come from PostgreSQL (first what is relayed, then, once it is
    known, up to ``armed_at``) and the queue's entries at or below the last id sent are
    skipped: no gap and no duplicate across the hand-off.
    """
    last = after  # the highest id dealt with (sent, or deliberately left out)
    try:
        while True:
            async with pool.acquire() as conn:
                rows = await queries.relayed_backlog(conn, auction_id, last, PAGE)
            for row in rows:
                last = row["id"]
                item = _item(row, sealed)
                if item is not None:
                    yield item
            if len(rows) < PAGE:
                break

        while not feed.ready.is_set():  # Redis away: the hub arms the stream when it is back
            if feed.closed:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(KEEPALIVE_SECONDS):
                    await feed.ready.wait()
            if not feed.ready.is_set():
                yield None
        if feed.armed_at > last:
            async for item in _between(pool, auction_id, sealed, last, feed.armed_at + 1):
                yield item
            last = feed.armed_at

        while True:
            try:
                entry = await feed.get(KEEPALIVE_SECONDS)
            except Closed:
                return  # the client reconnects with Last-Event-ID
            if entry is None:
                yield None
                continue
            if entry.id <= last:
                continue
            if entry.prev > last:
                # Redis lost something between what we sent and this entry.
                async for item in _between(pool, auction_id, sealed, last, entry.id):
                    yield item
            last = entry.id
            yield FeedItem(id=entry.id, type=entry.type, data=entry.data)
    finally:
        feed.close()


async def _between(
    pool: Any, auction_id: int, sealed: bool, after: int, before: int
) -> AsyncIterator[FeedItem]:
    """The auction's events strictly between two ids, from the outbox, as the feed shows them."""
    async with pool.acquire() as conn:
        rows = await queries.auction_events_between(conn, auction_id, after, before)
    for row in rows:
        item = _item(row, sealed)
        if item is not None:
            yield item
