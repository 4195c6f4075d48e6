"""Department webhook deliveries: the stream consumer that records them and the sender.

The consumer turns each event of a department's auction into one delivery row per webhook
(in the transaction that marks the event processed). The sender POSTs due rows as JSON with
``X-Marketplace-Event``, ``X-Marketplace-Delivery`` (the row's stable id: receivers can
dedupe retries) and ``X-Marketplace-Signature-256: sha256=<HMAC-SHA256 of the body>``,
retries failures with exponential backoff and disables a webhook after
``disable_after`` failures in a row; a buyer re-enables it with a redelivery.

Every connection goes through ``egress`` (vetted public addresses only, no redirects), and
a failure is stored as its status code or a generic class (``connect_error``, ``timeout``,
``tls_error``, ...), never the exception's text.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import ssl
from typing import Any

import httpx
import msgspec

from marketplace.db import Conn, Pool, Row
from marketplace.events import sealed_view
from marketplace.streams.consumer import StreamEvent
from marketplace.webhooks import egress, queries

log = logging.getLogger(__name__)

GROUP = "department-webhooks"
TIMEOUT_SECONDS = 10.0
USER_AGENT = "marketplace-webhooks/1"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def concerning_a_webhook(conn: Conn, events: list[StreamEvent]) -> set[int]:
    """The ids of the events whose auction belongs to a department with a live webhook
    (read only, one query for a consumer's whole read)."""
    auction_ids = {e.auction_id for e in events if e.auction_id is not None}
    if not auction_ids:
        return set()
    hooked = await queries.auctions_with_webhooks(conn, sorted(auction_ids))
    return {e.event_id for e in events if e.auction_id in hooked}


async def record_sends(conn: Conn, event: StreamEvent) -> None:
    """Consumer handler: one delivery per webhook of the auction's department."""
    if event.auction_id is None:
        return
    auction = await queries.auction_audience(conn, event.auction_id)
    if auction is None:
        return
    body = event.raw
    if auction["type"] == "sealed":
        # The department's own endpoint learns no more of sealed bids than the public.
        view = sealed_view(event.type, msgspec.json.decode(event.raw, type=dict[str, Any]))
        if view is None:
            return
        body = msgspec.json.encode(view)
    for webhook_id in await queries.live_webhook_ids(conn, auction["department_id"]):
        await queries.insert_send(conn, webhook_id, event.event_id, event.type, body)


class WebhookSender:
    """POSTs due deliveries; ``send_once`` is one step, ``run_forever`` the loop."""

    def __init__(
        self,
        pool: Pool,
        *,
        batch: int = 20,
        lease_seconds: float = 60.0,
        base_delay: float = 5.0,
        max_delay: float = 3600.0,
        max_attempts: int = 12,
        disable_after: int = 8,
        poll_seconds: float = 0.5,
        timeout: float = TIMEOUT_SECONDS,
        allow_private: bool = False,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.pool = pool
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.disable_after = disable_after
        self.poll_seconds = poll_seconds
        self.timeout = timeout
        self.allow_private = allow_private
        self.verify = verify

    def client(self) -> httpx.AsyncClient:
        """The HTTP client sends go through: vetted addresses, no redirects."""
        return egress.client(self.allow_private, self.timeout, self.verify)

    async def send_once(self, client: httpx.AsyncClient) -> int:
        async with self.pool.acquire() as conn:
            rows = await queries.claim_sends(conn, self.lease_seconds, self.batch)
        await asyncio.gather(*(self._post(client, row) for row in rows))
        return len(rows)

    async def _post(self, client: httpx.AsyncClient, row: Row) -> None:
        body = bytes(row["payload"])
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Marketplace-Event": row["event_type"],
            "X-Marketplace-Delivery": str(row["guid"]),
            "X-Marketplace-Signature-256": signature(row["secret"], body),
        }
        code: int | None = None
        detail = ""  # the exception's text: for the operator's log only
        try:
            response = await client.post(row["url"], content=body, headers=headers)
            code = response.status_code
            error = "" if 200 <= code < 300 else f"HTTP {code}"
        except Exception as exc:  # any failure is one attempt; the next is backed off
            error, detail = egress.failure(exc), f"{type(exc).__name__}: {exc}"
        async with self.pool.acquire() as conn, conn.transaction():
            if not error:
                assert code is not None
                await queries.mark_delivered(conn, row["id"], row["webhook_id"], code)
                return
            delay = min(self.base_delay * 2 ** (row["attempts"] - 1), self.max_delay)
            state = await queries.mark_failed(
                conn,
                row["id"],
                row["webhook_id"],
                code,
                error,
                delay,
                row["attempts"] >= self.max_attempts,
                self.disable_after,
            )
        log.warning(
            "webhook %s delivery %s failed (%s %s); webhook %s after %s failures in a row",
            row["webhook_id"],
            row["id"],
            error,
            detail,
            state["status"],
            state["consecutive_failures"],
        )

    async def run_forever(self) -> None:
        async with self.client() as client:
            while True:
                try:
                    if await self.send_once(client):
                        continue
                except Exception as exc:
                    log.warning("webhook sender failed: %s", exc)
                await asyncio.sleep(self.poll_seconds)
