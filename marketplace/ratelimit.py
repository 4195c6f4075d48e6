"""Fixed-window request limits kept in Redis (DESIGN §10: 429 with Retry-After).

Sign-up and sign-in count per client address, bids per user. When Redis cannot be reached
in time, a limit that guards credentials or account creation answers 503 (retry shortly);
the bid limit lets the bid through, because PostgreSQL alone decides bids and a Redis
outage must not stop an auction's last minutes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.exceptions import RedisError

from marketplace.errors import ServiceUnavailable, TooManyRequests
from marketplace.redis import RATE_PREFIX

log = logging.getLogger(__name__)

# A limit check must not make a request wait on a Redis that hangs.
REDIS_WAIT_SECONDS = 1.0
UNAVAILABLE_RETRY_AFTER = 2


async def limit(redis: Any, bucket: str, per_minute: int, *, fail_open: bool = False) -> None:
    """Count one request in ``bucket``; 429 with Retry-After once the minute's quota is spent.

    Redis unreachable: let the request through when ``fail_open``, else 503 with Retry-After.
    """
    window = int(time.time() // 60)
    key = f"{RATE_PREFIX}{bucket}:{window}"
    try:
        async with asyncio.timeout(REDIS_WAIT_SECONDS):
            pipe = redis.pipeline(transaction=False)  # INCR then EXPIRE; no MULTI needed
            pipe.incr(key)
            pipe.expire(key, 120)
            count, _ = await pipe.execute()
    except (RedisError, OSError) as exc:  # OSError includes TimeoutError
        if fail_open:
            log.warning("rate limit %s not counted: Redis unavailable (%r)", bucket, exc)
            return
        raise ServiceUnavailable(
            "rate_limit_unavailable",
            "request limits cannot be checked right now; retry shortly",
            retry_after=UNAVAILABLE_RETRY_AFTER,
        ) from exc
    if count > per_minute:
        retry_after = 60 - int(time.time() % 60)
        raise TooManyRequests(
            "rate_limited",
            f"too many requests; try again in {retry_after} s",
            retry_after=retry_after,
        )
