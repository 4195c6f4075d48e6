"""arq's Worker, made to wait out a Redis outage instead of exiting, and to hand the jobs
of a killed worker to another within seconds.

arq's poll loop lets a Redis connection error escape, which ends ``marketplace worker``
(and with it the relay, the sweeps and the heartbeat) the moment Redis restarts. Here a
failed poll is logged and retried with backoff; jobs caught mid-way run again once Redis
is back (arq runs a job at least once, and our jobs are idempotent), and the background
loops, which handle Redis errors themselves, keep working on PostgreSQL meanwhile.

arq marks a started job "in progress" for its longest job timeout plus 10 s (130 s here):
a job whose worker was SIGKILLed waits that long before any worker runs it again (seen as
verifications stuck for two minutes by the worker-kill test). Here the mark is a short
lease that the worker renews while the job runs, so a dead worker's jobs run again within
``LEASE_SECONDS``. A lease lost to a stalled loop at worst runs a job twice in parallel,
which every job here tolerates.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import Any

from arq.constants import in_progress_key_prefix
from arq.worker import Worker
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0
LEASE_SECONDS = 15.0


class ResilientWorker(Worker):
    """A Worker whose poll loop survives Redis being unreachable, restarted or flushed."""

    _backoff = 0.0
    lease_seconds = LEASE_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_progress_timeout_s = self.lease_seconds  # start_jobs sets the mark's TTL to it
        self._renewed_at = 0.0

    async def _renew_leases(self) -> None:
        """Extend the in-progress mark of every job this worker is running."""
        if time.monotonic() - self._renewed_at < self.lease_seconds / 3:
            return
        self._renewed_at = time.monotonic()
        running = [job_id for job_id, task in self.tasks.items() if not task.done()]
        if running:
            async with self.pool.pipeline(transaction=False) as pipe:
                for job_id in running:
                    pipe.pexpire(in_progress_key_prefix + job_id, int(self.lease_seconds * 1000))
                await pipe.execute()

    async def _poll_iteration(self) -> None:
        try:
            await self._renew_leases()
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
        # arq cancels the running jobs and then gathers them without return_exceptions, so
        # a job cancelled mid-way (it runs again: jobs run at least once) raised its
        # CancelledError out of close(), skipping on_shutdown and closing the pool. Let the
        # cancelled jobs finish here, then forget them.
        if not self._handle_signals:
            self.handle_sig(signal.SIGUSR1)
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
        try:
            await super().close()
        except (RedisError, OSError) as exc:  # stopping while Redis is away: still shut down
            log.warning("Redis unavailable while the worker stops (%s)", exc)
            if self.on_shutdown:
                await self.on_shutdown(self.ctx)
