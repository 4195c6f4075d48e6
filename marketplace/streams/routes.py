"""Thin handler of the live feed: Server-Sent Events of one auction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, cast

from anyio import CancelScope
from litestar import Request, Response, get
from litestar.params import Parameter
from litestar.response.base import ASGIResponse
from litestar.types import Message, Receive, Scope, Send

from marketplace.auth import Caller, anyone
from marketplace.db import Pool
from marketplace.errors import BadRequest
from marketplace.ratelimit import client_address
from marketplace.settings import Settings
from marketplace.streams import service
from marketplace.streams.hub import Subscription


class FeedResponse(Response[bytes]):
    """The live feed's response: SSE messages as ``service.follow`` writes them, each
    written once per batch, not re-encoded per message per feed (Litestar's ServerSentEvent
    encodes every message for every client, which a crowd on one auction multiplies).

    It holds a hub subscription and frees it however the response ends; the hub can end
    it (a slow consumer) even while a write waits on a client that reads nothing.
    """

    def __init__(self, frames: AsyncIterator[service.Batch], feed: Subscription) -> None:
        super().__init__(b"", media_type="text/event-stream")
        self.frames = frames
        self.feed = feed

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        # Litestar only calls what this returns.
        return cast(ASGIResponse, _Feed(self.frames, self.feed))


class _Feed:
    def __init__(self, frames: AsyncIterator[service.Batch], feed: Subscription) -> None:
        self.frames = frames
        self.feed = feed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def hang_up() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            self.feed.close()  # the feed's next get() ends the stream

        listener = asyncio.create_task(hang_up())
        try:
            with CancelScope() as cancel:
                self.feed.on_drop = cancel.cancel
                await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
                await send(_body(service.RETRY_FRAME))
                async for batch in self.frames:
                    chunk = b"".join(item.frame for item in batch) or service.KEEPALIVE_FRAME
                    await send(_body(chunk))
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            listener.cancel()
            self.feed.on_drop = None
            self.feed.close()
            await self.frames.aclose()  # type: ignore[attr-defined]


HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),  # proxies pass each message on at once
]


def _body(chunk: bytes) -> Message:
    return {"type": "http.response.body", "body": chunk, "more_body": True}


def _resume_after(header: str | None, query: int | None) -> int:
    """The id to resume after: the header a reconnecting EventSource sends wins."""
    if header is not None and header.strip():
        text = header.strip()
        if not text.isdigit() or len(text) > 18:
            raise BadRequest(
                "invalid_last_event_id", "Last-Event-ID must be an event id", field="Last-Event-ID"
            )
        return int(text)
    return query or 0


@get(
    "/api/auctions/{auction_id:int}/events",
    guards=[anyone],
    tags=["events"],
    summary="Live events of an auction (Server-Sent Events); resumes after Last-Event-ID",
    description=(
        "Each message has `id:` (the event id, increasing), `event:` (its type) and `data:`"
        " (its JSON). Reconnect with `Last-Event-ID` (or `?last_event_id=`) to get"
        " everything after it, once. A sealed auction's feed tells nothing about bids until"
        " `bids.revealed` at close. A client address may hold"
        " `MARKETPLACE_SSE_PER_CLIENT` feeds at once per API process (429 `too_many_streams`"
        " beyond); a client that falls far behind is disconnected and resumes on reconnect."
    ),
)
async def auction_events(
    request: Request[Any, Any, Any],
    auction_id: int,
    pool: Pool,
    hub: Any,
    settings: Settings,
    caller: Caller | None,
    last_event_id_header: Annotated[
        str | None, Parameter(header="Last-Event-ID", required=False, max_length=40)
    ] = None,
    last_event_id: Annotated[int | None, Parameter(query="last_event_id", ge=0)] = None,
) -> FeedResponse:
    after = _resume_after(last_event_id_header, last_event_id)
    sealed = await service.open_feed(pool, caller, auction_id)
    feed = service.subscribe(hub, auction_id, client_address(request), settings.sse_per_client)

    return FeedResponse(service.follow(pool, feed, auction_id, sealed, after), feed)


ROUTES = [auction_events]
