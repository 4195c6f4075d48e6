"""Thin handlers of transparency: award notices, metrics, department spend, /metrics."""

from __future__ import annotations

from typing import Annotated

from arq.connections import ArqRedis
from litestar import Response, get
from litestar.params import Parameter

from marketplace.auth import Caller, anyone, roles
from marketplace.db import Pool
from marketplace.params import Cursor, From, Limit, To, parse_period
from marketplace.settings import Settings
from marketplace.structs import Page, ZonedTime, decode_cursor, encode_cursor
from marketplace.transparency import figures, prom, service, spend
from marketplace.transparency.schemas import Metrics, PeriodUnit, PublicAward, Spend
from marketplace.transparency.scrape import metrics_scraper

DepartmentFilter = Annotated[
    int | None, Parameter(ge=1, le=9_223_372_036_854_775_807, description="one department's")
]


@get(
    "/api/awards",
    guards=[anyone],
    tags=["transparency"],
    summary="Award notices of closed auctions, newest first",
)
async def list_awards(
    pool: Pool,
    settings: Settings,
    department_id: DepartmentFilter = None,
    since: From = None,
    until: To = None,
    include_history: Annotated[
        bool, Parameter(description="also earlier rounds of re-awarded auctions")
    ] = False,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[PublicAward]:
    """The latest award of each closed auction (every round with include_history)."""
    start, end = parse_period(since, until)
    key = decode_cursor(cursor, tuple[ZonedTime, int])
    items, next_key = await service.award_page(
        pool,
        settings,
        department_id=department_id,
        since=start,
        until=end,
        include_history=include_history,
        after=key,
        limit=limit,
    )
    return Page(items=items, next=encode_cursor(*next_key) if next_key else None)


@get("/api/metrics", guards=[anyone], tags=["transparency"], summary="Platform metrics")
async def platform_metrics(pool: Pool, settings: Settings) -> Metrics:
    """Counts, success rate, bids, winning bids, savings and delivery times, with definitions;
    at most MARKETPLACE_FIGURES_MAX_AGE_SECONDS old (``generated_at`` says when counted)."""
    return (await figures.current(pool, settings.figures_max_age_seconds)).metrics


@get(
    "/api/departments/{department_id:int}/spend",
    guards=[roles("buyer", "finance", "auditor", "admin")],
    tags=["transparency"],
    summary="A department's spend per period against the micro-purchase threshold",
)
async def department_spend(
    department_id: int,
    pool: Pool,
    settings: Settings,
    caller: Caller,
    period: PeriodUnit = "month",
    since: From = None,
    until: To = None,
) -> Spend:
    """Its buyers, its (or central) finance, auditors and admins; periods in the local zone."""
    start, end = parse_period(since, until)
    return await spend.spend(pool, settings, caller, department_id, period, start, end)


@get(
    "/metrics",
    guards=[metrics_scraper],
    tags=["health"],
    summary="Prometheus metrics (text 0.0.4): the metrics token, or this host only",
)
async def prometheus_metrics(pool: Pool, redis: ArqRedis, settings: Settings) -> Response[str]:
    """HTTP counters of the answering process and marketplace gauges read at scrape time.
    With MARKETPLACE_METRICS_TOKEN set it needs ``Authorization: Bearer <that token>``;
    unset, it answers clients on this host only."""
    text = await prom.scrape(pool, redis, settings.figures_max_age_seconds)
    return Response(text, media_type=prom.CONTENT_TYPE)


ROUTES = [list_awards, platform_metrics, department_spend, prometheus_metrics]
