"""Opening and closing auctions on time: called by worker jobs and the sweep.

Both are compare-and-set on the stored status and decided by the database clock, so a
job that runs twice, late, or in parallel with the sweep changes nothing the second time.
"""

from __future__ import annotations

from typing import Any

from marketplace import outbox
from marketplace.auctions import queries
from marketplace.auctions.service import alias
from marketplace.audit.record import SYSTEM, record
from marketplace.calendar import add_business_days
from marketplace.events import (
    AuctionAwarded,
    AuctionClosedNoBids,
    AuctionOpened,
    BidsRevealed,
    RevealedBid,
)
from marketplace.settings import Settings


async def open_auction(pool: Any, auction_id: int) -> bool:
    """scheduled -> open once starts_at has passed; True if this call opened it."""
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.open_auction(conn, auction_id)
        if row is None:
            return False
        await outbox.emit(
            conn, AuctionOpened(auction_id=auction_id, ends_at=row["ends_at"]), auction_id
        )
        await record(
            conn,
            SYSTEM,
            "auction.opened",
            "auction",
            auction_id,
            before={"status": "scheduled"},
            after={"status": "open"},
            auction_id=auction_id,
        )
    return True


def runners_up(ranked: list[Any]) -> list[int]:
    """Distinct bidders after the winner, each at their best bid, best first."""
    seen: list[int] = []
    for bid in ranked:
        if bid["bidder_id"] not in seen:
            seen.append(bid["bidder_id"])
    return seen[1:]


async def close_auction(pool: Any, auction_id: int, settings: Settings | None = None) -> str | None:
    """open -> awarded | closed_no_bids once ends_at has passed; the new status, or None.

    The award's delivery deadline is the auction's ``delivery_due_at``, or N business days
    after the close (weekends and holidays skipped in the deployment's zone).
    """
    settings = settings or Settings()
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.close_auction(conn, auction_id)
        if row is None:
            return None
        status: str = row["status"]
        if status == "closed_no_bids":
            await outbox.emit(conn, AuctionClosedNoBids(auction_id=auction_id), auction_id)
            await record(
                conn,
                SYSTEM,
                "auction.closed_no_bids",
                "auction",
                auction_id,
                before={"status": "open"},
                after={"status": status},
                auction_id=auction_id,
            )
            return status
        ranked = await queries.ranked_bids(conn, auction_id)
        winner = ranked[0]
        others = runners_up(ranked)
        due = row["delivery_due_at"] or add_business_days(
            row["closed_at"], row["delivery_business_days"], settings.timezone, settings.holidays
        )
        award_id = await queries.insert_award(
            conn,
            auction_id,
            1,
            winner["bidder_id"],
            winner["id"],
            winner["amount_cents"],
            others,
            due,
        )
        if row["type"] == "sealed":
            revealed = [
                RevealedBid(
                    bid_id=b["id"],
                    bidder_id=b["bidder_id"],
                    bidder_alias=alias(b["alias_number"]),
                    amount_cents=b["amount_cents"],
                    placed_at=b["placed_at"],
                )
                for b in sorted(ranked, key=lambda b: b["id"])
            ]
            await outbox.emit(conn, BidsRevealed(auction_id=auction_id, bids=revealed), auction_id)
        await outbox.emit(
            conn,
            AuctionAwarded(
                auction_id=auction_id,
                award_id=award_id,
                winner_id=winner["bidder_id"],
                winner_alias=alias(winner["alias_number"]),
                amount_cents=winner["amount_cents"],
                runner_up_ids=others,
            ),
            auction_id,
        )
        await record(
            conn,
            SYSTEM,
            "auction.awarded",
            "auction",
            auction_id,
            before={"status": "open"},
            after={
                "status": status,
                "award_id": award_id,
                "winner_id": winner["bidder_id"],
                "bid_id": winner["id"],
                "amount_cents": winner["amount_cents"],
                "runner_up_ids": others,
                "ranking": [[b["id"], b["bidder_id"], b["amount_cents"]] for b in ranked],
            },
            auction_id=auction_id,
        )
    return status
