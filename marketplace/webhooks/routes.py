"""Thin handlers of department webhooks."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post

from marketplace.auth import Caller, request_id, roles
from marketplace.db import Pool
from marketplace.settings import Settings
from marketplace.structs import Page
from marketplace.webhooks import service
from marketplace.webhooks.schemas import (
    Redeliver,
    Redelivered,
    Webhook,
    WebhookCreate,
    WebhookCreated,
)

GUARD = [roles("buyer", "admin")]


@post("/api/departments/{department_id:int}/webhooks", guards=GUARD, tags=["webhooks"])
async def create_webhook(
    request: Request[Any, Any, Any],
    department_id: int,
    data: WebhookCreate,
    pool: Pool,
    caller: Caller,
    settings: Settings,
) -> WebhookCreated:
    """Register an endpoint; the answer holds the signing secret, shown this once.
    The URL must be https:// to a public address (422 ``webhook_url_not_allowed``)."""
    return await service.create(
        pool, caller, department_id, data.url, request_id(request), settings.webhook_allow_private
    )


@get("/api/departments/{department_id:int}/webhooks", guards=GUARD, tags=["webhooks"])
async def list_webhooks(department_id: int, pool: Pool, caller: Caller) -> Page[Webhook]:
    """The department's webhooks with their status and last delivery (never the secret)."""
    return Page(items=await service.list_for(pool, caller, department_id), next=None)


@delete(
    "/api/departments/{department_id:int}/webhooks/{webhook_id:int}",
    guards=GUARD,
    tags=["webhooks"],
)
async def delete_webhook(
    request: Request[Any, Any, Any], department_id: int, webhook_id: int, pool: Pool, caller: Caller
) -> None:
    await service.delete(pool, caller, department_id, webhook_id, request_id(request))


@post(
    "/api/departments/{department_id:int}/webhooks/{webhook_id:int}/redeliver",
    guards=GUARD,
    tags=["webhooks"],
    status_code=202,
)
async def redeliver(
    request: Request[Any, Any, Any],
    department_id: int,
    webhook_id: int,
    data: Redeliver,
    pool: Pool,
    caller: Caller,
) -> Redelivered:
    """Re-enable a webhook and send one event again, or every undelivered one."""
    return await service.redeliver(
        pool, caller, department_id, webhook_id, data.event_id, request_id(request)
    )


ROUTES = [create_webhook, list_webhooks, delete_webhook, redeliver]
