"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from arq.connections import ArqRedis
from litestar import get
from litestar.response import Response

from marketplace.auth import anyone
from marketplace.db import Pool
from marketplace.redis import WORKER_HEARTBEAT_KEY


@get("/health/live", guards=[anyone], tags=["health"], include_in_schema=True)
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", guards=[anyone], tags=["health"])
async def ready(pool: Pool, redis: ArqRedis) -> Response[dict[str, Any]]:
    """200 when PostgreSQL, Redis and at least one worker answer; 503 otherwise."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"down: {type(exc).__name__}"
    try:
        async with asyncio.timeout(2):
            beat = await redis.get(WORKER_HEARTBEAT_KEY)
        checks["redis"] = "ok"
        checks["worker"] = "ok" if beat else "no worker heartbeat"
    except Exception as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
        checks["worker"] = "unknown"
    healthy = all(v == "ok" for v in checks.values())
    return Response(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
    )


ROUTES = [live, ready]
