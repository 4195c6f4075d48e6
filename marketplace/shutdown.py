"""Stopping a process's background loops and closing its pool, each within a bound.

A shutdown that waits without end for a loop that does not stop (a library that swallowed
its cancellation, a query the server never answers) leaves a worker that will not exit and
a supervisor that cannot restart it. Here each step gives up after ``STOP_SECONDS``, says
so in the log, and the process ends anyway: every job and event is at-least-once and
idempotent, so nothing a loop left half done is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from marketplace.db import Pool

log = logging.getLogger(__name__)

STOP_SECONDS = 10.0


async def stop_tasks(
    tasks: Iterable[asyncio.Task[Any]], within: float = STOP_SECONDS
) -> list[BaseException]:
    """Cancel the tasks and wait for them, at most ``within`` seconds in all.

    Returns the exceptions of tasks that had failed (rather than stopped); a task still
    running after ``within`` is logged and left behind.
    """
    tasks = list(tasks)
    if not tasks:
        return []
    for task in tasks:
        task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=within)
    for task in pending:
        log.warning("%r did not stop within %.0f s; left behind", task, within)
    return [
        exc
        for task in tasks
        if task.done() and not task.cancelled() and (exc := task.exception()) is not None
    ]


async def close_context(ctx: dict[str, Any]) -> None:
    """Stop a worker-style context's loops (``tasks``), then its GitHub client, Redis client
    and pool."""
    for exc in await stop_tasks(ctx.get("tasks", [])):
        log.error("a background loop had failed", exc_info=exc)
    if "github" in ctx:
        ctx["github"].close()
    if "redis_client" in ctx:
        await ctx["redis_client"].aclose()
    if "pool" in ctx:
        await close_pool(ctx["pool"])


async def close_pool(pool: Pool, within: float = STOP_SECONDS) -> None:
    """Close an asyncpg pool; terminate its connections if they are not back in time."""
    try:
        async with asyncio.timeout(within):
            await pool.close()
    except TimeoutError:
        log.warning("database connections not released within %.0f s; terminated", within)
        pool.terminate()
