"""Public transparency pages: award notices and platform insights (the pages of
``GET /api/awards`` and ``GET /api/metrics``; ``/metrics`` is Prometheus's)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from marketplace.auth import Caller
from marketplace.db import Pool
from marketplace.settings import Settings
from marketplace.structs import ZonedTime, decode_cursor, encode_cursor
from marketplace.transparency import figures
from marketplace.transparency import service as transparency
from marketplace.web.common import render
from marketplace.web.people import all_departments

PAGE_SIZE = 25


@get("/awards", name="web:awards")
async def awards(
    request: Request[Any, Any, Any],
    pool: Pool,
    settings: Settings,
    viewer: Caller | None,
    department: str | None = None,
    history: str | None = None,
    cursor: str | None = None,
) -> Template:
    departments = await all_departments(pool)
    department_id = int(department) if department and department.isdigit() else None
    if department_id not in {d.id for d in departments}:
        department_id = None
    key = decode_cursor(cursor, tuple[ZonedTime, int])
    items, next_key = await transparency.award_page(
        pool,
        settings,
        department_id=department_id,
        since=None,
        until=None,
        include_history=history == "1",
        after=key,
        limit=PAGE_SIZE,
    )
    filters = {"department": str(department_id or ""), "history": "1" if history == "1" else ""}
    filters = {k: v for k, v in filters.items() if v}
    return render(
        request,
        viewer,
        "awards.html",
        awards=items,
        departments=departments,
        filters=filters,
        next_cursor=encode_cursor(*next_key) if next_key else None,
        first_page=key is None,
    )


def _duration(seconds: float | None) -> str:
    """Seconds as days and hours: 183600 -> "2 days 3 hours"."""
    if seconds is None:
        return "not measured yet"
    days, rest = divmod(int(seconds), 86_400)
    hours = rest // 3600
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    return " ".join(parts)


@get("/insights", name="web:insights")
async def insights(
    request: Request[Any, Any, Any], pool: Pool, settings: Settings, viewer: Caller | None
) -> Template:
    counted = (await figures.current(pool, settings.figures_max_age_seconds)).metrics
    return render(
        request,
        viewer,
        "insights.html",
        m=counted,
        delivery_mean=_duration(counted.delivery.award_to_delivery_mean_seconds),
        delivery_median=_duration(counted.delivery.award_to_delivery_median_seconds),
    )


ROUTES = [awards, insights]
