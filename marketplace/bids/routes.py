"""Thin handlers of bids."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.response.base import ASGIResponse

from marketplace.auth import (
    Caller,
    anyone,
    forget_caller,
    request_id,
    roles,
    roles_rechecked_in_sql,
)
from marketplace.bids import service
from marketplace.bids.schemas import Bid, BidCreate, MyBid
from marketplace.db import Pool
from marketplace.errors import BadRequest, Conflict, Forbidden, Unauthorized, Unprocessable
from marketplace.params import Cursor, Limit
from marketplace.structs import Page, decode_cursor, page_by_id

IdempotencyKey = Annotated[
    str | None,
    Parameter(
        header="Idempotency-Key",
        max_length=200,
        required=False,
        description="retry safely: the same key and body return the original answer",
    ),
]


_encoder = msgspec.json.Encoder()


@post(
    "/api/auctions/{auction_id:int}/bids",
    # place_bid() re-checks the token and the vendor's standing, so the guard may cache.
    guards=[roles_rechecked_in_sql("vendor")],
    tags=["bids"],
    summary="Place a bid",
    # The handler returns the stored answer's bytes (Idempotency-Key replays); document its type.
    responses={201: ResponseSpec(Bid, description="the accepted bid")},
)
async def place_bid(
    request: Request[Any, Any, Any],
    auction_id: int,
    data: BidCreate,
    idempotency_key: IdempotencyKey = None,
) -> ASGIResponse:
    # The busiest route takes the pool, Redis, settings and caller from the app's state, not
    # as dependencies: Litestar resolves several dependencies in an anyio task group per
    # request, a tenth of the API's CPU under bid load (docs/performance.md). It answers
    # with a ready ASGI response, which Litestar passes through, rather than a Response it
    # would convert into one (about 30 us of the ~350 us the route costs in-process).
    state = request.app.state
    # Bids run on a pool of their own, smaller than the general one (app.py says why).
    pool, redis, settings = state.bid_pool, state.redis, state.settings
    caller: Caller = request.scope["user"]  # set by the guard
    if idempotency_key is not None and not idempotency_key.strip():
        raise BadRequest("invalid_idempotency_key", "Idempotency-Key must not be blank")
    await service.count_bid(state.bid_counts, settings.bid_limit_per_minute, caller)
    try:
        answer = await service.place_bid(
            pool, redis, caller, auction_id, data.amount_cents, idempotency_key, request_id(request)
        )
    except (Unauthorized, Forbidden):
        forget_caller(request)  # the cached standing was stale, or is about to be looked at
        raise
    except (Conflict, Unprocessable) as refusal:
        # The everyday answers of a contested auction (too high, already low bidder): the
        # same problem body the error mapper writes, without the exception middleware's cost.
        body = _encoder.encode(refusal.body())
        return ASGIResponse(body=body, status_code=refusal.status, media_type="application/json")
    return ASGIResponse(body=answer.body, status_code=answer.status, media_type="application/json")


@get(
    "/api/auctions/{auction_id:int}/bids",
    guards=[anyone],
    tags=["bids"],
    summary="Bids, veiled: identities hidden until close; sealed bids only to their bidder",
)
async def list_bids(
    auction_id: int, pool: Pool, caller: Caller | None, limit: Limit = 100, cursor: Cursor = None
) -> Page[Bid]:
    after = decode_cursor(cursor, list[int])
    items = await service.list_bids(pool, caller, auction_id, after[0] if after else 0, limit + 1)
    return page_by_id(items, limit)


@get("/api/me/bids", guards=[roles("vendor")], tags=["bids"], summary="Your bids, newest first")
async def my_bids(
    pool: Pool, caller: Caller, limit: Limit = 50, cursor: Cursor = None
) -> Page[MyBid]:
    before = decode_cursor(cursor, list[int])
    items = await service.my_bids(pool, caller, before[0] if before else None, limit + 1)
    return page_by_id(items, limit)


ROUTES = [place_bid, list_bids, my_bids]
