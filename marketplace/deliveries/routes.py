"""Thin handlers of deliveries and verification records."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from litestar import Request, get, post

from marketplace.auth import Caller, request_id, roles, signed_in
from marketplace.db import Pool
from marketplace.deliveries import service
from marketplace.deliveries.schemas import Delivery, DeliveryIn, VerificationReport
from marketplace.params import Cursor, Limit
from marketplace.settings import Settings
from marketplace.structs import decode_cursor


@post(
    "/api/auctions/{auction_id:int}/delivery",
    guards=[roles("vendor")],
    tags=["deliveries"],
    status_code=201,
    summary="The winner submits the pull request that delivers the work",
)
async def submit_delivery(
    request: Request[Any, Any, Any],
    auction_id: int,
    data: DeliveryIn,
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
) -> Delivery:
    """Verification on GitHub starts at once; its records are at ``.../verification``."""
    return await service.submit(
        pool, redis, settings, caller, auction_id, data.pull_request_url, request_id(request)
    )


@get(
    "/api/auctions/{auction_id:int}/verification",
    guards=[signed_in],
    tags=["deliveries"],
    summary="Verification records of the delivery, newest first, with each check's evidence",
)
async def get_verification(
    auction_id: int, pool: Pool, caller: Caller, limit: Limit = 50, cursor: Cursor = None
) -> VerificationReport:
    before = decode_cursor(cursor, int)
    return await service.report(pool, caller, auction_id, before, limit)


ROUTES = [submit_delivery, get_verification]
