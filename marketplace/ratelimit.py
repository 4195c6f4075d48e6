"""Fixed-window request limits kept in Redis."""

from __future__ import annotations

import time
from typing import Any

from marketplace.errors import TooManyRequests
from marketplace.redis import RATE_PREFIX


async def limit(redis: Any, bucket: str, per_minute: int) -> None:
    """Count one request in ``bucket``; 429 with Retry-After once the minute's quota is spent."""
    window = int(time.time() // 60)
    key = f"{RATE_PREFIX}{bucket}:{window}"
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    count, _ = await pipe.execute()
    if count > per_minute:
        retry_after = 60 - int(time.time() % 60)
        raise TooManyRequests(
            "rate_limited",
            f"too many requests; try again in {retry_after} s",
            retry_after=retry_after,
        )
