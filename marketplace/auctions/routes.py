"""Thin handlers of auctions."""

from __future__ import annotations

from typing import Annotated, Any

from arq.connections import ArqRedis
from litestar import Request, get, patch, post
from litestar.params import Parameter

from marketplace import ratelimit
from marketplace.auctions import service
from marketplace.auctions.schemas import (
    Auction,
    AuctionCreate,
    AuctionPatch,
    CancelRequest,
    Sort,
    Status,
)
from marketplace.auth import Caller, anyone, request_id, roles
from marketplace.db import Pool
from marketplace.params import Cursor, Limit, Search
from marketplace.settings import Settings
from marketplace.structs import Page, decode_cursor, encode_cursor


@post("/api/auctions", guards=[roles("buyer")], tags=["auctions"], summary="Create a draft task")
async def create_auction(
    request: Request[Any, Any, Any],
    data: AuctionCreate,
    pool: Pool,
    settings: Settings,
    caller: Caller,
) -> Auction:
    return await service.create(pool, settings, caller, data, request_id(request))


@patch(
    "/api/auctions/{auction_id:int}",
    guards=[roles("buyer")],
    tags=["auctions"],
    summary="Edit a draft",
)
async def update_auction(
    request: Request[Any, Any, Any],
    auction_id: int,
    data: AuctionPatch,
    pool: Pool,
    settings: Settings,
    caller: Caller,
) -> Auction:
    return await service.update(pool, settings, caller, auction_id, data, request_id(request))


@post(
    "/api/auctions/{auction_id:int}/publish",
    guards=[roles("buyer")],
    tags=["auctions"],
    status_code=200,
    summary="Publish a draft: scheduled, or open if its start has come",
)
async def publish_auction(
    request: Request[Any, Any, Any],
    auction_id: int,
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
) -> Auction:
    return await service.publish(pool, redis, settings, caller, auction_id, request_id(request))


@post(
    "/api/auctions/{auction_id:int}/cancel",
    guards=[roles("buyer")],
    tags=["auctions"],
    status_code=200,
    summary="Cancel a draft, scheduled or open auction; bids are voided",
)
async def cancel_auction(
    request: Request[Any, Any, Any],
    auction_id: int,
    data: CancelRequest,
    pool: Pool,
    caller: Caller,
) -> Auction:
    return await service.cancel(pool, caller, auction_id, data.reason, request_id(request))


@get("/api/auctions", guards=[anyone], tags=["auctions"], summary="Published auctions")
async def list_auctions(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller | None,
    status: Status | None = None,
    department_id: Annotated[int | None, Parameter(ge=1)] = None,
    skill: Annotated[str | None, Parameter(max_length=40)] = None,
    q: Search = None,
    sort: Sort = "ending_soon",
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[Auction]:
    await ratelimit.limit_listing(request, redis, settings, caller, q and q.strip())
    after = decode_cursor(cursor, list[Any])
    if after is not None and (len(after) != 3 or after[0] != sort):
        from marketplace.errors import BadRequest

        raise BadRequest("invalid_cursor", "the cursor belongs to another sort order")
    items, next_key = await service.list_page(
        pool,
        caller,
        status=status,
        department_id=department_id,
        skill=skill,
        q=q,
        sort=sort,
        after=after[1:] if after else None,
        limit=limit,
    )
    return Page(items=items, next=encode_cursor(sort, *next_key) if next_key else None)


@get("/api/auctions/{auction_id:int}", guards=[anyone], tags=["auctions"])
async def get_auction(auction_id: int, pool: Pool, caller: Caller | None) -> Auction:
    return await service.get(pool, caller, auction_id)


ROUTES = [
    create_auction,
    update_auction,
    publish_auction,
    cancel_auction,
    list_auctions,
    get_auction,
]
