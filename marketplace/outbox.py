"""The transactional outbox: events written with the change, relayed to Redis after commit."""

from __future__ import annotations

import datetime as dt

import msgspec

from marketplace.db import Conn
from marketplace.events import AnyEvent, Event, decode_event, encode_event


async def emit(conn: Conn, event: Event, auction_id: int | None = None) -> int:
    """Write an event in the caller's transaction; returns its event id."""
    event_id: int = await conn.fetchval(
        "INSERT INTO outbox (auction_id, type, payload) VALUES ($1, $2, $3) RETURNING id",
        auction_id,
        type(event).__struct_config__.tag,
        encode_event(event),
    )
    return event_id


async def emit_many(conn: Conn, events: list[tuple[Event, int | None]]) -> None:
    """Write events (each with its auction id) in the caller's transaction, in list order."""
    await conn.executemany(
        "INSERT INTO outbox (auction_id, type, payload) VALUES ($1, $2, $3)",
        [(aid, type(e).__struct_config__.tag, encode_event(e)) for e, aid in events],
    )


def stamped(event_id: int, created_at: dt.datetime, payload: bytes) -> AnyEvent:
    """The stored event with its id and database time filled in."""
    event = decode_event(payload)
    return msgspec.structs.replace(event, event_id=event_id, occurred_at=created_at)
