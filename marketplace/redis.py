"""The Redis client and every key prefix the service uses."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool
from redis.exceptions import TimeoutError as RedisTimeoutError

KEY_PREFIX = "mp:"
WORKER_HEARTBEAT_KEY = KEY_PREFIX + "worker:heartbeat"
RATE_PREFIX = KEY_PREFIX + "rate:"
GLOBAL_STREAM = KEY_PREFIX + "events"
AUCTION_STREAM_PREFIX = KEY_PREFIX + "auction:"
RELAY_CURSOR_KEY = KEY_PREFIX + "relay:cursor"
HUB_WAKE_PREFIX = KEY_PREFIX + "sse-hub:"  # + a process's id: wakes its live feed reader
WEB_SIGNIN_PREFIX = KEY_PREFIX + "web-signin:"  # GitHub sign-in handed to a browser session
ARQ_QUEUE = "arq:queue"


def auction_stream(auction_id: int) -> str:
    return f"{AUCTION_STREAM_PREFIX}{auction_id}:events"


class CancellableWrites:
    """A mixin for redis-py's connection classes: each write is bounded by
    ``asyncio.timeout`` instead of ``asyncio.wait_for``.

    redis-py bounds a write with ``asyncio.wait_for(..., socket_timeout)``. On Python 3.11
    that swallows a cancellation arriving just as the write completes, so a worker loop
    cancelled at that moment carried on, and the worker's shutdown waited for it without
    end (seen as ``test_worker_runs_the_delivery_job`` hanging under load, with the relay
    "cancelling" yet still looping). ``asyncio.timeout`` lets that cancellation through.
    """

    socket_timeout: float | None

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        timeout = self.socket_timeout
        if not timeout:
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
            return
        self.socket_timeout = None  # the parent writes directly; the timeout is ours
        try:
            async with asyncio.timeout(timeout):
                await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except TimeoutError:  # the parent has disconnected on the cancellation
            raise RedisTimeoutError("Timeout writing to socket") from None
        finally:
            self.socket_timeout = timeout


def cancellable(connection_class: type[Any]) -> type[Any]:
    """``connection_class`` (plain, TLS or Unix socket) with ``CancellableWrites``."""
    name = f"Cancellable{connection_class.__name__}"
    return type(name, (CancellableWrites, connection_class), {})


def create_redis(url: str) -> ArqRedis:
    """A Redis client that can also enqueue arq jobs."""
    pool = ConnectionPool.from_url(
        url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
    )
    pool.connection_class = cancellable(pool.connection_class)
    client = ArqRedis(pool)
    client.auto_close_connection_pool = True  # closing the client closes its pool
    return client
