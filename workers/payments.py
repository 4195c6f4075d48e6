"""The payment release job and the sweep that re-enqueues releases lost with Redis."""

from __future__ import annotations

import logging
from typing import Any

from marketplace import jobs
from marketplace.db import held
from marketplace.payments import queries as payment_queries
from marketplace.payments import service
from marketplace.payments.provider import PaymentProvider
from workers.loops import every

log = logging.getLogger(__name__)


def provider_of(ctx: dict[str, Any]) -> PaymentProvider:
    """The worker's provider, made at start-up (``workers/main.py``). Not made here on first
    use: arq hands each job a copy of the worker's context, so it would last one job."""
    provider: PaymentProvider = ctx["payment_provider"]
    return provider


async def release_payment(ctx: dict[str, Any], payment_id: int) -> str:
    outcome = await service.release(ctx["pool"], payment_id, provider_of(ctx))
    log.info("payment %s: %s", payment_id, outcome)
    if outcome == "failed":
        async with ctx["pool"].acquire() as conn:
            p = held(await payment_queries.get_payment(conn, payment_id), "it was just released")
        await jobs.schedule_release(
            ctx["redis_client"], payment_id, p["attempts"], p["release_after"]
        )
    return outcome


async def sweep_payments_once(ctx: dict[str, Any]) -> int:
    """Enqueue every due release; job ids dedupe what is already queued."""
    async with ctx["pool"].acquire() as conn:
        due = await payment_queries.due_payments(conn)
    for row in due:
        await jobs.schedule_release(ctx["redis_client"], row["id"], row["attempts"], None)
    return len(due)


sweep_payments_forever = every(
    "payment sweep", lambda s: max(1.0, s.sweep_seconds * 2), sweep_payments_once
)
