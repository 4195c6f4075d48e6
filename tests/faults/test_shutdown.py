"""A process's shutdown ends even when a loop will not stop or a connection is not back."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
import pytest

from marketplace.db import create_pool
from marketplace.shutdown import close_pool, stop_tasks


async def test_stop_tasks_gives_up_on_a_loop_that_swallows_its_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.01)

    async def obedient() -> None:
        await asyncio.Event().wait()

    async def failed() -> None:
        raise ValueError("broken loop")

    tasks = [asyncio.create_task(f()) for f in (stubborn, obedient, failed)]
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.WARNING, logger="marketplace.shutdown"):
        errors = await stop_tasks(tasks, within=0.5)
    assert [str(e) for e in errors] == ["broken loop"]
    assert not tasks[0].done() and tasks[1].cancelled()
    assert "did not stop within" in caplog.text and "stubborn" in caplog.text
    release.set()
    await asyncio.wait([tasks[0]], timeout=5)
    assert tasks[0].done()


async def test_close_pool_terminates_connections_not_given_back(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=2)
    held = await pool.acquire()  # never released, as by a loop left behind
    with caplog.at_level(logging.WARNING, logger="marketplace.shutdown"):
        await close_pool(pool, within=0.5)
    assert "terminated" in caplog.text
    with pytest.raises(asyncpg.InterfaceError, match=r"closed|released"):
        await held.fetchval("SELECT 1")
    with pytest.raises(asyncpg.InterfaceError, match="closed"):
        await pool.acquire()
