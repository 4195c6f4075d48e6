"""Transparency rules: what award notices show, how metrics are defined, who sees spend."""

from __future__ import annotations

import datetime as dt

from marketplace.auctions import queries as auction_queries
from marketplace.db import Conn, Pool, Row
from marketplace.settings import Settings
from marketplace.transparency import queries
from marketplace.transparency.schemas import (
    AuctionCounts,
    AwardStats,
    BidStats,
    DeliveryStats,
    DepartmentRef,
    Metrics,
    Outcomes,
    PublicAward,
    VendorStats,
    WinnerRef,
)

METRIC_DEFINITIONS = {
    "auctions.published": "auctions ever published (drafts excluded), whatever their status now",
    "auctions.closed": "published auctions whose bidding has closed: awarded or any later "
    "status, or closed_no_bids",
    "auctions.by_status": "published auctions by their current status",
    "outcomes.succeeded": "auctions whose award reached paid or payment_confirmed",
    "outcomes.decided": "auctions whose delivery outcome is decided: paid, payment_confirmed, "
    "rejected or missed_delivery (a re-awarded auction is undecided again)",
    "outcomes.success_rate": "succeeded / decided, 0 to 1; null while nothing is decided",
    "bids.total": "active bids that are public: every reverse auction's, a sealed auction's "
    "only after its close (voided bids of cancelled auctions are not counted)",
    "bids.per_auction_*": "active bids per closed auction (closed_no_bids count as 0), mean and "
    "median; sealed auctions still open contribute nothing",
    "bids.unique_bidders_per_auction_*": "distinct vendors with an active bid per closed "
    "auction, mean and median",
    "awards": "one award per closed auction: its latest round (a re-award replaces the earlier "
    "winner); money is in integer cents, means and medians rounded to the cent",
    "awards.savings_*": "price cap minus the winning amount; savings_percent_mean averages each "
    "award's percent of its cap, savings_percent_overall is total savings / total caps",
    "delivery.award_to_delivery_*": "seconds from each latest award to its auction's first "
    "move to 'delivered' (the winner submitting a pull request) after it, read from the audit "
    "log since no delivered_at column exists; auctions not yet delivered are not measured",
    "vendors.bidders": "distinct vendors with at least one public active bid",
    "vendors.winners": "distinct vendors holding the latest award of at least one auction",
}


def add_business_days(start: dt.date, days: int, holidays: tuple[dt.date, ...]) -> dt.date:
    """The date ``days`` business days after ``start``, skipping weekends and holidays."""
    day, left = start, days
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            left -= 1
    return day


def due_date(row: Row, settings: Settings) -> dt.date | None:
    """The local date delivery is due: the stored deadline's, or N business days after award."""
    zone = settings.zone
    if row["delivery_due_at"] is not None:
        due: dt.date = row["delivery_due_at"].astimezone(zone).date()
        return due
    if row["delivery_business_days"] is not None:
        awarded = row["awarded_at"].astimezone(zone).date()
        return add_business_days(awarded, row["delivery_business_days"], settings.holidays)
    return None


def _award(row: Row, settings: Settings) -> PublicAward:
    cap, amount = row["price_cap_cents"], row["amount_cents"]
    return PublicAward(
        award_id=row["award_id"],
        round=row["round"],
        award_status=row["award_status"],
        auction_id=row["auction_id"],
        title=row["title"],
        auction_type=row["type"],
        auction_status=row["auction_status"],
        department=DepartmentRef(id=row["department_id"], name=row["department_name"]),
        winner=WinnerRef(id=row["winner_id"], name=row["winner_name"]),
        amount_cents=amount,
        price_cap_cents=cap,
        savings_cents=cap - amount,
        savings_percent=round(100 * (cap - amount) / cap, 2),
        awarded_at=row["awarded_at"],
        closed_at=row["closed_at"],
        delivery_due_at=row["delivery_due_at"],
        delivery_business_days=row["delivery_business_days"],
        delivery_due_date=due_date(row, settings),
    )


async def award_page(
    pool: Pool,
    settings: Settings,
    *,
    department_id: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    include_history: bool,
    after: tuple[dt.datetime, int] | None,
    limit: int,
) -> tuple[list[PublicAward], tuple[dt.datetime, int] | None]:
    """One page of award notices and the key of the next page, if any."""
    async with pool.acquire() as conn:
        rows = await queries.list_awards(
            conn,
            department_id=department_id,
            since=since,
            until=until,
            include_history=include_history,
            after=after,
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    next_key = (rows[-1]["awarded_at"], rows[-1]["award_id"]) if more else None
    return [_award(r, settings) for r in rows], next_key


def _count(by_status: dict[str, int], statuses: list[str]) -> int:
    return sum(n for status, n in by_status.items() if status in statuses)


async def compute_metrics(conn: Conn) -> Metrics:
    """Platform metrics, each defined in ``definitions``, counted from history. Run it in a
    repeatable-read transaction, so the figures agree with each other; requests read them
    through figures.py, which serves a snapshot instead of scanning on each request."""
    by_status = await queries.auctions_by_status(conn, published_only=True)
    bids = await queries.bid_stats(conn)
    awards = await queries.award_stats(conn)
    delivery = await queries.delivery_stats(conn)
    now = await auction_queries.now(conn)
    succeeded = _count(by_status, queries.PAID)
    decided = _count(by_status, queries.DECIDED)
    return Metrics(
        generated_at=now,
        auctions=AuctionCounts(
            published=sum(by_status.values()),
            closed=_count(by_status, queries.CLOSED),
            by_status=by_status,
        ),
        outcomes=Outcomes(
            succeeded=succeeded,
            decided=decided,
            success_rate=round(succeeded / decided, 4) if decided else None,
        ),
        bids=BidStats(
            total=bids["total"],
            closed_auctions=bids["closed_auctions"],
            per_auction_mean=bids["bids_mean"],
            per_auction_median=bids["bids_median"],
            unique_bidders_per_auction_mean=bids["bidders_mean"],
            unique_bidders_per_auction_median=bids["bidders_median"],
        ),
        awards=AwardStats(
            awards=awards["awards"],
            winning_bid_mean_cents=awards["amount_mean"],
            winning_bid_median_cents=awards["amount_median"],
            savings_total_cents=awards["savings_total"] or 0,
            savings_mean_cents=awards["savings_mean"],
            savings_percent_mean=awards["savings_percent_mean"],
            savings_percent_overall=awards["savings_percent_overall"],
        ),
        delivery=DeliveryStats(
            measured=delivery["measured"],
            award_to_delivery_mean_seconds=delivery["mean"],
            award_to_delivery_median_seconds=delivery["median"],
        ),
        vendors=VendorStats(bidders=bids["bidders"], winners=awards["winners"]),
        definitions=METRIC_DEFINITIONS,
    )
