"""The base of every event, and of every event about one auction."""

from __future__ import annotations

import datetime as dt

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    event_id: int = 0
    occurred_at: dt.datetime | None = None


class AuctionEvent(Event, frozen=True, kw_only=True):
    """An event about one auction: ``auction_id`` is its first field in the JSON."""

    auction_id: int
