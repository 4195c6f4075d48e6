"""Opening and closing auctions on time: called by worker jobs and the sweep.

Both are compare-and-set on the stored status and decided by the database clock, so a
job that runs twice, late, or in parallel with the sweep changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from marketplace import outbox
from marketplace.auctions import queries
from marketplace.auctions.presentation import alias
from marketplace.audit.record import SYSTEM, Entry, record_many
from marketplace.awards import queries as award_queries
from marketplace.calendar import add_business_days
from marketplace.changes import announce
from marketplace.db import Conn, Pool, Row
from marketplace.events import (
    AuctionAwarded,
    AuctionClosedNoBids,
    AuctionOpened,
    BidsRevealed,
    Event,
    RevealedBid,
)
from marketplace.settings import Settings


async def open_auction(pool: Pool, auction_id: int) -> bool:
    """scheduled -> open once starts_at has passed; True if this call opened it."""
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.open_auction(conn, auction_id)
        if row is None:
            return False
        await announce(
            conn,
            AuctionOpened(auction_id=auction_id, ends_at=row["ends_at"]),
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


async def close_auction(pool: Pool, auction_id: int, settings: Settings) -> str | None:
    """open -> awarded | closed_no_bids once ends_at has passed; the new status, or None."""
    closed = await close_auctions(pool, settings, ids=[auction_id])
    return closed.get(auction_id)


async def close_due(pool: Pool, settings: Settings, batch: int = 100) -> int:
    """Close everything due, ``batch`` auctions per transaction; how many this call closed."""
    total = 0
    while closed := await close_auctions(pool, settings, limit=batch):
        total += len(closed)
    return total


async def close_auctions(
    pool: Pool, settings: Settings, *, ids: list[int] | None = None, limit: int = 100
) -> dict[int, str]:
    """Close due auctions in one transaction (``ids`` only, or any); new status by auction.

    The award's delivery deadline is the auction's ``delivery_due_at``, or N business days
    after the close (weekends and holidays skipped in the deployment's zone).
    """
    async with pool.acquire() as conn, conn.transaction():
        closed = await queries.close_due(conn, ids, limit)
        if not closed:
            return {}
        won = await _outcomes(conn, closed, settings)
        award_ids = await award_queries.insert_awards(
            conn,
            [
                (
                    aid,
                    w.winner["bidder_id"],
                    w.winner["id"],
                    w.winner["amount_cents"],
                    w.others,
                    w.due,
                )
                # By department: each award takes its department's day of spend
                # (sql/functions/spend_days.sql), and one order rules out deadlocks.
                for aid, w in sorted(
                    won.items(), key=lambda kv: (kv[1].row["department_id"], kv[0])
                )
            ],
        )
        events: list[tuple[Event, int | None]] = []
        audit: list[Entry] = []
        for row in closed:
            aid = row["id"]
            if row["status"] == "closed_no_bids":
                events.append((AuctionClosedNoBids(auction_id=aid), aid))
                audit.append(
                    _closed_entry(aid, "auction.closed_no_bids", {"status": row["status"]})
                )
            else:
                events += _award_events(won[aid], award_ids[aid])
                audit.append(_award_entry(won[aid], award_ids[aid]))
        await outbox.emit_many(conn, events)
        await record_many(conn, audit)
    return {row["id"]: row["status"] for row in closed}


class _Won(NamedTuple):
    """An auction that closed with bids: its row, its bids best first, and what follows."""

    row: Row
    bids: list[Any]
    others: list[int]  # the runners-up, best first
    due: dt.datetime  # the delivery deadline

    @property
    def winner(self) -> Any:
        return self.bids[0]


async def _outcomes(conn: Conn, closed: list[Any], settings: Settings) -> dict[int, _Won]:
    """The awarded auctions among ``closed``, ranked; sealed bidders named first."""
    awarded = [row for row in closed if row["status"] == "awarded"]
    if not awarded:
        return {}
    sealed = [row["id"] for row in awarded if row["type"] == "sealed"]
    if sealed:
        await queries.name_sealed_bidders(conn, sealed)
    ranked: dict[int, list[Any]] = {row["id"]: [] for row in awarded}
    for bid in await queries.ranked_bids_of(conn, list(ranked)):
        ranked[bid["auction_id"]].append(bid)
    return {
        row["id"]: _Won(
            row=row,
            bids=ranked[row["id"]],
            others=runners_up(ranked[row["id"]]),
            due=row["delivery_due_at"]
            or add_business_days(
                row["closed_at"],
                row["delivery_business_days"],
                settings.timezone,
                settings.holidays,
            ),
        )
        for row in awarded
    }


def _award_events(won: _Won, award_id: int) -> list[tuple[Event, int | None]]:
    """A sealed auction's bids revealed, then the award, as the live feed tells them."""
    aid = won.row["id"]
    events: list[tuple[Event, int | None]] = []
    if won.row["type"] == "sealed":
        revealed = [
            RevealedBid(
                bid_id=b["public_id"],
                bidder_id=b["bidder_id"],
                bidder_alias=alias(b["alias_number"]),
                amount_cents=b["amount_cents"],
                placed_at=b["placed_at"],
            )
            for b in sorted(won.bids, key=lambda b: b["id"])
        ]
        events.append((BidsRevealed(auction_id=aid, bids=revealed), aid))
    awarded = AuctionAwarded(
        auction_id=aid,
        award_id=award_id,
        winner_id=won.winner["bidder_id"],
        winner_alias=alias(won.winner["alias_number"]),
        amount_cents=won.winner["amount_cents"],
        runner_up_ids=won.others,
    )
    events.append((awarded, aid))
    return events


def _award_entry(won: _Won, award_id: int) -> Entry:
    """The award's audit row, with the whole ranking it was decided on."""
    winner = won.winner
    after = {
        "status": won.row["status"],
        "award_id": award_id,
        "winner_id": winner["bidder_id"],
        "bid_id": winner["public_id"],
        "amount_cents": winner["amount_cents"],
        "runner_up_ids": won.others,
        "ranking": [[b["public_id"], b["bidder_id"], b["amount_cents"]] for b in won.bids],
    }
    return _closed_entry(won.row["id"], "auction.awarded", after)


def _closed_entry(auction_id: int, action: str, after: dict[str, Any]) -> Entry:
    return Entry(
        actor=SYSTEM,
        action=action,
        object_type="auction",
        object_id=auction_id,
        before={"status": "open"},
        after=after,
        auction_id=auction_id,
    )
