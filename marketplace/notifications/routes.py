"""Thin handlers: the caller's notifications, and the dead-letter queue (admins)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, get, post
from litestar.params import Parameter

from marketplace.auth import Caller, request_id, roles, signed_in
from marketplace.db import Pool
from marketplace.notifications import inbox, service
from marketplace.notifications.schemas import (
    DeadLetter,
    Notification,
    NotificationsRead,
    ReadCount,
)
from marketplace.params import Cursor, Limit
from marketplace.structs import Page, decode_cursor, page_by_id

DeadStatus = Annotated[
    Literal["dead", "requeued", "redelivered"] | None, Parameter(description="filter by status")
]


@get("/api/admin/dead-letters", guards=[roles("admin")], tags=["admin"])
async def list_dead_letters(
    pool: Pool, limit: Limit = 50, cursor: Cursor = None, status: DeadStatus = None
) -> Page[DeadLetter]:
    """Events a consumer gave up on after repeated failures."""
    after = decode_cursor(cursor, list[int])
    items = await service.list_dead_letters(pool, after[0] if after else 0, limit + 1, status)
    return page_by_id(items, limit)


@post(
    "/api/admin/dead-letters/{dead_letter_id:int}/redeliver",
    guards=[roles("admin")],
    tags=["admin"],
    status_code=202,
)
async def redeliver_dead_letter(
    request: Request[Any, Any, Any], dead_letter_id: int, pool: Pool, caller: Caller
) -> DeadLetter:
    """Hand the event back to its consumer (still handled at most once)."""
    return await service.requeue(pool, caller.actor("admin", request_id(request)), dead_letter_id)


@get(
    "/api/me/notifications",
    guards=[signed_in],
    tags=["notifications"],
    summary="Your notifications, newest first (the words of the mail sent to you)",
)
async def my_notifications(
    pool: Pool,
    caller: Caller,
    limit: Limit = 50,
    cursor: Cursor = None,
    unread: Annotated[bool, Parameter(description="only those not yet read")] = False,
) -> Page[Notification]:
    before = decode_cursor(cursor, list[int])
    items = await inbox.list_mine(pool, caller, before[0] if before else None, limit + 1, unread)
    return page_by_id(items, limit)


@post(
    "/api/me/notifications/read",
    guards=[signed_in],
    tags=["notifications"],
    status_code=200,
    summary="Mark your notifications up to `up_to_id` read",
)
async def read_notifications(data: NotificationsRead, pool: Pool, caller: Caller) -> ReadCount:
    return await inbox.mark_read(pool, caller, data.up_to_id)


ROUTES = [my_notifications, read_notifications, list_dead_letters, redeliver_dead_letter]
