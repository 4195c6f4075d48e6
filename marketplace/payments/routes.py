"""Thin handlers of payments."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from litestar import Request, get, post, put

from marketplace.auth import Caller, request_id, roles, signed_in
from marketplace.db import Pool
from marketplace.params import Cursor, Limit
from marketplace.payments import disputes, execution, service
from marketplace.payments.schemas import (
    DisputeIn,
    ExecutedIn,
    Payment,
    PaymentDetails,
    PaymentDetailsIn,
    PaymentStatus,
    ResolveIn,
)
from marketplace.structs import Page, decode_cursor, page_by_id


@put(
    "/api/me/payment-details",
    guards=[roles("vendor")],
    tags=["payments"],
    summary="Where your payments go",
)
async def put_payment_details(
    request: Request[Any, Any, Any], data: PaymentDetailsIn, pool: Pool, caller: Caller
) -> PaymentDetails:
    return await service.set_details(pool, caller, data.method, data.reference, request_id(request))


@get("/api/me/payment-details", guards=[roles("vendor")], tags=["payments"])
async def get_payment_details(pool: Pool, caller: Caller) -> PaymentDetails:
    return await service.get_details(pool, caller)


@get(
    "/api/payments",
    guards=[signed_in],
    tags=["payments"],
    summary="Payment orders: finance and admins their scope, payees their own",
)
async def list_payments(
    pool: Pool,
    caller: Caller,
    status: PaymentStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[Payment]:
    before = decode_cursor(cursor, list[int])
    items = await service.list_for(pool, caller, status, before[0] if before else None, limit + 1)
    return page_by_id(items, limit)


@get("/api/payments/{payment_id:int}", guards=[signed_in], tags=["payments"])
async def get_payment(payment_id: int, pool: Pool, caller: Caller) -> Payment:
    return await service.get(pool, caller, payment_id)


@post(
    "/api/payments/{payment_id:int}/confirm",
    guards=[signed_in],
    tags=["payments"],
    status_code=200,
    summary="The payee confirms receipt",
)
async def confirm_payment(
    request: Request[Any, Any, Any], payment_id: int, pool: Pool, caller: Caller
) -> Payment:
    return await service.confirm(pool, caller, payment_id, request_id(request))


@post(
    "/api/payments/{payment_id:int}/dispute",
    guards=[signed_in],
    tags=["payments"],
    summary="The buyer or the payee freezes release, with a reason",
)
async def dispute_payment(
    request: Request[Any, Any, Any], payment_id: int, data: DisputeIn, pool: Pool, caller: Caller
) -> Payment:
    return await disputes.open_dispute(pool, caller, payment_id, data.reason, request_id(request))


@post(
    "/api/payments/{payment_id:int}/resolve",
    guards=[roles("finance", "admin")],
    tags=["payments"],
    status_code=200,
    summary="Finance or an admin resolves a dispute: release or cancel",
)
async def resolve_payment(
    request: Request[Any, Any, Any],
    payment_id: int,
    data: ResolveIn,
    pool: Pool,
    redis: ArqRedis,
    caller: Caller,
) -> Payment:
    return await disputes.resolve_dispute(
        pool, redis, caller, payment_id, data.outcome, data.reason, request_id(request)
    )


@post(
    "/api/payments/{payment_id:int}/executed",
    guards=[roles("finance", "admin")],
    tags=["payments"],
    status_code=200,
    summary="Finance records that a released order was paid out, with its reference",
)
async def record_execution(
    request: Request[Any, Any, Any], payment_id: int, data: ExecutedIn, pool: Pool, caller: Caller
) -> Payment:
    return await execution.record_execution(
        pool, caller, payment_id, data.reference, request_id(request)
    )


ROUTES = [
    put_payment_details,
    get_payment_details,
    list_payments,
    get_payment,
    confirm_payment,
    dispute_payment,
    resolve_payment,
    record_execution,
]
