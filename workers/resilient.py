"""arq's Worker, made to wait out a Redis outage instead of exiting.

arq's poll loop lets a Redis connection error escape, which ends ``marketplace worker``
(and with it the relay, the sweeps and the heartbeat) the moment Redis restarts. Here a
failed poll is logged and retried with backoff; jobs caught mid-way run again once Redis
is back (arq runs a job at least once, and our jobs are idempotent), and the background
loops, which handle Redis errors themselves, keep working on PostgreSQL meanwhile.
"""

from __future__ import annotations

import asyncio
import logging

from arq.worker import Worker
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


class ResilientWorker(Worker):
    """A Worker whose poll loop survives Redis being unreachable, restarted or flushed."""

    _backoff = 0.0

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except (RedisError, OSError) as exc:
            self._backoff = min(max(self._backoff * 2, 0.2), MAX_BACKOFF_SECONDS)
            log.warning(
                "Redis unavailable to the worker (%s); retrying in %.1f s", exc, self._backoff
            )
            await asyncio.sleep(self._backoff)
        else:
            if self._backoff:
                log.info("Redis is back; the worker polls again")
            self._backoff = 0.0

    async def close(self) -> None:
        try:
            await super().close()
        except (RedisError, OSError) as exc:  # stopping while Redis is away: still shut down
            log.warning("Redis unavailable while the worker stops (%s)", exc)
            if self.on_shutdown:
                await self.on_shutdown(self.ctx)
