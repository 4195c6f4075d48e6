"""The service's Redis client: a loop cancelled in the middle of Redis commands stops."""

from __future__ import annotations

import asyncio
import random

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from marketplace.redis import cancellable, create_redis


async def test_a_loop_of_redis_commands_stops_when_cancelled(redis_url: str) -> None:
    """Cancelled at a random point of a command, the loop ends instead of going on.

    redis-py's own write timeout (``asyncio.wait_for``) swallowed such a cancellation on
    Python 3.11 in more than half of these tries; a worker background loop that lost its
    cancellation kept its worker's shutdown waiting for ever.
    """
    client = create_redis(redis_url)

    async def commands_forever() -> None:
        while True:
            await client.get("mp:test:key")

    still_running = 0
    try:
        for _ in range(100):
            task = asyncio.create_task(commands_forever())
            for _ in range(random.randint(1, 30)):
                await asyncio.sleep(0)
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=1.0)
            if not done:
                still_running += 1
                while not task.done():  # stop it for good before the next try
                    task.cancel()
                    await asyncio.wait([task], timeout=0.1)
            else:
                with pytest.raises(asyncio.CancelledError):
                    task.result()
    finally:
        await client.aclose()
    assert still_running == 0


async def test_writes_keep_their_timeout(redis_url: str) -> None:
    client = create_redis(redis_url)
    try:
        assert await client.set("mp:test:key", "1")
        assert await client.get("mp:test:key") == b"1"
        connection = await client.connection_pool.get_connection()
        try:
            assert connection.socket_timeout == 10  # restored after each write
        finally:
            await client.connection_pool.release(connection)
    finally:
        await client.aclose()


async def test_a_write_the_server_never_reads_times_out() -> None:
    """The write timeout still holds: a server that stops reading fails the write."""
    accepted: list[asyncio.StreamWriter] = []

    async def never_read(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = ConnectionPool.from_url(
        f"redis://127.0.0.1:{port}/0", socket_timeout=0.5, lib_name=None, lib_version=None
    )
    pool.connection_class = cancellable(pool.connection_class)
    client = Redis.from_pool(pool)
    try:
        with pytest.raises(RedisTimeoutError, match="writing"):
            await client.set("mp:test:big", b"x" * 64_000_000)
    finally:
        await client.aclose()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
