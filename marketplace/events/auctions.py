"""An auction's life from creation to its close: publishing, bidding, award or no bids."""

from __future__ import annotations

import datetime as dt

import msgspec

from marketplace.events.base import AuctionEvent


class AuctionCreated(AuctionEvent, frozen=True, kw_only=True, tag="auction.created"):
    department_id: int


class AuctionUpdated(AuctionEvent, frozen=True, kw_only=True, tag="auction.updated"):
    """A draft's fields were changed."""


class AuctionPublished(AuctionEvent, frozen=True, kw_only=True, tag="auction.published"):
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime


class AuctionOpened(AuctionEvent, frozen=True, kw_only=True, tag="auction.opened"):
    ends_at: dt.datetime


class AuctionCancelled(AuctionEvent, frozen=True, kw_only=True, tag="auction.cancelled"):
    reason: str
    voided_bids: int = 0


class BidPlaced(AuctionEvent, frozen=True, kw_only=True, tag="bid.placed"):
    bid_id: int
    amount_cents: int
    bidder_alias: str
    ends_at: dt.datetime


class AuctionExtended(AuctionEvent, frozen=True, kw_only=True, tag="auction.extended"):
    ends_at: dt.datetime
    extensions: int


class RevealedBid(msgspec.Struct, frozen=True, kw_only=True):
    bid_id: int
    bidder_id: int
    bidder_alias: str
    amount_cents: int
    placed_at: dt.datetime


class BidsRevealed(AuctionEvent, frozen=True, kw_only=True, tag="bids.revealed"):
    bids: list[RevealedBid]


class AuctionAwarded(AuctionEvent, frozen=True, kw_only=True, tag="auction.awarded"):
    award_id: int
    winner_id: int
    winner_alias: str
    amount_cents: int
    runner_up_ids: list[int]


class AuctionClosedNoBids(AuctionEvent, frozen=True, kw_only=True, tag="auction.closed_no_bids"):
    """Bidding ended without a bid."""


class AuctionRerun(AuctionEvent, frozen=True, kw_only=True, tag="auction.rerun"):
    new_auction_id: int
