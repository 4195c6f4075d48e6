"""Request and response Structs of auctions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, get_args

import msgspec

from marketplace.structs import (
    Cents,
    LongText,
    Reason,
    Request,
    Response,
    ZonedTime,
    single_line,
)

AuctionType = Literal["reverse", "sealed"]
Status = Literal[
    "draft",
    "scheduled",
    "open",
    "awarded",
    "closed_no_bids",
    "cancelled",
    "delivered",
    "pending_review",
    "accepted",
    "rejected",
    "paid",
    "payment_confirmed",
    "missed_delivery",
]
# Before the close: bids are secret and no outcome is known yet.
BEFORE_CLOSE: tuple[Status, ...] = ("draft", "scheduled", "open")
# Bidding has closed with an outcome (DESIGN §3): every status but those before the close and
# a cancellation. Sealed bids and bidders are public from here on.
CLOSED: tuple[Status, ...] = tuple(
    s for s in get_args(Status) if s not in (*BEFORE_CLOSE, "cancelled")
)
Repo = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$",
        description="GitHub repository as owner/name",
    ),
]
Title = Annotated[str, single_line(1, 200)]
Summary = Annotated[str, single_line(0, 1000)]
Branch = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^\s~^:?*\[\\]+$")]
Skill = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9+#. _-]+$")]
IssueNumber = Annotated[int, msgspec.Meta(ge=1, le=2_147_483_647)]
Seconds = Annotated[int, msgspec.Meta(ge=0, le=86_400)]
Extensions = Annotated[int, msgspec.Meta(ge=0, le=1000)]
BusinessDays = Annotated[int, msgspec.Meta(ge=1, le=365)]


class AuctionCreate(Request, kw_only=True):
    title: Title
    summary: Summary = ""
    description: LongText = ""
    acceptance: LongText = ""
    repo: Repo
    issue_number: IssueNumber | None = None
    target_branch: Branch | None = None
    type: AuctionType = "reverse"
    price_cap_cents: Cents
    min_decrement_cents: Cents = 100
    starts_at: ZonedTime
    ends_at: ZonedTime
    delivery_due_at: ZonedTime | None = None
    delivery_business_days: BusinessDays | None = None
    soft_close_seconds: Seconds = 120
    max_extensions: Extensions = 10
    skills: Annotated[list[Skill], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=list
    )


class AuctionPatch(Request, kw_only=True):
    """Fields to change on a draft; absent fields stay as they are, null clears optional ones."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    summary: Summary | msgspec.UnsetType = msgspec.UNSET
    description: LongText | msgspec.UnsetType = msgspec.UNSET
    acceptance: LongText | msgspec.UnsetType = msgspec.UNSET
    repo: Repo | msgspec.UnsetType = msgspec.UNSET
    issue_number: IssueNumber | msgspec.UnsetType | None = msgspec.UNSET
    target_branch: Branch | msgspec.UnsetType | None = msgspec.UNSET
    type: AuctionType | msgspec.UnsetType = msgspec.UNSET
    price_cap_cents: Cents | msgspec.UnsetType = msgspec.UNSET
    min_decrement_cents: Cents | msgspec.UnsetType = msgspec.UNSET
    starts_at: ZonedTime | msgspec.UnsetType = msgspec.UNSET
    ends_at: ZonedTime | msgspec.UnsetType = msgspec.UNSET
    delivery_due_at: ZonedTime | msgspec.UnsetType | None = msgspec.UNSET
    delivery_business_days: BusinessDays | msgspec.UnsetType | None = msgspec.UNSET
    soft_close_seconds: Seconds | msgspec.UnsetType = msgspec.UNSET
    max_extensions: Extensions | msgspec.UnsetType = msgspec.UNSET
    skills: Annotated[list[Skill], msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET


class CancelRequest(Request, kw_only=True):
    reason: Reason


class Position(Response, frozen=True, kw_only=True):
    """Where the signed-in caller stands in this auction."""

    can_bid: bool
    reason: str | None = None
    is_low_bidder: bool = False
    has_bid: bool = False
    your_best_cents: int | None = None
    max_allowed_cents: int | None = None
    message: str | None = None


class AwardNotice(Response, frozen=True, kw_only=True):
    award_id: int
    round: int
    winner_id: int
    winner_name: str
    winner_alias: str
    amount_cents: int
    awarded_at: dt.datetime
    status: str


class Auction(Response, frozen=True, kw_only=True):
    id: int
    department_id: int
    department_name: str
    title: str
    summary: str
    description: str
    repo: str
    issue_number: int | None
    target_branch: str | None
    type: str
    status: str
    price_cap_cents: int
    min_decrement_cents: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    scheduled_ends_at: dt.datetime
    delivery_due_at: dt.datetime | None
    delivery_business_days: int | None
    soft_close_seconds: int
    max_extensions: int
    extensions: int
    skills: list[str]
    created_at: dt.datetime
    published_at: dt.datetime | None
    closed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    cancel_reason: str | None
    time_left_seconds: float | None
    low_bid_cents: int | None
    bid_count: int | None
    max_allowed_cents: int | None
    server_time: dt.datetime
    position: Position | None = None
    award: AwardNotice | None = None
    acceptance: str = ""
    # Until when verified vendors may ask clarification questions (sql/functions/
    # questions_close_at.sql); null for a draft.
    questions_close_at: dt.datetime | None = None


# The orders of the auction list.
Sort = Literal["ending_soon", "newest", "cap_high", "cap_low"]
