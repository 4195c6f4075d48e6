"""The worker's periodic sweeps: one shape for every "do this, then wait, for ever" loop.

A step that raises is logged and tried again at the next interval: a sweep is a backstop,
and one failed round (PostgreSQL restarting, Redis away) must not end it. Cancellation, the
worker's shutdown, always ends it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from marketplace.settings import Settings

log = logging.getLogger(__name__)

Context = dict[str, Any]


@dataclass(frozen=True)
class Every:
    """``step(ctx)`` every ``interval(settings)`` seconds; an interval of 0 or less turns the
    loop off."""

    name: str
    interval: Callable[[Settings], float]
    step: Callable[[Context], Awaitable[object]]

    async def __call__(self, ctx: Context) -> None:
        interval = self.interval(ctx["settings"])
        if interval <= 0:
            return
        while True:
            try:
                await self.step(ctx)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; retrying in %.1f s", self.name, interval)
            await asyncio.sleep(interval)


def every(
    name: str, interval: Callable[[Settings], float], step: Callable[[Context], Awaitable[object]]
) -> Every:
    return Every(name, interval, step)
