"""The worker's in-progress marks are short leases renewed while a job runs
(workers/resilient.py): a SIGKILLed worker's job runs again within seconds, not after arq's
longest job timeout, and a long job is never taken by a second worker while its own runs."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from arq.constants import in_progress_key_prefix
from arq.worker import func
from redis.exceptions import RedisError

from marketplace.redis import create_redis
from workers.resilient import ResilientWorker

LEASE = 1.0


class ShortLeases(ResilientWorker):
    lease_seconds = LEASE


async def _slow(ctx: dict[str, Any], seconds: float) -> str:
    ctx["runs"].append(seconds)  # the list the test handed in (arq copies ctx per job)
    await asyncio.sleep(seconds)
    return "done"


def _worker(redis_url: str, ctx: dict[str, Any]) -> ShortLeases:
    from arq.connections import RedisSettings

    worker = ShortLeases(
        functions=[func(_slow, name="slow")],
        redis_settings=RedisSettings.from_dsn(redis_url),
        handle_signals=False,
        poll_delay=0.05,
        ctx=ctx,
    )
    return worker


async def _mark_ttl_ms(redis: Any, job_id: str) -> int:
    ttl: int = await redis.pttl(in_progress_key_prefix + job_id)
    return ttl


async def test_a_running_job_keeps_its_lease_and_a_dead_workers_job_runs_again(
    redis_url: str,
) -> None:
    redis = create_redis(redis_url)
    ctx: dict[str, Any] = {"runs": []}
    worker = _worker(redis_url, ctx)
    task = asyncio.create_task(worker.async_run())
    try:
        # A job running four leases long: its mark stays (renewed), never longer than a lease.
        await redis.enqueue_job("slow", 4 * LEASE, _job_id="long")
        for _ in range(500):
            if ctx["runs"]:
                break
            await asyncio.sleep(0.02)
        ttls = []
        for _ in range(14):
            ttls.append(await _mark_ttl_ms(redis, "long"))
            await asyncio.sleep(LEASE / 4)
        assert all(0 < t <= LEASE * 1000 for t in ttls[:12]), ttls
        assert ctx["runs"] == [4 * LEASE], "nobody started the job a second time"

        # A worker killed mid-job leaves its mark; the job runs again once the lease lapses.
        await redis.psetex(in_progress_key_prefix + "orphan", int(LEASE * 1000), b"1")
        await redis.enqueue_job("slow", 0.1, _job_id="orphan")
        for _ in range(200):
            if 0.1 in ctx["runs"]:
                break
            await asyncio.sleep(0.05)
        assert 0.1 in ctx["runs"], "the dead worker's job ran again"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, RedisError):
            await task
        await worker.close()
        await redis.aclose()


async def test_closing_while_a_job_finishes_completes_the_shutdown(redis_url: str) -> None:
    """arq's close() cancels the running jobs and then gathers them; a job cancelled while
    it records its result (a slow Redis, or a loaded machine) raised CancelledError out of
    close(), skipping the shutdown hook (seen as a failed teardown under load). Now close()
    returns and the hook runs."""
    redis = create_redis(redis_url)
    ctx: dict[str, Any] = {"runs": []}
    stopped: list[bool] = []
    finishing = asyncio.Event()

    class SlowToFinish(ShortLeases):
        async def finish_job(self, *args: Any, **kwargs: Any) -> None:
            finishing.set()
            await asyncio.sleep(0.5)
            await super().finish_job(*args, **kwargs)

    async def on_shutdown(_: dict[str, Any]) -> None:
        stopped.append(True)

    from arq.connections import RedisSettings

    worker = SlowToFinish(
        functions=[func(_slow, name="slow")],
        redis_settings=RedisSettings.from_dsn(redis_url),
        handle_signals=False,
        poll_delay=0.05,
        ctx=ctx,
        on_shutdown=on_shutdown,
    )
    task = asyncio.create_task(worker.async_run())
    try:
        await redis.enqueue_job("slow", 0, _job_id="finishing")
        await asyncio.wait_for(finishing.wait(), 30)
        await worker.close()
        assert stopped == [True]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, RedisError):
            await task
        await redis.aclose()
