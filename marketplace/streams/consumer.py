"""Consumer groups on the global event stream that lose nothing and do nothing twice.

Each consumer is a Redis consumer group on ``GLOBAL_STREAM`` (created from "0" the first
time, and again after Redis lost it). An entry is handled in one PostgreSQL transaction that
records ``(consumer, event_id)`` in ``consumer_processed`` together with the side effect's
record (a mail row, a webhook delivery row, a registry check row); only then is it XACKed.
A redelivery after a crash between commit and XACK finds the processed row and does
nothing. Entries left pending by a dead consumer (or by a failed attempt) are reclaimed with
XAUTOCLAIM once idle; an event that keeps failing goes to ``dead_letters`` after
``max_attempts``, where an admin can requeue it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from arq.connections import ArqRedis
from redis.exceptions import ResponseError

from marketplace.db import Pool
from marketplace.events import TAGS, AnyEvent, AuctionEvent, decode_event
from marketplace.notifications import queries
from marketplace.redis import GLOBAL_STREAM

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 1.0
# After a read that found entries but not a full batch, a consumer waits this long before
# the next. A read and its XACK are two Redis round trips whatever their size: under bid
# load, reading as each relayed batch lands took a few entries each time, and the two
# consumers spent a tenth of a CPU in round trips. Events reach mail and webhooks at most
# this much later.
PACE_SECONDS = 0.05


class UnknownEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event whose tag is not in ``AnyEvent`` (one another module emits, or will): its
    tag, id and auction, the only fields every event may be read for, and its raw JSON for
    a consumer that expects more of that tag."""

    type: str
    event_id: int
    auction_id: int | None = None
    raw: bytes


class _Envelope(msgspec.Struct, kw_only=True):
    """What an event of an unknown tag is read for; any other field, of any type, is left."""

    event_id: int
    auction_id: Any = None


# An event as a consumer reads it.
Received = AnyEvent | UnknownEvent


class StreamEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event as consumers see it: its id, tag, raw JSON and the typed event, decoded
    once (an ``UnknownEvent`` for a tag outside the union, so a consumer can subscribe to
    events other modules will emit later)."""

    event_id: int
    type: str
    raw: bytes
    event: Received

    @property
    def auction_id(self) -> int | None:
        """The auction the event is about; None for events about no auction."""
        event = self.event
        return event.auction_id if isinstance(event, AuctionEvent | UnknownEvent) else None


def read_event(event_type: str, raw: bytes) -> StreamEvent:
    """The event of a stream entry (or a dead letter) of that tag and JSON; raises
    ``msgspec.DecodeError`` or ``ValueError`` when the JSON is not an event of its tag."""
    event: Received
    if event_type in TAGS:
        event = decode_event(raw)
    else:
        envelope = msgspec.json.decode(raw, type=_Envelope)
        auction_id = envelope.auction_id
        if not isinstance(auction_id, int) or isinstance(auction_id, bool):
            auction_id = None
        event = UnknownEvent(
            type=event_type, event_id=envelope.event_id, auction_id=auction_id, raw=raw
        )
    if event.event_id <= 0:  # the relay stamps every event with its outbox id
        raise ValueError("the entry's data is not an event")
    return StreamEvent(event_id=event.event_id, type=event_type, raw=raw, event=event)


# A handler writes its side effect's records with the given connection, inside the
# transaction that also marks the event processed.
Handler = Callable[[Any, StreamEvent], Awaitable[None]]
# A read-only look at a read's events: the ids of those the handler would act on.
Wanted = Callable[[Any, list[StreamEvent]], Awaitable[set[int]]]


def parse_entry(fields: dict[bytes, bytes]) -> StreamEvent:
    return read_event(fields[b"type"].decode(), bytes(fields[b"data"]))


def consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class StreamConsumer:
    """One member of a consumer group; ``run_once`` is one step, ``run_forever`` the loop."""

    def __init__(
        self,
        pool: Pool,
        redis: ArqRedis,
        group: str,
        handle: Handler,
        *,
        name: str | None = None,
        batch: int = 50,
        block_ms: int = 500,
        claim_idle_ms: int = 30_000,
        max_attempts: int = 5,
        stream: str = GLOBAL_STREAM,
        tags: frozenset[str] | None = None,
        wanted: Wanted | None = None,
        pace_seconds: float = PACE_SECONDS,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.group = group
        self.handle = handle
        self.name = name or consumer_name()
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_attempts = max_attempts
        self.stream = stream
        # Event types the handler acts on (None: all). Others are acknowledged unread: with
        # no side effect there is nothing to record, so bids cost this consumer no SQL.
        self.tags = tags
        # A read-only look at whether the handler would do anything (one query per read);
        # the entries it would not act on are acknowledged without the transaction that
        # records them processed.
        self.wanted = wanted
        self.pace_seconds = pace_seconds
        self._group_ready = False
        # Requeued dead letters and idle entries are looked for at most this often (a
        # reclaim can only find entries idle for claim_idle_ms anyway), not on every read:
        # at a bid per read that was three statements and a Redis call per event.
        self.housekeeping_seconds = min(claim_idle_ms / 1000, HOUSEKEEPING_SECONDS)
        self._housekeeping_due = 0.0

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            log.info("created consumer group %s on %s", self.group, self.stream)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def run_once(self) -> int:
        """Requeued dead letters, reclaimed idle entries, then new entries; how many handled."""
        if not self._group_ready:
            await self.ensure_group()
        try:
            done = 0
            now = time.monotonic()
            if now >= self._housekeeping_due:
                self._housekeeping_due = now + self.housekeeping_seconds
                done += await self._redeliver_requeued()
                done += await self._reclaim()
            done += await self._read_new()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis was flushed or restarted empty: the relay puts recent events back and
            # the processed rows keep them from being handled twice.
            log.warning("consumer group %s is gone; recreating it", self.group)
            self._group_ready = False
            return 0
        return done

    async def run_forever(self) -> None:
        backoff = 0.0
        while True:
            try:
                handled = await self.run_once()
                backoff = 0.0
            except Exception as exc:
                backoff = min(max(backoff * 2, 0.2), 5.0)
                log.warning("consumer %s failed (%s); retrying in %.1f s", self.group, exc, backoff)
                await asyncio.sleep(backoff)
                continue
            if 0 < handled < self.batch:
                await asyncio.sleep(self.pace_seconds)

    async def _read_new(self) -> int:
        reply = await self.redis.xreadgroup(
            self.group, self.name, {self.stream: ">"}, count=self.batch, block=self.block_ms
        )
        return await self._handle([entry for _, entries in reply or [] for entry in entries])

    async def _reclaim(self) -> int:
        """Take over entries pending longer than the idle time (dead consumer, failed try)."""
        reply = await self.redis.xautoclaim(
            self.stream, self.group, self.name, self.claim_idle_ms, "0-0", count=self.batch
        )
        return await self._handle(reply[1] if reply else [])

    async def _handle(self, entries: list[tuple[Any, dict[bytes, bytes] | None]]) -> int:
        """Handle a read's entries in stream order, then acknowledge in one XACK those done
        with (handled, not ours, unreadable, dead-lettered); how many entries were read."""
        done: list[Any] = []
        events: list[tuple[Any, StreamEvent]] = []
        for entry_id, fields in entries:
            if fields is None:  # trimmed from the stream meanwhile (Redis 6.2 answers None)
                done.append(entry_id)
                continue
            kind = fields.get(b"type")
            if self.tags is not None and kind is not None and kind.decode() not in self.tags:
                done.append(entry_id)  # not ours: acknowledged unread
                continue
            event = await self._parse(entry_id, fields)
            if event is None:
                done.append(entry_id)
            else:
                events.append((entry_id, event))
        if self.wanted is not None and events:
            async with self.pool.acquire() as conn:
                keep = await self.wanted(conn, [event for _, event in events])
            done.extend(entry_id for entry_id, e in events if e.event_id not in keep)
            events = [(entry_id, e) for entry_id, e in events if e.event_id in keep]
        for entry_id, event in events:
            if await self.apply(event):
                done.append(entry_id)
        if done:
            await self._ack(*done)
        return len(entries)

    async def _parse(self, entry_id: Any, fields: dict[bytes, bytes]) -> StreamEvent | None:
        """The entry's event; None when unreadable (dead-lettered as such)."""
        try:
            return parse_entry(fields)
        except (KeyError, ValueError, msgspec.DecodeError) as exc:
            log.error("consumer %s: unreadable entry %s: %s", self.group, entry_id, exc)
            number = int(
                str(entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[0]
            )
            async with self.pool.acquire() as conn:
                await queries.insert_dead_letter(
                    conn, self.group, number, "unreadable", b"", str(exc), 1
                )
            return None

    async def apply(self, event: StreamEvent) -> bool:
        """Handle the event once; True when it is done with (handled, seen, dead-lettered)."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if await queries.mark_processed(conn, self.group, event.event_id):
                    await self.handle(conn, event)
            return True
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            async with self.pool.acquire() as conn, conn.transaction():
                attempts = await queries.record_failure(conn, self.group, event.event_id, error)
                if attempts < self.max_attempts:
                    log.warning(
                        "consumer %s: event %s failed (attempt %s): %s",
                        self.group,
                        event.event_id,
                        attempts,
                        error,
                    )
                    return False  # left pending: reclaimed after the idle time
                await queries.insert_dead_letter(
                    conn, self.group, event.event_id, event.type, event.raw, error, attempts
                )
            log.error("consumer %s: event %s dead-lettered: %s", self.group, event.event_id, error)
            return True

    async def _redeliver_requeued(self) -> int:
        """Dead letters an admin requeued: handle them again (still at most once)."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await queries.take_requeued(conn, self.group, self.batch)
            for row in rows:
                try:
                    event = read_event(row["type"], bytes(row["data"]))
                    async with conn.transaction():  # a savepoint per letter
                        if await queries.mark_processed(conn, self.group, event.event_id):
                            await self.handle(conn, event)
                except Exception as exc:
                    await queries.fail_dead_letter(conn, row["id"], f"{type(exc).__name__}: {exc}")
                    continue
                await queries.resolve_dead_letter(conn, row["id"])
        return len(rows)

    async def _ack(self, *entry_ids: Any) -> None:
        await self.redis.xack(self.stream, self.group, *entry_ids)
