"""Response Structs of transparency: award notices, platform metrics, department spend."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from marketplace.structs import Response

PeriodUnit = Literal["month", "quarter", "year"]


class DepartmentRef(Response, frozen=True, kw_only=True):
    id: int
    name: str


class WinnerRef(Response, frozen=True, kw_only=True):
    id: int
    name: str


class PublicAward(Response, frozen=True, kw_only=True):
    """An award notice: public once the auction has closed (DESIGN §8)."""

    award_id: int
    round: int
    award_status: str
    auction_id: int
    title: str
    auction_type: str
    auction_status: str
    department: DepartmentRef
    winner: WinnerRef
    amount_cents: int
    price_cap_cents: int
    savings_cents: int
    savings_percent: float
    awarded_at: dt.datetime
    closed_at: dt.datetime
    delivery_due_at: dt.datetime | None
    delivery_business_days: int | None
    delivery_due_date: dt.date | None


class AuctionCounts(Response, frozen=True, kw_only=True):
    published: int
    closed: int
    by_status: dict[str, int]


class Outcomes(Response, frozen=True, kw_only=True):
    succeeded: int
    decided: int
    success_rate: float | None


class BidStats(Response, frozen=True, kw_only=True):
    total: int
    closed_auctions: int
    per_auction_mean: float | None
    per_auction_median: float | None
    unique_bidders_per_auction_mean: float | None
    unique_bidders_per_auction_median: float | None


class AwardStats(Response, frozen=True, kw_only=True):
    awards: int
    winning_bid_mean_cents: int | None
    winning_bid_median_cents: int | None
    savings_total_cents: int
    savings_mean_cents: int | None
    savings_percent_mean: float | None
    savings_percent_overall: float | None


class DeliveryStats(Response, frozen=True, kw_only=True):
    measured: int
    award_to_delivery_mean_seconds: float | None
    award_to_delivery_median_seconds: float | None


class VendorStats(Response, frozen=True, kw_only=True):
    bidders: int
    winners: int


class Metrics(Response, frozen=True, kw_only=True):
    """Platform metrics in the spirit of 18F's micro-purchase insights page."""

    generated_at: dt.datetime
    auctions: AuctionCounts
    outcomes: Outcomes
    bids: BidStats
    awards: AwardStats
    delivery: DeliveryStats
    vendors: VendorStats
    definitions: dict[str, str]


class SpendPeriod(Response, frozen=True, kw_only=True):
    label: str
    start: dt.datetime
    end: dt.datetime
    awards: int
    committed_cents: int
    paid_cents: int
    paid_awards: int
    threshold_cents: int
    near_threshold: int
    near_cap: int


class SpendTotals(Response, frozen=True, kw_only=True):
    awards: int
    committed_cents: int
    paid_cents: int
    paid_awards: int
    near_threshold: int
    near_cap: int


class Spend(Response, frozen=True, kw_only=True):
    """A department's spend per period against the micro-purchase threshold."""

    department: DepartmentRef
    period: PeriodUnit
    timezone: str
    threshold_cents: int
    periods: list[SpendPeriod]
    totals: SpendTotals
    definitions: dict[str, str]
