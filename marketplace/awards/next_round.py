"""What follows an award that failed (rejected, or delivery missed): the next runner-up is
offered the award, or the task is re-run as a new auction."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from marketplace import outbox, policy
from marketplace.auctions.service import load_visible, require_department_buyer
from marketplace.audit.record import Actor, record
from marketplace.auth import Caller
from marketplace.awards import queries
from marketplace.awards.schemas import Award, Rerun
from marketplace.awards.service import present
from marketplace.calendar import add_business_days
from marketplace.changes import announce
from marketplace.db import Conn, Pool, Row, held
from marketplace.errors import Conflict
from marketplace.events import (
    AuctionAwarded,
    AuctionReawarded,
    AuctionRerun,
)
from marketplace.settings import Settings

REAWARDABLE = ("rejected", "missed_delivery")


RERUNNABLE = ("closed_no_bids", "rejected", "missed_delivery", "cancelled")


async def reaward(
    pool: Pool, settings: Settings, caller: Caller, auction_id: int, request_id: str
) -> Award:
    """After rejected or missed_delivery, award the next runner-up at their best bid."""
    async with pool.acquire() as conn, conn.transaction():
        auction, current = await _replaceable_award(conn, caller, auction_id)
        nxt, remaining = await next_runner_up(conn, auction_id, current)
        if nxt is None:
            raise Conflict(
                "no_runner_up",
                "no runner-up remains; re-run the task as a new draft instead",
                hint=f"POST /api/auctions/{auction_id}/rerun",
            )
        winner_id, bid = nxt
        ended = (
            "declined"
            if auction["status"] == "missed_delivery" and current["delivered_at"] is None
            else "superseded"
        )
        await queries.end_award(conn, current["id"], ended, None)
        due = _new_delivery_due(auction, settings)
        round_ = await queries.next_round(conn, auction_id)
        award_id = await _insert_award(conn, auction_id, round_, winner_id, bid, remaining, due)
        await queries.set_auction_status(conn, auction_id, REAWARDABLE, "awarded")
        await _announce_reaward(
            conn,
            caller.actor("buyer", request_id),
            auction,
            current,
            Reawarded(award_id, round_, winner_id, bid, remaining, due),
        )
        award = held(await queries.active(conn, auction_id), "awarded above, in this transaction")
    return present(award)


async def _replaceable_award(conn: Conn, caller: Caller, auction_id: int) -> tuple[Any, Any]:
    """The auction (locked) and its active award, once the caller may replace it: a buyer of
    the department, after a rejection or a missed delivery."""
    auction = await load_visible(conn, caller, auction_id, lock=True)
    require_department_buyer(caller, auction)
    if auction["status"] not in REAWARDABLE:
        raise Conflict(
            "not_reawardable",
            f"the auction is {auction['status']}; re-award follows rejected or missed_delivery",
            auction_status=auction["status"],
        )
    current = await queries.active(conn, auction_id, lock=True)
    if current is None:
        raise Conflict("no_active_award", "this auction has no award to replace")
    return auction, current


def _new_delivery_due(auction: Row, settings: Settings) -> dt.datetime:
    """The new winner gets the time the first one had: N business days from now, or the
    span the auction gave from its end to its delivery deadline."""
    now: dt.datetime = auction["server_time"]
    if auction["delivery_business_days"] is not None:
        return add_business_days(
            now, auction["delivery_business_days"], settings.timezone, settings.holidays
        )
    span: dt.timedelta = auction["delivery_due_at"] - auction["ends_at"]
    return now + span


class Reawarded(NamedTuple):
    """A re-award as made: what its events and audit row tell."""

    award_id: int
    round: int
    winner_id: int
    bid: Row  # the runner-up's best bid
    runner_up_ids: list[int]  # those still after them
    due: dt.datetime


async def _announce_reaward(
    conn: Conn, actor: Actor, auction: Row, current: Row, new: Reawarded
) -> None:
    """The re-award's events and its audit row, in the re-award's transaction."""
    auction_id = auction["id"]
    amount = new.bid["amount_cents"]
    await outbox.emit(
        conn,
        AuctionReawarded(
            auction_id=auction_id,
            award_id=new.award_id,
            round=new.round,
            winner_id=new.winner_id,
            amount_cents=amount,
            previous_award_id=current["id"],
        ),
        auction_id,
    )
    # Also announced as an award, so whoever follows awards (mail, webhooks) hears of it.
    await announce(
        conn,
        AuctionAwarded(
            auction_id=auction_id,
            award_id=new.award_id,
            winner_id=new.winner_id,
            winner_alias="",
            amount_cents=amount,
            runner_up_ids=new.runner_up_ids,
        ),
        actor,
        "auction.reawarded",
        "auction",
        auction_id,
        before={
            "status": auction["status"],
            "award_id": current["id"],
            "winner_id": current["winner_id"],
        },
        after={
            "status": "awarded",
            "award_id": new.award_id,
            "round": new.round,
            "winner_id": new.winner_id,
            "bid_id": new.bid["public_id"],
            "amount_cents": amount,
            "runner_up_ids": new.runner_up_ids,
            "delivery_due_at": new.due.isoformat(),
        },
        auction_id=auction_id,
    )


async def _insert_award(
    conn: Conn,
    auction_id: int,
    round_: int,
    winner_id: int,
    bid: Row,
    runner_ups: list[int],
    due: dt.datetime,
) -> int:
    return await queries.insert_award(
        conn, auction_id, round_, winner_id, bid["id"], bid["amount_cents"], runner_ups, due
    )


async def next_runner_up(
    conn: Conn, auction_id: int, current: Row
) -> tuple[tuple[int, Any] | None, list[int]]:
    """The next runner-up not yet awarded who still has an active bid, with that bid, and
    the runner-ups after them (re-award's order: the close's ranking)."""
    tried = set(await queries.awarded_bidders(conn, auction_id))
    remaining = [b for b in current["runner_up_ids"] if b not in tried]
    while remaining:
        candidate = remaining.pop(0)
        bid = await queries.best_bid_of(conn, auction_id, candidate)
        if bid is not None:
            return (candidate, bid), remaining
    return None, remaining


async def runner_up_offer(pool: Pool, caller: Caller, auction_id: int) -> tuple[int, int] | None:
    """Whom a re-award would choose now and at what amount: (user id, cents), or None."""
    async with pool.acquire() as conn:
        auction = await load_visible(conn, caller, auction_id)
        require_department_buyer(caller, auction)
        current = await queries.active(conn, auction_id)
        if current is None:
            return None
        nxt, _ = await next_runner_up(conn, auction_id, current)
    return None if nxt is None else (nxt[0], nxt[1]["amount_cents"])


async def _runner_up_remains(conn: Conn, auction_id: int) -> bool:
    current = await queries.active(conn, auction_id)
    return current is not None and (await next_runner_up(conn, auction_id, current))[0] is not None


async def next_step(pool: Pool, caller: Caller, auction_id: int) -> str | None:
    """What the auction's buyer may do after the award: "reaward" (a runner-up remains),
    "rerun" (the task ended without a winner left) or None; the same rules as those calls."""
    if not caller.has("buyer"):
        return None
    async with pool.acquire() as conn:
        auction = await load_visible(conn, caller, auction_id)
        if not policy.buys_for(caller, auction["department_id"]):
            return None
        if auction["status"] in REAWARDABLE and await _runner_up_remains(conn, auction_id):
            return "reaward"
        return "rerun" if auction["status"] in RERUNNABLE else None


async def rerun(pool: Pool, caller: Caller, auction_id: int, request_id: str) -> Rerun:
    """Copy a task that found no (remaining) winner into a new draft for the buyer to edit."""
    async with pool.acquire() as conn, conn.transaction():
        auction = await load_visible(conn, caller, auction_id, lock=True)
        require_department_buyer(caller, auction)
        if auction["status"] not in RERUNNABLE:
            raise Conflict(
                "not_rerunnable",
                f"the auction is {auction['status']}; only a task that ended without a "
                "delivered result can be re-run",
                auction_status=auction["status"],
            )
        if auction["status"] in REAWARDABLE and await _runner_up_remains(conn, auction_id):
            raise Conflict(
                "runner_up_available",
                "a runner-up remains; re-award before re-running the task",
            )
        new_id = await queries.copy_as_draft(conn, auction_id, caller.id)
        await announce(
            conn,
            AuctionRerun(auction_id=auction_id, new_auction_id=new_id),
            caller.actor("buyer", request_id),
            "auction.rerun",
            "auction",
            auction_id,
            after={"new_auction_id": new_id},
            auction_id=auction_id,
        )
        await record(
            conn,
            caller.actor("buyer", request_id),
            "auction.created",
            "auction",
            new_id,
            after={"copied_from": auction_id},
            auction_id=new_id,
        )
    return Rerun(auction_id=new_id, copied_from=auction_id, status="draft")
