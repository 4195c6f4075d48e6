"""What happens to an award after the close: deadlines, missed delivery, re-award, re-run.

Missed delivery is decided by when the pull request merged (``merged_at`` as verification
read it from GitHub), never by when verification happened to run: an award past its
deadline on an auction still ``delivered`` is only marked missed once a verification
record fetched after the deadline shows no merge at or before it.
"""

from __future__ import annotations

import datetime as dt

from marketplace.auctions.service import load_visible
from marketplace.audit.record import SYSTEM
from marketplace.auth import Caller
from marketplace.awards import queries
from marketplace.awards.schemas import Award
from marketplace.changes import announce
from marketplace.db import Pool, Row, held
from marketplace.errors import Conflict, Forbidden, Unprocessable
from marketplace.events import (
    AwardDeclined,
    DeliveryDeadlineExtended,
    DeliveryMissed,
)


def present(row: Row) -> Award:
    return Award(
        id=row["id"],
        auction_id=row["auction_id"],
        auction_title=row["auction_title"],
        auction_status=row["auction_status"],
        round=row["round"],
        winner_id=row["winner_id"],
        amount_cents=row["amount_cents"],
        status=row["status"],
        awarded_at=row["awarded_at"],
        delivery_due_at=row["delivery_due_at"],
        delivered_at=row["delivered_at"],
        runner_up_count=row["runner_up_count"],
    )


async def my_awards(pool: Pool, caller: Caller, before_id: int | None, limit: int) -> list[Award]:
    async with pool.acquire() as conn:
        rows = await queries.list_my_awards(conn, caller.id, before_id, limit)
    return [present(r) for r in rows]


async def overdue_among(pool: Pool, auction_ids: list[int]) -> dict[int, dt.datetime]:
    """Of these auctions, those whose current award's delivery deadline has passed, with it."""
    if not auction_ids:
        return {}
    async with pool.acquire() as conn:
        rows = await queries.active_due_dates(conn, auction_ids)
    return {
        r["auction_id"]: r["delivery_due_at"]
        for r in rows
        if r["delivery_due_at"] is not None and r["delivery_due_at"] <= r["server_time"]
    }


async def extend_deadline(
    pool: Pool, caller: Caller, auction_id: int, due_at: dt.datetime, reason: str, request_id: str
) -> Award:
    """Admins extend a delivery deadline; a missed delivery whose new deadline is ahead reopens."""
    async with pool.acquire() as conn, conn.transaction():
        auction = await load_visible(conn, caller, auction_id, lock=True)
        award = await queries.active(conn, auction_id, lock=True)
        if award is None or auction["status"] not in ("awarded", "delivered", "missed_delivery"):
            raise Conflict(
                "no_delivery_pending",
                f"the auction is {auction['status']}; no delivery deadline to extend",
                auction_status=auction["status"],
            )
        if award["delivery_due_at"] is not None and due_at <= award["delivery_due_at"]:
            raise Unprocessable(
                "deadline_not_later",
                "the new deadline must be later than the current one",
                field="due_at",
                delivery_due_at=award["delivery_due_at"].isoformat(),
            )
        if due_at <= auction["server_time"]:
            raise Unprocessable(
                "deadline_in_past", "the new deadline must be in the future", field="due_at"
            )
        await queries.extend_deadline(conn, award["id"], due_at)
        if auction["status"] == "missed_delivery":
            reopened = "delivered" if award["delivered_at"] is not None else "awarded"
            await queries.set_auction_status(conn, auction_id, ("missed_delivery",), reopened)
        await announce(
            conn,
            DeliveryDeadlineExtended(
                auction_id=auction_id, award_id=award["id"], delivery_due_at=due_at, reason=reason
            ),
            caller.actor("admin", request_id),
            "delivery.deadline_extended",
            "award",
            award["id"],
            before={"delivery_due_at": _iso(award["delivery_due_at"])},
            after={"delivery_due_at": due_at.isoformat(), "reason": reason},
            auction_id=auction_id,
        )
        award = held(await queries.active(conn, auction_id), "awarded above, in this transaction")
    return present(award)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


async def mark_missed(pool: Pool, award_id: int, auction_id: int) -> bool:
    """awarded|delivered -> missed_delivery when the deadline passed with no merge in time."""
    async with pool.acquire() as conn, conn.transaction():
        award = await queries.active(conn, auction_id, lock=True)
        if award is None or award["id"] != award_id:
            return False
        due = award["delivery_due_at"]
        if due is None or due > await conn.fetchval("SELECT now()"):
            return False
        if award["auction_status"] == "delivered":
            evidence = await queries.merge_evidence(conn, award_id, due)
            if evidence["in_time"] or not evidence["seen_after_due"]:
                return False  # merged in time, or GitHub not yet read since the deadline
        if not await queries.set_auction_status(
            conn, auction_id, ("awarded", "delivered"), "missed_delivery"
        ):
            return False
        await announce(
            conn,
            DeliveryMissed(auction_id=auction_id, award_id=award_id, delivery_due_at=due),
            SYSTEM,
            "auction.missed_delivery",
            "auction",
            auction_id,
            before={"status": award["auction_status"]},
            after={
                "status": "missed_delivery",
                "award_id": award_id,
                "delivery_due_at": due.isoformat(),
            },
            auction_id=auction_id,
        )
    return True


async def decline(
    pool: Pool, caller: Caller, auction_id: int, reason: str, request_id: str
) -> Award:
    """The winner declines an award they cannot deliver; the buyer may then re-award."""
    async with pool.acquire() as conn, conn.transaction():
        auction = await load_visible(conn, caller, auction_id, lock=True)
        award = await queries.active(conn, auction_id, lock=True)
        if award is None or award["winner_id"] != caller.id:
            raise Forbidden("not_the_winner", "only the current winner may decline the award")
        if auction["status"] != "awarded":
            raise Conflict(
                "not_declinable",
                f"the auction is {auction['status']}; only an award not yet delivered "
                "can be declined",
                auction_status=auction["status"],
            )
        await queries.set_auction_status(conn, auction_id, ("awarded",), "missed_delivery")
        await announce(
            conn,
            AwardDeclined(
                auction_id=auction_id, award_id=award["id"], winner_id=caller.id, reason=reason
            ),
            caller.actor("vendor", request_id),
            "award.declined",
            "award",
            award["id"],
            before={"status": "awarded"},
            after={"status": "missed_delivery", "reason": reason},
            auction_id=auction_id,
        )
        award = held(await queries.active(conn, auction_id), "awarded above, in this transaction")
    return present(award)
