"""Names of the background jobs the API enqueues, and enqueueing after commit.

Job ids are deterministic so a job enqueued twice runs once; the worker's sweep is the
backstop when Redis loses a job or is down at enqueue time.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from arq.connections import ArqRedis

log = logging.getLogger(__name__)

OPEN_AUCTION = "open_auction"
CLOSE_AUCTION = "close_auction"


def open_job_id(auction_id: int) -> str:
    return f"auction:{auction_id}:open"


def close_job_id(auction_id: int, ends_at: dt.datetime) -> str:
    # A soft-close extension moves ends_at, which gives the moved close job a new id.
    return f"auction:{auction_id}:close:{int(ends_at.timestamp() * 1000)}"


async def enqueue(
    redis: ArqRedis, name: str, *args: Any, job_id: str, at: dt.datetime | None
) -> None:
    """Enqueue after commit; a Redis failure is logged, never raised (the sweep catches up)."""
    try:
        await redis.enqueue_job(name, *args, _job_id=job_id, _defer_until=at)
    except Exception as exc:
        log.warning("could not enqueue %s %s (the sweep will catch up): %s", name, job_id, exc)


async def schedule_open(redis: ArqRedis, auction_id: int, starts_at: dt.datetime) -> None:
    await enqueue(redis, OPEN_AUCTION, auction_id, job_id=open_job_id(auction_id), at=starts_at)


async def schedule_close(redis: ArqRedis, auction_id: int, ends_at: dt.datetime) -> None:
    await enqueue(
        redis, CLOSE_AUCTION, auction_id, job_id=close_job_id(auction_id, ends_at), at=ends_at
    )


RELEASE_PAYMENT = "release_payment"


def release_job_id(payment_id: int, attempts: int, reason: str = "") -> str:
    # A failed attempt raises the count, which gives the retry a new id; a release asked for
    # by a decision (a dispute resolved) names it, so a deferred job cannot swallow it.
    suffix = f":{reason}" if reason else ""
    return f"payment:{payment_id}:release:{attempts}{suffix}"


async def schedule_release(
    redis: ArqRedis, payment_id: int, attempts: int, at: dt.datetime | None, reason: str = ""
) -> None:
    await enqueue(
        redis,
        RELEASE_PAYMENT,
        payment_id,
        job_id=release_job_id(payment_id, attempts, reason),
        at=at,
    )


VERIFY_DELIVERY = "verify_delivery"
# A GitHub event stored by the webhook receiver (its name from before the event table was
# named github_events: jobs queued under it still run).
GITHUB_EVENT = "github_delivery_received"


def verify_job_id(delivery_id: int, attempts: int) -> str:
    # ``attempts`` is the number of verdicts recorded on the delivery (error records left out,
    # deliveries/queries.py VERDICTS): triggers that arrive while an attempt is queued share its
    # id; once it records a new state the next gets a new id.
    return f"verify:{delivery_id}:{attempts}"


async def schedule_verification(
    redis: ArqRedis, delivery_id: int, attempts: int, trigger: str, at: dt.datetime | None = None
) -> None:
    await enqueue(
        redis,
        VERIFY_DELIVERY,
        delivery_id,
        trigger,
        job_id=verify_job_id(delivery_id, attempts),
        at=at,
    )
