"""Request limits kept in Redis (DESIGN §10: 429 with Retry-After).

Sign-up and sign-in count per client address, bids per user. ``limit`` keeps a sliding
minute: a request goes through when fewer than the limit went through in the 60 seconds
before it, so no client gets twice its quota across the turn of a clock minute, and
Retry-After says when the oldest of them leaves the window. The bid limit keeps clock
minutes (``BatchedCounts``, below) because it is counted in batches. When Redis cannot be reached
in time, a limit that guards credentials or account creation answers 503 (retry shortly);
the bid limit lets the bid through, because PostgreSQL alone decides bids and a Redis
outage must not stop an auction's last minutes.

The bid limit is counted in batches (``BatchedCounts``): a Redis round trip per bid was an
eighth of the API's CPU under bid load (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from arq.connections import ArqRedis
from redis.exceptions import NoScriptError, RedisError

from marketplace.errors import ServiceUnavailable, TooManyRequests
from marketplace.redis import RATE_PREFIX

if TYPE_CHECKING:
    from litestar import Request

    from marketplace.auth import Caller
    from marketplace.settings import Settings

log = logging.getLogger(__name__)

# A limit check must not make a request wait on a Redis that hangs.
REDIS_WAIT_SECONDS = 1.0
UNAVAILABLE_RETRY_AFTER = 2


# One script, so two requests racing for the last place cannot both take it. The window is
# a sorted set of the requests let through, scored by Redis's own clock in microseconds (one
# clock for every API process); a refused request is not added, so a client that keeps
# trying is let through again a minute after its quota began. The answer: 0 when let
# through, else the microseconds until the oldest request in the window leaves it.
_SLIDING_MINUTE = """
local key, limit, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, math.ceil(window / 1000))
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""
WINDOW_MICROSECONDS = 60_000_000
_SLIDING_MINUTE_SHA = hashlib.sha1(_SLIDING_MINUTE.encode()).hexdigest()


async def _sliding_minute(redis: ArqRedis, key: str, per_minute: int) -> int:
    """Run the script by its hash (one short command); a Redis that does not hold it yet (new
    or restarted) is sent the script once, which it then keeps."""
    args = (key, str(per_minute), str(WINDOW_MICROSECONDS), secrets.token_hex(8))
    try:
        return int(await cast("Awaitable[int]", redis.evalsha(_SLIDING_MINUTE_SHA, 1, *args)))
    except NoScriptError:
        return int(await cast("Awaitable[int]", redis.eval(_SLIDING_MINUTE, 1, *args)))


async def limit(redis: ArqRedis, bucket: str, per_minute: int, *, fail_open: bool = False) -> None:
    """Count one request in ``bucket``; 429 with Retry-After once ``per_minute`` requests went
    through in the last 60 seconds.

    Redis unreachable: let the request through when ``fail_open``, else 503 with Retry-After.
    """
    key = f"{RATE_PREFIX}{bucket}"
    try:
        async with asyncio.timeout(REDIS_WAIT_SECONDS):
            wait = await _sliding_minute(redis, key, per_minute)
    except (RedisError, OSError) as exc:  # OSError includes TimeoutError
        if fail_open:
            log.warning("rate limit %s not counted: Redis unavailable (%r)", bucket, exc)
            return
        raise ServiceUnavailable(
            "rate_limit_unavailable",
            "request limits cannot be checked right now; retry shortly",
            retry_after=UNAVAILABLE_RETRY_AFTER,
        ) from exc
    if wait:
        raise _too_many(retry_after=-(-wait // 1_000_000))


async def _count(redis: ArqRedis, counts: list[tuple[str, int]]) -> list[int]:
    """Add each count to its key (kept two minutes) in one pipeline; the keys' new totals.

    Raises RedisError or OSError (TimeoutError after ``REDIS_WAIT_SECONDS``)."""
    async with asyncio.timeout(REDIS_WAIT_SECONDS):
        pipe = redis.pipeline(transaction=False)  # INCRBY then EXPIRE; no MULTI needed
        for key, count in counts:
            pipe.incrby(key, count)
            pipe.expire(key, 120)
        answers: list[int] = await pipe.execute()
    return answers[::2]


def _too_many(retry_after: int | None = None) -> TooManyRequests:
    """The 429; without ``retry_after``, the wait until the clock minute turns."""
    if retry_after is None:
        retry_after = 60 - int(time.time() % 60)
    return TooManyRequests(
        "rate_limited", f"too many requests; try again in {retry_after} s", retry_after=retry_after
    )


# A batch of counts goes to Redis at most this often (and with the request that notices).
FLUSH_SECONDS = 0.5


@dataclass
class _Bucket:
    total: int  # the count across processes, as Redis last answered it
    pending: int = 0  # counted here, not yet sent to Redis


class BatchedCounts:
    """A fail-open per-minute limit (the bid limit) counted per process and sent to Redis in
    batches, per clock minute (a key per bucket and minute).

    The first request of a bucket in a minute, and every request once the bucket is past
    half its limit, is counted in Redis at once, as ``limit`` does. Below that a request is
    counted here, and the first request ``FLUSH_SECONDS`` after the last batch sends every
    bucket's count in one pipeline, whose answers give each total across processes. A
    bucket holds at most ``per_minute // 20`` uncounted requests. So one process is exact,
    and N processes can let through at most N x that many requests more than the limit
    before each sees the total.
    """

    def __init__(self, redis: ArqRedis) -> None:
        self._redis = redis
        self._buckets: dict[str, _Bucket] = {}
        self._flushed = time.monotonic()
        self._flushing = False
        self._minute = int(time.time() // 60)

    def __len__(self) -> int:
        """How many buckets this process holds (this minute's and those not yet sent)."""
        return len(self._buckets)

    async def limit(self, bucket: str, per_minute: int) -> None:
        """Count one request in ``bucket``; 429 with Retry-After once the minute's quota is
        spent; with Redis unreachable the request goes through."""
        if time.monotonic() - self._flushed >= FLUSH_SECONDS and not self._flushing:
            await self.flush()
        key = f"{RATE_PREFIX}{bucket}:{int(time.time() // 60)}"
        held = self._buckets.get(key)
        if (
            held is not None
            and held.total + held.pending < per_minute // 2
            and held.pending < per_minute // 20
        ):
            held.pending += 1
            return
        if held is None:
            held = self._buckets[key] = _Bucket(total=0)
        count, held.pending = held.pending + 1, 0
        try:
            [total] = await _count(self._redis, [(key, count)])
        except (RedisError, OSError) as exc:
            held.pending += count  # counted when Redis answers again
            log.warning("rate limit %s not counted: Redis unavailable (%r)", bucket, exc)
            return
        held.total = max(held.total, total)
        if total > per_minute:
            raise _too_many()

    async def flush(self) -> None:
        """Send every bucket's uncounted requests to Redis in one pipeline; forget buckets of
        past minutes."""
        self._flushing = True
        try:
            minute = int(time.time() // 60)
            if minute != self._minute:  # a new minute: forget the settled buckets of the last
                self._minute = minute
                for key in [k for k, b in self._buckets.items() if not b.pending]:
                    if int(key.rsplit(":", 1)[1]) < minute:
                        del self._buckets[key]
            sent = [(key, b, b.pending) for key, b in self._buckets.items() if b.pending]
            if not sent:
                return
            for _, held, count in sent:
                held.pending -= count
            try:
                totals = await _count(self._redis, [(key, count) for key, _, count in sent])
            except (RedisError, OSError) as exc:
                for _, held, count in sent:
                    held.pending += count
                log.warning("rate limit counts not sent: Redis unavailable (%r)", exc)
                return
            for (_, held, _), total in zip(sent, totals, strict=True):
                held.total = max(held.total, total)
        finally:
            self._flushed = time.monotonic()
            self._flushing = False


def client_address(request: Request[Any, Any, Any]) -> str:
    """The address limits count per: the peer, or the forwarded client behind a trusted
    proxy (the server rewrites the peer from MARKETPLACE_TRUSTED_PROXIES)."""
    return request.client.host if request.client else "unknown"


async def limit_listing(
    request: Request[Any, Any, Any],
    redis: ArqRedis,
    settings: Settings,
    caller: Caller | None,
    q: Any,
) -> None:
    """Count a list request (a search when ``q``): per user when signed in, else per client
    address. Listing only reads, so with Redis unreachable it goes through uncounted."""
    who = f"user:{caller.id}" if caller else f"addr:{client_address(request)}"
    if q:
        await limit(redis, f"search:{who}", settings.search_limit_per_minute, fail_open=True)
    else:
        await limit(redis, f"list:{who}", settings.list_limit_per_minute, fail_open=True)
