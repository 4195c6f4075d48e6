"""The live feed of one auction: the outbox backlog, then the auction's Redis stream.

Event ids are outbox ids, so a reader resumes after the last id it saw. The backlog comes
from PostgreSQL (the record); the tail comes from the stream, and every stream entry names
the previous event of its auction (``prev``), so entries Redis lost (a flush, a restart
without persistence, trimming) are noticed and read back from the outbox: no gap, no
duplicate, always in id order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from redis.exceptions import RedisError

from marketplace import outbox
from marketplace.auctions.service import load_visible
from marketplace.auth import Caller
from marketplace.redis import auction_stream
from marketplace.streams import queries

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
# Below the Redis client's socket timeout (10 s), so a quiet stream is not an error.
BLOCK_MS = 5_000
RETRY_MS = 3_000
PAGE = 500
# Never on a sealed auction's feed before close (none are emitted; this is a second lock).
SEALED_HIDDEN = frozenset({"bid.placed", "auction.extended"})

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

    Sealed auctions say nothing about bids until ``bids.revealed``: a cancellation does not
    tell how many sealed bids it voided.
    """
    if sealed and event_type in SEALED_HIDDEN:
        return None
    event = outbox.stamped(event_id, created_at, payload)
    data = msgspec.to_builtins(event)
    if sealed and event_type == "auction.cancelled":
        data.pop("voided_bids", None)
    return _encoder.encode(data)


def _item(row: Any, sealed: bool) -> FeedItem | None:
    data = feed_data(row["type"], bytes(row["payload"]), row["id"], row["created_at"], sealed)
    return None if data is None else FeedItem(id=row["id"], type=row["type"], data=data)


async def open_feed(pool: Any, caller: Caller | None, auction_id: int) -> bool:
    """Check the caller may see the auction (404 otherwise); True when it is sealed."""
    async with pool.acquire() as conn:
        row = await load_visible(conn, caller, auction_id)
    return bool(row["type"] == "sealed")


async def follow(
    pool: Any, redis: Any, auction_id: int, sealed: bool, after: int
) -> AsyncIterator[FeedItem | None]:
    """The auction's events after ``after``, forever; None now and then as a keep-alive."""
    last = after  # the highest id dealt with (sent, or deliberately left out)
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

    stream = auction_stream(auction_id)
    quiet_since = time.monotonic()
    backoff = 0.0
    while True:
        try:
            answer = await redis.xread({stream: f"{last}-0"}, count=200, block=BLOCK_MS)
            backoff = 0.0
        except (RedisError, OSError) as exc:
            # Redis is away: wait for it (the relay catches up from PostgreSQL meanwhile).
            log.warning("live feed of auction %s cannot read Redis: %s", auction_id, exc)
            backoff = min(max(backoff * 2, 0.2), 5.0)
            await asyncio.sleep(backoff)
            answer = []
        for _, entries in answer or []:
            for raw_id, fields in entries:
                event_id = int(raw_id.split(b"-", 1)[0])
                if event_id <= last:
                    continue
                prev = int(fields.get(b"prev", b"0") or 0)
                if prev > last:
                    # Redis lost something between what we sent and this entry.
                    async with pool.acquire() as conn:
                        missed = await queries.auction_events_between(
                            conn, auction_id, last, event_id
                        )
                    for row in missed:
                        last = row["id"]
                        item = _item(row, sealed)
                        if item is not None:
                            yield item
                last = event_id
                yield FeedItem(id=event_id, type=fields[b"type"].decode(), data=fields[b"data"])
                quiet_since = time.monotonic()
        if time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield None
