"""Builds the arq worker: its jobs, cron sweeps and the background loops it hosts."""

from __future__ import annotations

import asyncio
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker, func

from marketplace import jobs
from marketplace.db import create_pool
from marketplace.github.client import GithubClient
from marketplace.payments.provider import LedgerProvider
from marketplace.redis import create_redis
from marketplace.settings import Settings
from marketplace.shutdown import close_context
from workers import (
    auctions,
    consumers,
    deadlines,
    figures,
    github_app,
    heartbeat,
    payments,
    relay,
    verification,
)
from workers import github as github_jobs
from workers.resilient import ResilientWorker

JOBS: list[Any] = [
    func(auctions.open_auction, name=jobs.OPEN_AUCTION),
    func(auctions.close_auction, name=jobs.CLOSE_AUCTION),
    func(payments.release_payment, name=jobs.RELEASE_PAYMENT),
    func(github_jobs.github_event_received, name=jobs.GITHUB_EVENT),
    func(
        verification.verify_delivery,
        name=jobs.VERIFY_DELIVERY,
        max_tries=verification.MAX_TRIES,
        keep_result=0,  # a finished attempt frees its id at once for the next trigger
    ),
]
CRON_JOBS: list[Any] = []  # the sweeps are loops (workers/loops.py): their interval is a setting
BACKGROUND: list[Any] = [
    heartbeat.beat_forever,
    auctions.sweep_forever,
    auctions.schedule_forever,
    auctions.purge_forever,
    relay.relay_forever,
    payments.sweep_payments_forever,
    verification.recheck_forever,
    github_app.github_app_forever,
    deadlines.sweep_deadlines_forever,
    figures.refresh_figures_forever,
    *consumers.LOOPS,
]


def build_worker(
    settings: Settings,
    database_url: str,
    redis_url: str,
    *,
    handle_signals: bool = True,
    burst: bool = False,
) -> Worker:
    """An arq Worker whose context holds the settings, a pool and a Redis client."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["settings"] = settings
        ctx["pool"] = await create_pool(
            database_url, min_size=1, max_size=8, name="marketplace-worker"
        )
        ctx["redis_client"] = create_redis(redis_url)
        ctx["github"] = GithubClient.from_settings(settings)
        ctx["payment_provider"] = LedgerProvider()
        ctx["tasks"] = [asyncio.create_task(loop(ctx)) for loop in BACKGROUND]

    return ResilientWorker(
        functions=JOBS,
        cron_jobs=CRON_JOBS,
        redis_settings=RedisSettings.from_dsn(redis_url),
        on_startup=startup,
        on_shutdown=close_context,
        handle_signals=handle_signals,
        burst=burst,
        max_jobs=20,
        job_timeout=120,
        keep_result=60,
        poll_delay=0.05,
    )
