"""Thin handler of the live feed: Server-Sent Events of one auction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import get
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from marketplace.auth import Caller, anyone
from marketplace.errors import BadRequest
from marketplace.streams import service


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
        " `bids.revealed` at close."
    ),
)
async def auction_events(
    auction_id: int,
    pool: Any,
    redis: Any,
    caller: Caller | None,
    last_event_id_header: Annotated[
        str | None, Parameter(header="Last-Event-ID", required=False, max_length=40)
    ] = None,
    last_event_id: Annotated[int | None, Parameter(query="last_event_id", ge=0)] = None,
) -> ServerSentEvent:
    after = _resume_after(last_event_id_header, last_event_id)
    sealed = await service.open_feed(pool, caller, auction_id)

    async def messages() -> AsyncIterator[ServerSentEventMessage]:
        yield ServerSentEventMessage(data=None, retry=service.RETRY_MS)
        async for item in service.follow(pool, redis, auction_id, sealed, after):
            if item is None:
                yield ServerSentEventMessage(data=None, comment="keep-alive")
            else:
                yield ServerSentEventMessage(id=item.id, event=item.type, data=item.data)

    return ServerSentEvent(messages())


ROUTES = [auction_events]
