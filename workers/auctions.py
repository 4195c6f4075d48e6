"""Jobs that open and close auctions on time, and the sweep that backs them up."""

from __future__ import annotations

import logging
from typing import Any

from marketplace import jobs
from marketplace.auctions import lifecycle
from marketplace.auctions import queries as auction_queries
from marketplace.idempotency import queries as idempotency_queries
from workers.loops import every

log = logging.getLogger(__name__)


async def open_auction(ctx: dict[str, Any], auction_id: int) -> bool:
    opened = await lifecycle.open_auction(ctx["pool"], auction_id)
    if opened:
        log.info("auction %s opened", auction_id)
    return opened


async def close_auction(ctx: dict[str, Any], auction_id: int) -> str | None:
    """Close every auction that is due, in batches, then this one if a bid held it back.

    Auctions tend to end together (on the hour, at the end of a day); the first of their
    jobs closes them all in a few statements, and the jobs after it find nothing to do.
    """
    closed = await lifecycle.close_due(ctx["pool"], ctx["settings"])
    status = await lifecycle.close_auction(ctx["pool"], auction_id, ctx["settings"])
    if closed or status:
        log.info("auction %s closed: %s (%d closed in batches)", auction_id, status, closed)
    return status


async def sweep_once(ctx: dict[str, Any]) -> int:
    """Open and close whatever is due (jobs lost with Redis, or never enqueued)."""
    pool = ctx["pool"]
    async with pool.acquire() as conn:
        to_open = await auction_queries.due_to_open(conn)
        to_close = await auction_queries.due_to_close(conn)
    changed = 0
    for auction_id in to_open:
        changed += await lifecycle.open_auction(pool, auction_id)
    if to_close:
        changed += await lifecycle.close_due(pool, ctx["settings"])
    return changed


async def schedule_upcoming(ctx: dict[str, Any], within_seconds: float = 120.0) -> None:
    """Re-enqueue the precise open/close jobs of what is due soon (ids dedupe repeats)."""
    async with ctx["pool"].acquire() as conn:
        rows = await auction_queries.upcoming(conn, within_seconds)
    redis = ctx["redis_client"]
    for row in rows:
        if row["status"] == "scheduled":
            await jobs.schedule_open(redis, row["id"], row["starts_at"])
        else:
            await jobs.schedule_close(redis, row["id"], row["ends_at"])


async def purge_idempotency_keys(ctx: dict[str, Any]) -> None:
    async with ctx["pool"].acquire() as conn:
        await idempotency_queries.purge_expired(conn)


sweep_forever = every("auction sweep", lambda s: s.sweep_seconds, sweep_once)
# Jobs for auctions opening or closing soon, in case Redis lost them (every 15 sweeps).
schedule_forever = every(
    "scheduling upcoming auctions", lambda s: s.sweep_seconds * 15, schedule_upcoming
)
purge_forever = every(
    "idempotency key purge", lambda s: s.sweep_seconds * 15, purge_idempotency_keys
)
