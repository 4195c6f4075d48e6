"""Platform figures served from a snapshot: what GET /api/metrics, /insights and the /metrics
gauges read.

Counting them scans history (``service.compute_metrics``); serving them must not, or one
anonymous request costs seconds once the platform holds 100,000 auctions (issue 27). The
latest snapshot lives in ``figure_snapshots`` (sql/0025_read_scale.sql). It is served while it
is at most ``max_age`` seconds old, or up to ``IDLE_FACTOR`` times that while nothing has been
audited since (every change the figures count writes an audit row). The worker refreshes it
before it goes stale; a request refreshes it only when no worker did, and then only one
request at a time (an advisory lock) while the others are served the previous snapshot.
``max_age`` 0 counts on every request, as before snapshots (the test suite's setting).
"""

from __future__ import annotations

from typing import TypeGuard

import msgspec

from marketplace.db import Conn, Pool, Row
from marketplace.transparency import queries
from marketplace.transparency.schemas import Metrics
from marketplace.transparency.service import compute_metrics

NAME = "platform"
# pg_advisory_xact_lock key of the refresh ("figures" in ASCII).
LOCK = 0x66_69_67_75_72_65_73
# With no audit row since, a snapshot serves this many times max_age. A transaction that
# committed after the snapshot but was given a lower audit id goes unseen by the watermark;
# this bounds how long.
IDLE_FACTOR = 6


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    """One snapshot: the public metrics and every auction status count (drafts too)."""

    metrics: Metrics
    all_by_status: dict[str, int]


async def _compute(conn: Conn) -> tuple[Figures, int]:
    metrics = await compute_metrics(conn)
    all_by_status = await queries.auctions_by_status(conn, published_only=False)
    mark: int = await conn.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
    return Figures(metrics=metrics, all_by_status=all_by_status), mark


async def refresh(pool: Pool, *, wait: bool = False) -> Figures | None:
    """Count the figures and store them as the snapshot. None when another process is
    refreshing right now (unless ``wait``: then after it, counted again)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        if wait:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK)
        elif not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK):
            return None
        figures, mark = await _compute(conn)
        await conn.execute(
            """INSERT INTO figure_snapshots (name, watermark, computed_at, body)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (name) DO UPDATE
               SET watermark = excluded.watermark, computed_at = excluded.computed_at,
                   body = excluded.body""",
            NAME,
            mark,
            figures.metrics.generated_at,
            msgspec.json.encode(figures).decode(),
        )
    return figures


async def _stored(conn: Conn) -> Row | None:
    return await conn.fetchrow(
        """SELECT s.watermark, s.body, extract(epoch FROM now() - s.computed_at)::float8 AS age,
                  (SELECT coalesce(max(id), 0) FROM audit_log) AS mark
           FROM figure_snapshots s WHERE s.name = $1""",
        NAME,
    )


def _usable(row: Row | None, max_age: float) -> TypeGuard[Row]:
    if row is None:
        return False
    age: float = row["age"]
    return age <= max_age or (row["watermark"] == row["mark"] and age <= IDLE_FACTOR * max_age)


def _decode(row: Row) -> Figures:
    return msgspec.json.decode(row["body"], type=Figures)


async def current(pool: Pool, max_age: float) -> Figures:
    """The figures as of at most ``max_age`` seconds ago (see the module's doc)."""
    if max_age <= 0:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            return (await _compute(conn))[0]
    async with pool.acquire() as conn:
        row = await _stored(conn)
    if _usable(row, max_age):
        return _decode(row)
    fresh = await refresh(pool)
    if fresh is not None:
        return fresh
    if row is not None:
        return _decode(row)  # another process is counting: the previous snapshot meanwhile
    waited = await refresh(pool, wait=True)  # the first ever: wait for it
    assert waited is not None
    return waited


async def refresh_if_due(pool: Pool, max_age: float) -> bool:
    """The worker's step: refresh when the snapshot would be stale within half its age."""
    if max_age <= 0:
        return False
    async with pool.acquire() as conn:
        row = await _stored(conn)
    if _usable(row, max_age / 2):
        return False
    return await refresh(pool) is not None
