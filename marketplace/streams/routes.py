"""Thin handler of the live feed: Server-Sent Events of one auction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, cast

from anyio import CancelScope
from litestar import Request, get
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

from marketplace.accounts.routes import client_address
from marketplace.auth import Caller, anyone
from marketplace.errors import BadRequest
from marketplace.settings import Settings
from marketplace.streams import service
from marketplace.streams.hub import Subscription


class FeedResponse(ServerSentEvent):
    """An SSE response that holds a hub subscription: it frees it however the response
    ends, and the hub can end it (a slow consumer) even while a write waits on a client
    that reads nothing."""

    def __init__(self, content: AsyncIterator[ServerSentEventMessage], feed: Subscription) -> None:
        super().__init__(content)
        self.feed = feed

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        inner = super().to_asgi_response(*args, **kwargs)
        # Litestar only calls what this returns.
        return cast(ASGIResponse, _EndedByFeed(inner, self.feed))


class _EndedByFeed:
    def __init__(self, inner: ASGIResponse, feed: Subscription) -> None:
        self.inner = inner
        self.feed = feed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            with CancelScope() as cancel:
                self.feed.on_drop = cancel.cancel
                await self.inner(scope, receive, send)
        finally:
            self.feed.on_drop = None
            self.feed.close()


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
    pool: Any,
    hub: Any,
    settings: Settings,
    caller: Caller | None,
    last_event_id_header: Annotated[
        str | None, Parameter(header="Last-Event-ID", required=False, max_length=40)
    ] = None,
    last_event_id: Annotated[int | None, Parameter(query="last_event_id", ge=0)] = None,
) -> ServerSentEvent:
    after = _resume_after(last_event_id_header, last_event_id)
    sealed = await service.open_feed(pool, caller, auction_id)
    feed = service.subscribe(hub, auction_id, client_address(request), settings.sse_per_client)

    async def messages() -> AsyncIterator[ServerSentEventMessage]:
        yield ServerSentEventMessage(data=None, retry=service.RETRY_MS)
        async for item in service.follow(pool, feed, auction_id, sealed, after):
            if item is None:
                yield ServerSentEventMessage(data=None, comment="keep-alive")
            else:
                yield ServerSentEventMessage(id=item.id, event=item.type, data=item.data)

    return FeedResponse(messages(), feed)


ROUTES = [auction_events]
