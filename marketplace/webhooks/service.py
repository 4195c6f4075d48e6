"""The rules of department webhooks; each function owns its transaction."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from marketplace import outbox, policy
from marketplace.audit.record import record
from marketplace.auth import Caller
from marketplace.db import Conn, Pool, Row, held
from marketplace.errors import BadRequest, Forbidden, NotFound, Unprocessable
from marketplace.events import encode_event
from marketplace.webhooks import egress, queries
from marketplace.webhooks.schemas import Redelivered, Webhook, WebhookCreated

SECRET_PREFIX = "whsec_"


def webhook_from_row(row: Row) -> Webhook:
    return Webhook(
        id=row["id"],
        department_id=row["department_id"],
        url=row["url"],
        status=row["status"],
        consecutive_failures=row["consecutive_failures"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
        last_delivery_at=row["last_delivery_at"],
        last_status_code=row["last_status_code"],
        last_error=egress.shown_error(row["last_error"]),
        pending_deliveries=row["pending_deliveries"],
        failed_deliveries=row["failed_deliveries"],
    )


def check_url(url: str) -> str:
    """http(s) URLs with a host only; anything else is a 400 naming the field."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or any(c.isspace() for c in url)
    ):
        raise BadRequest(
            "invalid_webhook_url", "url must be an http:// or https:// URL with a host", field="url"
        )
    return url


async def _allowed(conn: Conn, caller: Caller, department_id: int) -> str:
    """The role the caller acts in: admin, or a buyer of this department."""
    if not await queries.department_exists(conn, department_id):
        raise NotFound("department_not_found", "no such department")
    if caller.has("admin"):
        return "admin"
    if policy.buys_for(caller, department_id):
        return "buyer"
    raise Forbidden(
        "not_your_department", "only this department's buyers and admins manage its webhooks"
    )


async def check_destination(url: str, allow_private: bool) -> None:
    """422 unless the URL is https:// to a host whose every address is public (egress.py)."""
    try:
        await egress.check_destination(url, allow_private)
    except egress.NotAllowed as exc:
        raise Unprocessable("webhook_url_not_allowed", str(exc), field="url") from None


async def create(
    pool: Pool,
    caller: Caller,
    department_id: int,
    url: str,
    request_id: str,
    allow_private: bool = False,
) -> WebhookCreated:
    url = check_url(url)
    # Who asks is checked before the host is looked up (outsiders learn nothing of DNS),
    # and the lookup holds no transaction open.
    async with pool.acquire() as conn:
        await _allowed(conn, caller, department_id)
    await check_destination(url, allow_private)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        role = await _allowed(conn, caller, department_id)
        webhook_id = await queries.insert_webhook(conn, department_id, url, secret, caller.id)
        await record(
            conn,
            caller.actor(role, request_id),
            "webhook.created",
            "webhook",
            webhook_id,
            after={"department_id": department_id, "url": url},
        )
    return WebhookCreated(
        id=webhook_id, department_id=department_id, url=url, status="active", secret=secret
    )


async def list_for(pool: Pool, caller: Caller, department_id: int) -> list[Webhook]:
    async with pool.acquire() as conn:
        await _allowed(conn, caller, department_id)
        rows = await queries.list_webhooks(conn, department_id)
    return [webhook_from_row(r) for r in rows]


async def delete(
    pool: Pool, caller: Caller, department_id: int, webhook_id: int, request_id: str
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        role = await _allowed(conn, caller, department_id)
        if not await queries.delete_webhook(conn, department_id, webhook_id):
            raise NotFound("webhook_not_found", "no such webhook")
        await record(
            conn,
            caller.actor(role, request_id),
            "webhook.deleted",
            "webhook",
            webhook_id,
            after={"department_id": department_id},
        )


async def redeliver(
    pool: Pool,
    caller: Caller,
    department_id: int,
    webhook_id: int,
    event_id: int | None,
    request_id: str,
) -> Redelivered:
    """Re-enable the webhook and make its undelivered deliveries (or one event) due now."""
    async with pool.acquire() as conn, conn.transaction():
        role = await _allowed(conn, caller, department_id)
        if await queries.get_webhook(conn, department_id, webhook_id) is None:
            raise NotFound("webhook_not_found", "no such webhook")
        if event_id is not None:
            event = await queries.find_event_for_department(conn, department_id, event_id)
            if event is None:
                raise NotFound("event_not_found", "no such event of this department's auctions")
            payload = encode_event(
                outbox.stamped(event["id"], event["created_at"], bytes(event["payload"]))
            )
            await queries.insert_send(conn, webhook_id, event_id, event["type"], payload)
        await queries.enable_webhook(conn, webhook_id)
        count = await queries.requeue_sends(conn, webhook_id, event_id)
        await record(
            conn,
            caller.actor(role, request_id),
            "webhook.redelivered",
            "webhook",
            webhook_id,
            after={"event_id": event_id, "requeued": count},
        )
        row = held(
            await queries.get_webhook(conn, department_id, webhook_id),
            "locked above, in this transaction",
        )
    return Redelivered(webhook=webhook_from_row(row), requeued=count)
