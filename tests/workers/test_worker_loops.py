"""The worker's sweeps (workers/loops.py): a failed round is retried, shutdown ends them."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from marketplace.settings import Settings
from workers.loops import every
from workers.main import BACKGROUND


async def test_a_failing_step_is_retried_and_cancellation_ends_the_loop(
    settings: Settings, caplog: Any
) -> None:
    calls: list[int] = []
    done = asyncio.Event()

    async def step(ctx: dict[str, Any]) -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("PostgreSQL restarting")
        if len(calls) == 3:
            done.set()

    loop = every("test sweep", lambda s: 0.01, step)
    task = asyncio.create_task(loop({"settings": settings}))
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "test sweep failed" in caplog.text and "PostgreSQL restarting" in caplog.text


async def test_an_interval_of_zero_turns_the_loop_off(settings: Settings) -> None:
    async def step(ctx: dict[str, Any]) -> None:
        raise AssertionError("must not run")

    off = msgspec.structs.replace(settings, sweep_seconds=0)
    await asyncio.wait_for(every("off", lambda s: s.sweep_seconds, step)({"settings": off}), 5)


def test_every_sweep_and_the_idempotency_purge_are_named_loops_of_the_worker() -> None:
    names = {getattr(loop, "name", getattr(loop, "__name__", "")) for loop in BACKGROUND}
    assert {
        "auction sweep",
        "scheduling upcoming auctions",
        "idempotency key purge",
        "deadline sweep",
        "payment sweep",
        "verification re-check",
    } <= names
