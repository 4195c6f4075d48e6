"""The outbox relay: committed outbox rows onto Redis streams, exactly once and in order.

Each row goes to the global stream and, when it concerns an auction, to that auction's
stream, with its outbox id as the stream entry id (``<id>-0``). A relay that dies between
XADD and marking the row relayed re-sends it later; Redis refuses an id that is not above
the stream's top ("equal or smaller"), which means "already there".

Ordering: ids are taken when a transaction writes its event, not when it commits, so id 11
may commit before id 10. The relay publishes up to a watermark: the sequence's last value,
read before the relay takes a transaction id of its own; once every transaction older than
that one has finished (``pg_snapshot_xmin``), every row up to the watermark is committed or
gone for good. Transactions own their transaction id before taking an event id
(``outbox_next_id`` in sql/0004_relay.sql), which makes this hold.

One relay at a time: each batch holds a transaction-level advisory lock. Redis down: the
rows stay unrelayed and the relay retries with backoff. Redis restarted empty or flushed
(its cursor key gone): the most recent rows are relayed again, so the streams hold them.
Redis restarted from an older snapshot (its cursor below what was published): the rows
above the cursor are relayed again, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from arq.connections import ArqRedis
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy
from redis.exceptions import ResponseError

from marketplace import outbox
from marketplace.db import Pool
from marketplace.events import encode_event
from marketplace.redis import GLOBAL_STREAM, RELAY_CURSOR_KEY, auction_stream
from marketplace.streams import queries
from marketplace.streams.service import feed_data

log = logging.getLogger(__name__)

BATCH = 500
POLL_SECONDS = 0.2
SETTLE_SECONDS = 0.02
# After a batch that caught up, the relay waits this long before taking the next watermark,
# so that under load each batch carries more rows: a batch costs about eight PostgreSQL and
# three Redis round trips whatever its size, and the stream consumers' reads follow its
# batches. The live feed sees an event at most this much later.
PACE_SECONDS = 0.03
MAX_BACKOFF_SECONDS = 5.0
AUCTION_MAXLEN = 10_000
GLOBAL_MAXLEN = 100_000
# After Redis lost its data: how many of the latest events to put back on the streams.
REPLAY_ROWS = GLOBAL_MAXLEN


def _already_there(result: object) -> bool:
    return isinstance(result, ResponseError) and "equal or smaller" in str(result)


class Relay:
    """Moves outbox rows to the streams in batches; ``relay_once`` is one step."""

    def __init__(self, pool: Pool, redis: ArqRedis) -> None:
        self.pool = pool
        self.redis = redis
        self.watermark: tuple[int, int] | None = None
        # The highest event id known to be on the streams (None: not checked since start).
        self.published: int | None = None

    async def _redis_lost_events(self) -> bool:
        """Whether Redis may hold less than was published (a cheap check before the batch's)."""
        if self.published is None:
            return True
        cursor = await self.redis.get(RELAY_CURSOR_KEY)
        return (0 if cursor is None else int(cursor)) < self.published

    async def relay_once(self) -> int:
        """Relay one batch; the number of rows it published (0: nothing ready)."""
        async with self.pool.acquire() as conn:
            if self.watermark is None:
                if not await queries.any_unrelayed(conn) and not await self._redis_lost_events():
                    return 0
                self.watermark = await queries.take_watermark(conn)
            top, xid = self.watermark
            if not await queries.settled(conn, xid):
                return 0  # checked before the batch's transaction: it is often not, at first
            async with conn.transaction(), self.redis.pipeline(transaction=True) as pipe:
                if not await queries.try_relay_lock(conn):
                    return 0
                # WATCH: a flush or restart between this check and EXEC aborts the batch.
                await pipe.watch(RELAY_CURSOR_KEY)
                cursor = await pipe.get(RELAY_CURSOR_KEY)
                if cursor is None:
                    replayed = await queries.unmark_recent(conn, REPLAY_ROWS)
                    if replayed:
                        log.warning("Redis lost the streams; relaying %s events again", replayed)
                elif self.published is None or int(cursor) < self.published:
                    replayed = await queries.unmark_after(conn, int(cursor))
                    if replayed:
                        log.warning(
                            "Redis came back without the events after %s; relaying %s again",
                            int(cursor),
                            replayed,
                        )
                self.published = 0 if cursor is None else int(cursor)
                rows = await queries.unrelayed(conn, top, BATCH)
                if rows:
                    await _publish(pipe, rows)
                    await queries.mark_relayed(conn, [r["id"] for r in rows])
            if rows:
                self.published = max(self.published, rows[-1]["id"])
            if len(rows) < BATCH:
                self.watermark = None  # caught up to it: the next batch takes a new one
            return len(rows)


async def _publish(pipe: Any, rows: list[Any]) -> None:
    """XADD every row (global stream, auction stream) and move the cursor, atomically."""
    pipe.multi()
    for row in rows:
        entry_id = f"{row['id']}-0"
        payload = bytes(row["payload"])
        event = outbox.stamped(row["id"], row["created_at"], payload)
        fields: dict[str, Any] = {"type": row["type"], "data": encode_event(event)}
        if row["auction_id"] is not None:
            fields["auction_id"] = row["auction_id"]
        pipe.xadd(GLOBAL_STREAM, fields, id=entry_id, maxlen=GLOBAL_MAXLEN, approximate=True)
        if row["auction_id"] is None:
            continue
        sealed = row["auction_type"] == "sealed"
        data = feed_data(row["type"], payload, row["id"], row["created_at"], sealed)
        if data is None:
            continue
        pipe.xadd(
            auction_stream(row["auction_id"]),
            {"type": row["type"], "data": data, "prev": row["prev"] or 0},
            id=entry_id,
            maxlen=AUCTION_MAXLEN,
            approximate=True,
        )
    pipe.set(RELAY_CURSOR_KEY, rows[-1]["id"])
    results = await pipe.execute(raise_on_error=False)
    for result in results:
        if isinstance(result, Exception) and not _already_there(result):
            raise result


class _Listener:
    """A pooled connection LISTENing on the outbox channel; sets ``wake`` on NOTIFY."""

    def __init__(self, pool: Pool, wake: asyncio.Event) -> None:
        self.pool = pool
        self.wake = wake
        self.conn: PoolConnectionProxy[Record] | None = None

    def _notified(self, *_: object) -> None:
        self.wake.set()

    async def ensure(self) -> None:
        if self.conn is not None and not self.conn.is_closed():
            return
        await self.close()
        conn = await self.pool.acquire()
        try:
            await conn.add_listener(queries.NOTIFY_CHANNEL, self._notified)
        except BaseException:
            await self.pool.release(conn)
            raise
        self.conn = conn

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.remove_listener(queries.NOTIFY_CHANNEL, self._notified)
        with contextlib.suppress(Exception):
            await self.pool.release(conn)


async def wait_woken(wake: asyncio.Event, seconds: float) -> None:
    """Wait until ``wake`` is set or ``seconds`` pass.

    Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives as the
    event is set (it returns the inner result instead), so a NOTIFY racing the worker's
    shutdown kept the relay looping and the shutdown waiting on it forever.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()


async def relay_forever(ctx: dict[str, Any]) -> None:
    """Background loop of the worker: wakes on NOTIFY, polls as a backstop, never gives up."""
    pool = ctx["pool"]
    relay = Relay(pool, ctx["redis_client"])
    wake = asyncio.Event()
    listener = _Listener(pool, wake)
    backoff = 0.0
    try:
        while True:
            try:
                await listener.ensure()
                wake.clear()
                moved = await relay.relay_once()
                backoff = 0.0
                if moved and relay.watermark is not None:
                    continue  # a full batch: more rows are ready below the watermark
                if moved:
                    await asyncio.sleep(PACE_SECONDS)
            except Exception as exc:
                backoff = min(max(backoff * 2, POLL_SECONDS), MAX_BACKOFF_SECONDS)
                log.warning("outbox relay failed (%s); retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                continue
            # Waiting for older transactions to finish takes milliseconds: look again soon.
            await wait_woken(wake, SETTLE_SECONDS if relay.watermark is not None else POLL_SECONDS)
    finally:
        await listener.close()
