"""Thin handlers of accounts."""

from __future__ import annotations

from typing import Annotated, Any

from arq.connections import ArqRedis
from litestar import Request, delete, get, patch, post
from litestar.params import Parameter

from marketplace import ratelimit
from marketplace.accounts import email_confirmation, queries, service, vendor_verification
from marketplace.accounts.schemas import (
    Department,
    DepartmentCreate,
    DepartmentPatch,
    SignedUp,
    Signup,
    TokenIssued,
    User,
    UserCreate,
    UserPatch,
    VerificationDecision,
    VerificationRequest,
)
from marketplace.auth import Caller, anyone, request_id, roles, signed_in
from marketplace.db import Pool
from marketplace.params import Cursor, Limit
from marketplace.settings import Settings
from marketplace.structs import Page, decode_cursor, page_by_id


@post("/api/signup", guards=[anyone], tags=["accounts"], summary="Sign up as a vendor")
async def signup(
    request: Request[Any, Any, Any], data: Signup, pool: Pool, redis: ArqRedis, settings: Settings
) -> SignedUp:
    await ratelimit.limit(
        redis, f"signup:{ratelimit.client_address(request)}", settings.signup_limit_per_minute
    )
    return await service.signup(
        pool, data.email, data.name, request_id(request), settings.public_url
    )


@post("/api/departments", guards=[roles("admin")], tags=["accounts"])
async def create_department(
    request: Request[Any, Any, Any],
    data: DepartmentCreate,
    pool: Pool,
    caller: Caller,
    settings: Settings,
) -> Department:
    return await service.create_department(
        pool,
        caller.actor("admin", request_id(request)),
        data.name,
        data.payment_hold_seconds,
        default_hold_seconds=settings.payment_hold_seconds,
    )


@patch("/api/departments/{department_id:int}", guards=[roles("admin")], tags=["accounts"])
async def update_department(
    request: Request[Any, Any, Any],
    department_id: int,
    data: DepartmentPatch,
    pool: Pool,
    caller: Caller,
    settings: Settings,
) -> Department:
    """Set the department's payment hold (``null``: the deployment's default)."""
    return await service.set_department_hold(
        pool,
        caller.actor("admin", request_id(request)),
        department_id,
        data.payment_hold_seconds,
        settings.payment_hold_seconds,
    )


@get("/api/departments", guards=[anyone], tags=["accounts"])
async def list_departments(
    pool: Pool, settings: Settings, limit: Limit = 50, cursor: Cursor = None
) -> Page[Department]:
    after = decode_cursor(cursor, list[int])
    async with pool.acquire() as conn:
        rows = await queries.list_departments(conn, after[0] if after else 0, limit + 1)
    items = [service.department_from_row(r, settings.payment_hold_seconds) for r in rows]
    return page_by_id(items, limit)


@post("/api/users", guards=[roles("admin")], tags=["accounts"])
async def create_user(
    request: Request[Any, Any, Any], data: UserCreate, pool: Pool, caller: Caller
) -> User:
    return await service.create_user(pool, caller.actor("admin", request_id(request)), data)


@get("/api/users", guards=[roles("admin")], tags=["accounts"])
async def list_users(
    pool: Pool,
    limit: Limit = 50,
    cursor: Cursor = None,
    role: Annotated[
        str | None, Parameter(pattern="^(buyer|vendor|reviewer|finance|auditor|admin)$")
    ] = None,
) -> Page[User]:
    after = decode_cursor(cursor, list[int])
    async with pool.acquire() as conn:
        rows = await queries.list_users(conn, after[0] if after else 0, limit + 1, role)
    items = [service.user_from_row(r) for r in rows]
    return page_by_id(items, limit)


@get("/api/users/{user_id:int}", guards=[roles("admin")], tags=["accounts"])
async def get_user(user_id: int, pool: Pool) -> User:
    return await service.get_user(pool, user_id)


@patch(
    "/api/users/{user_id:int}",
    guards=[roles("admin")],
    tags=["accounts"],
    summary="Change a user's roles or department",
)
async def change_user(
    request: Request[Any, Any, Any], user_id: int, data: UserPatch, pool: Pool, caller: Caller
) -> User:
    return await service.change_roles(
        pool, caller.actor("admin", request_id(request)), user_id, data
    )


@post("/api/users/{user_id:int}/tokens", guards=[signed_in], tags=["accounts"])
async def issue_token(
    request: Request[Any, Any, Any], user_id: int, pool: Pool, caller: Caller
) -> TokenIssued:
    return await service.issue_token(pool, caller, user_id, request_id(request))


@delete("/api/tokens/{token_id:int}", guards=[signed_in], tags=["accounts"])
async def revoke_token(
    request: Request[Any, Any, Any], token_id: int, pool: Pool, caller: Caller
) -> None:
    await service.revoke_token(pool, caller, token_id, request_id(request))


@get("/api/me", guards=[signed_in], tags=["accounts"])
async def me(pool: Pool, caller: Caller) -> User:
    return await service.get_me(pool, caller)


@post("/api/me/verification", guards=[roles("vendor")], tags=["accounts"])
async def request_verification(
    request: Request[Any, Any, Any], data: VerificationRequest, pool: Pool, caller: Caller
) -> User:
    return await vendor_verification.request_verification(pool, caller, data, request_id(request))


@post("/api/vendors/{user_id:int}/verification", guards=[roles("admin")], tags=["accounts"])
async def decide_verification(
    request: Request[Any, Any, Any],
    user_id: int,
    data: VerificationDecision,
    pool: Pool,
    caller: Caller,
) -> User:
    actor = caller.actor("admin", request_id(request))
    return await vendor_verification.decide_verification(pool, actor, user_id, data)


@post(
    "/api/me/email-confirmation",
    guards=[signed_in],
    tags=["accounts"],
    status_code=204,
    summary="Mail yourself a new link to confirm your e-mail address",
)
async def send_email_confirmation(
    request: Request[Any, Any, Any], pool: Pool, redis: ArqRedis, settings: Settings, caller: Caller
) -> None:
    await ratelimit.limit(redis, f"confirm-mail:{caller.id}", 3)
    await email_confirmation.send_again(pool, caller, settings.public_url, request_id(request))


ROUTES = [
    signup,
    send_email_confirmation,
    create_department,
    list_departments,
    update_department,
    create_user,
    list_users,
    get_user,
    change_user,
    issue_token,
    revoke_token,
    me,
    request_verification,
    decide_verification,
]
