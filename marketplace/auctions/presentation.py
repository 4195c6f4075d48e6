"""The auction as a caller may see it: sealed bids hidden until the close, bidders by alias,
the vendor's own position (what it may bid now), and the award notice."""

from __future__ import annotations

from typing import Any

from marketplace.auctions.schemas import BEFORE_CLOSE, Auction, AwardNotice, Position
from marketplace.auth import Caller
from marketplace.db import Row


def alias(number: int | None) -> str:
    return f"Bidder {number}" if number is not None else "Bidder"


def alias_of(number: int | None) -> str | None:
    """A bid's alias; None for a sealed bid before close, which has none yet."""
    return None if number is None else alias(number)


def revealed(status: str) -> bool:
    """Sealed bids and bidder identities become public once bidding has closed."""
    return status not in (*BEFORE_CLOSE, "cancelled")


def _position(row: Row, caller: Caller, standing: Row | None) -> Position:
    """What this vendor may bid now. Each reason is the code a bid would be refused with
    (sql/functions/bid_refusal.sql and place_bid.sql), so the detail and the bid agree."""
    bids = standing["bids"] if standing else 0
    best = standing["best"] if standing else None
    common: dict[str, Any] = {"has_bid": bids > 0, "your_best_cents": best}
    if not caller.has("vendor"):
        return Position(can_bid=False, reason="role_required", message="only vendors bid", **common)
    if caller.verification_status != "verified":
        return Position(
            can_bid=False,
            reason="vendor_not_verified",
            message=f"your vendor verification is {caller.verification_status}",
            **common,
        )
    if caller.department_id == row["department_id"]:
        return Position(
            can_bid=False,
            reason="conflict_of_interest",
            message="you belong to the buying department",
            **common,
        )
    if row["status"] != "open":
        return Position(
            can_bid=False,
            reason="auction_not_open",
            message=f"the auction is {row['status']}",
            **common,
        )
    if row["type"] == "sealed":
        if bids:
            return Position(
                can_bid=False, reason="already_bid", message="your sealed bid is in", **common
            )
        return Position(can_bid=True, max_allowed_cents=row["max_allowed_cents"], **common)
    if row["low_bidder_id"] == caller.id:
        return Position(
            can_bid=False,
            reason="already_low_bidder",
            is_low_bidder=True,
            message="you are the low bidder",
            **common,
        )
    return Position(can_bid=True, max_allowed_cents=row["max_allowed_cents"], **common)


def _notice(award: Row) -> AwardNotice:
    return AwardNotice(
        award_id=award["id"],
        round=award["round"],
        winner_id=award["winner_id"],
        winner_name=award["winner_name"],
        winner_alias=alias(award["alias_number"]),
        amount_cents=award["amount_cents"],
        awarded_at=award["awarded_at"],
        status=award["status"],
    )


def present(
    row: Row, caller: Caller | None, *, standing: Row | None = None, award: Row | None = None
) -> Auction:
    """The auction as this caller may see it: sealed auctions hide bids until close."""
    sealed_hidden = row["type"] == "sealed" and not revealed(row["status"])
    time_left = None
    if row["status"] == "open":
        time_left = max(0.0, (row["ends_at"] - row["server_time"]).total_seconds())
    position = None
    if caller is not None and caller.has("vendor") and row["status"] != "draft":
        position = _position(row, caller, standing)
    return Auction(
        id=row["id"],
        department_id=row["department_id"],
        department_name=row["department_name"],
        title=row["title"],
        summary=row["summary"],
        description=row["description"],
        repo=row["repo"],
        issue_number=row["issue_number"],
        target_branch=row["target_branch"],
        type=row["type"],
        status=row["status"],
        price_cap_cents=row["price_cap_cents"],
        min_decrement_cents=row["min_decrement_cents"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        scheduled_ends_at=row["scheduled_ends_at"],
        delivery_due_at=row["delivery_due_at"],
        delivery_business_days=row["delivery_business_days"],
        soft_close_seconds=row["soft_close_seconds"],
        max_extensions=row["max_extensions"],
        extensions=row["extensions"],
        skills=list(row["skills"]),
        created_at=row["created_at"],
        published_at=row["published_at"],
        closed_at=row["closed_at"],
        cancelled_at=row["cancelled_at"],
        cancel_reason=row["cancel_reason"],
        time_left_seconds=time_left,
        low_bid_cents=None if sealed_hidden else row["lowest_cents"],
        bid_count=None if sealed_hidden else row["bid_count"],
        max_allowed_cents=row["max_allowed_cents"],
        server_time=row["server_time"],
        position=position,
        award=None if award is None else _notice(award),
        acceptance=row["acceptance"],
        questions_close_at=None if row["status"] == "draft" else row["questions_close_at"],
    )
