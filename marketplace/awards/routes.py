"""Thin handlers of awards after the close."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post

from marketplace.auth import Caller, request_id, roles
from marketplace.awards import next_round, service
from marketplace.awards.schemas import Award, DeadlineExtension, DeclineIn, Rerun
from marketplace.db import Pool
from marketplace.params import Cursor, Limit
from marketplace.settings import Settings
from marketplace.structs import Page, decode_cursor, page_by_id


@get("/api/me/awards", guards=[roles("vendor")], tags=["awards"], summary="Your awards")
async def my_awards(
    pool: Pool, caller: Caller, limit: Limit = 50, cursor: Cursor = None
) -> Page[Award]:
    before = decode_cursor(cursor, list[int])
    items = await service.my_awards(pool, caller, before[0] if before else None, limit + 1)
    return page_by_id(items, limit)


@post(
    "/api/auctions/{auction_id:int}/delivery-deadline",
    guards=[roles("admin")],
    tags=["awards"],
    status_code=200,
    summary="Extend the delivery deadline, with a reason",
)
async def extend_deadline(
    request: Request[Any, Any, Any],
    auction_id: int,
    data: DeadlineExtension,
    pool: Pool,
    caller: Caller,
) -> Award:
    return await service.extend_deadline(
        pool, caller, auction_id, data.due_at, data.reason, request_id(request)
    )


@post(
    "/api/auctions/{auction_id:int}/reaward",
    guards=[roles("buyer")],
    tags=["awards"],
    status_code=200,
    summary="After rejected or missed_delivery, award the next runner-up",
)
async def reaward(
    request: Request[Any, Any, Any],
    auction_id: int,
    pool: Pool,
    settings: Settings,
    caller: Caller,
) -> Award:
    return await next_round.reaward(pool, settings, caller, auction_id, request_id(request))


@post(
    "/api/auctions/{auction_id:int}/decline",
    guards=[roles("vendor")],
    tags=["awards"],
    status_code=200,
    summary="The winner declines an award not yet delivered",
)
async def decline(
    request: Request[Any, Any, Any], auction_id: int, data: DeclineIn, pool: Pool, caller: Caller
) -> Award:
    return await service.decline(pool, caller, auction_id, data.reason, request_id(request))


@post(
    "/api/auctions/{auction_id:int}/rerun",
    guards=[roles("buyer")],
    tags=["awards"],
    summary="Re-run a task that found no winner as a new draft copied from it",
)
async def rerun(
    request: Request[Any, Any, Any], auction_id: int, pool: Pool, caller: Caller
) -> Rerun:
    return await next_round.rerun(pool, caller, auction_id, request_id(request))


ROUTES = [my_awards, extend_deadline, reaward, decline, rerun]
