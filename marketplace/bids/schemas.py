"""Request and response Structs of bids."""

from __future__ import annotations

import datetime as dt

from marketplace.structs import Cents, Request, Response


class BidCreate(Request, kw_only=True):
    amount_cents: Cents


class Bid(Response, frozen=True, kw_only=True):
    """A bid as the caller may see it: bidder_id is null while identities are veiled; a
    sealed bid has no alias until close. ``id`` is random: it tells nothing of how many
    bids came before (DESIGN §4)."""

    id: int
    auction_id: int
    amount_cents: int
    bidder_alias: str | None
    bidder_id: int | None
    placed_at: dt.datetime
    status: str
    mine: bool = False


class MyBid(Response, frozen=True, kw_only=True):
    id: int
    auction_id: int
    auction_title: str
    auction_status: str
    amount_cents: int
    bidder_alias: str | None
    placed_at: dt.datetime
    status: str
    is_low_bid: bool | None
