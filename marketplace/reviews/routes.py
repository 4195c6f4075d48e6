"""Thin handlers of reviews."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from litestar import Request, get, post

from marketplace.auth import Caller, request_id, roles
from marketplace.db import Pool
from marketplace.params import Limit
from marketplace.reviews import service
from marketplace.reviews.schemas import Review, ReviewIn, ReviewItem
from marketplace.settings import Settings
from marketplace.structs import Page


@get(
    "/api/reviews",
    guards=[roles("reviewer")],
    tags=["reviews"],
    summary="Deliveries awaiting your review, with verification evidence",
)
async def review_queue(pool: Pool, caller: Caller, limit: Limit = 50) -> Page[ReviewItem]:
    return Page(items=await service.review_queue(pool, caller, limit), next=None)


@post(
    "/api/auctions/{auction_id:int}/review",
    guards=[roles("reviewer")],
    tags=["reviews"],
    status_code=200,
    summary="Accept or reject a verified delivery, with a reason",
)
async def review(
    request: Request[Any, Any, Any],
    auction_id: int,
    data: ReviewIn,
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
) -> Review:
    return await service.decide(
        pool, redis, settings, caller, auction_id, data.decision, data.reason, request_id(request)
    )


ROUTES = [review_queue, review]
