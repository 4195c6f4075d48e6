"""The worker's heartbeat, read by /health/ready."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from marketplace.redis import WORKER_HEARTBEAT_KEY

log = logging.getLogger(__name__)

INTERVAL = 2.0
TTL = 10


async def beat_forever(ctx: dict[str, Any]) -> None:
    """Refresh the heartbeat key every couple of seconds while the worker lives."""
    redis = ctx["redis_client"]
    who = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        try:
            await redis.set(WORKER_HEARTBEAT_KEY, who, ex=TTL)
        except Exception as exc:  # Redis down: keep trying, readiness reports it meanwhile
            log.warning("heartbeat failed: %s", exc)
        await asyncio.sleep(INTERVAL)
