"""The delivery verification job, its retries, and the periodic re-check.

``verify_delivery`` (job id ``verify:<delivery>:<records>``) runs one attempt. When GitHub is
unreachable, failing or rate limiting us it raises arq's ``Retry`` with a growing delay (or
GitHub's own Retry-After), so an outage postpones verification and never fails a delivery.
``recheck_forever`` re-enqueues every delivery still awaiting verification (missed
webhooks; conditional requests keep it cheap) and the webhook deliveries whose job never
reached the queue. Its period is 30 sweep intervals (``MARKETPLACE_SWEEP_SECONDS``, so 60 s
by default).
"""

from __future__ import annotations

import logging
from typing import Any

from arq import Retry
from arq.connections import ArqRedis

from marketplace import jobs
from marketplace.deliveries import queries
from marketplace.deliveries.verification import run
from marketplace.github import queries as github_queries
from marketplace.github import webhook
from marketplace.github.client import GithubClient
from marketplace.github.errors import GithubError
from workers.loops import every

log = logging.getLogger(__name__)

MAX_TRIES = 12  # about an hour of retries; the re-check keeps trying after that
RECHECK_ROUNDS = 30


def github_of(ctx: dict[str, Any]) -> GithubClient:
    """The worker's GitHub client, made once at start-up (``workers/main.py``), so every job
    shares its connections and its ETag cache. arq hands each job a copy of the worker's
    context: a client made here and stored in that copy would serve one job only."""
    client: GithubClient = ctx["github"]
    return client


def retry_delay(job_try: int, retry_after: float | None) -> float:
    """Exponential backoff from 5 s to 5 min, or GitHub's Retry-After when longer."""
    backoff: float = min(300.0, 5.0 * 2.0 ** max(0, job_try - 1))
    return max(backoff, retry_after or 0.0)


async def verify_delivery(
    ctx: dict[str, Any], delivery_id: int, trigger: str = "submission"
) -> str:
    try:
        outcome = await run(ctx["pool"], github_of(ctx), delivery_id, trigger)
    except GithubError as exc:
        delay = retry_delay(ctx.get("job_try", 1), getattr(exc, "retry_after", None))
        log.warning("verification of delivery %s postponed %.0f s: %s", delivery_id, delay, exc)
        raise Retry(defer=delay) from exc
    log.info("delivery %s (%s): %s", delivery_id, trigger, outcome)
    return outcome


async def enqueue_for(redis: ArqRedis, rows: list[Any], trigger: str) -> int:
    for row in rows:
        await jobs.schedule_verification(redis, row["id"], row["attempts"], trigger)
    return len(rows)


async def recheck_once(ctx: dict[str, Any], webhook_grace_seconds: float = 30.0) -> int:
    """Enqueue verification of every delivery awaiting it, and webhook jobs never queued."""
    redis = ctx["redis_client"]
    async with ctx["pool"].acquire() as conn:
        waiting = await queries.awaiting_verification(conn)
        stranded = await queries.unenqueued_github_events(conn, webhook_grace_seconds)
    count = await enqueue_for(redis, waiting, "recheck")
    for delivery_id in stranded:
        if await webhook.enqueue(redis, delivery_id):
            async with ctx["pool"].acquire() as conn:
                await github_queries.mark_delivery_enqueued(conn, delivery_id)
    return count


recheck_forever = every(
    "verification re-check", lambda s: s.sweep_seconds * RECHECK_ROUNDS, recheck_once
)
