"""The review rules: scope, conflicts of interest, and what accepting sets in motion."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis

from marketplace import jobs, policy
from marketplace.auctions.service import load_visible
from marketplace.auth import Caller
from marketplace.awards import queries as award_queries
from marketplace.changes import announce
from marketplace.db import Conn, Pool, Row
from marketplace.errors import Conflict, NotFound
from marketplace.events import ReviewDecided
from marketplace.payments import service as payments
from marketplace.reviews import queries
from marketplace.reviews.schemas import Review, ReviewItem
from marketplace.settings import Settings


async def review_queue(pool: Pool, caller: Caller, limit: int) -> list[ReviewItem]:
    async with pool.acquire() as conn:
        rows = await queries.queue(conn, caller.id, caller.department_id, limit)
    return [
        ReviewItem(
            auction_id=r["auction_id"],
            title=r["title"],
            repo=r["repo"],
            department_id=r["department_id"],
            department_name=r["department_name"],
            award_id=r["award_id"],
            winner_id=r["winner_id"],
            winner_name=r["winner_name"],
            amount_cents=r["amount_cents"],
            pull_request_url=r["pull_request_url"],
            verification_id=r["verification_id"],
            verification_passed=r["passed"],
            checks=list(r["checks"] or []),
            verified_at=r["verified_record_at"],
        )
        for r in rows
    ]


async def _reviewable(conn: Conn, caller: Caller, auction_id: int, *, lock: bool) -> Any:
    """The auction and its active award, if ``caller`` may review it now; else refused."""
    row = await load_visible(conn, caller, auction_id, lock=lock)
    if not policy.in_scope(caller, row["department_id"]):
        raise NotFound("auction_not_found", "no such auction in your review scope")
    award = await award_queries.active(conn, auction_id)
    parties = policy.relations(
        winner=award is not None and award["winner_id"] == caller.id,
        department_buyer=policy.buys_for(caller, row["department_id"]),
        bidder=await queries.has_bid(conn, auction_id, caller.id),
    )
    policy.refuse_conflicts(policy.Decision.REVIEW, parties)
    if row["status"] != "pending_review" or award is None:
        raise Conflict(
            "not_awaiting_review",
            f"the auction is {row['status']}, not awaiting review",
            auction_status=row["status"],
        )
    return row, award


async def check_reviewable(pool: Pool, caller: Caller, auction_id: int) -> None:
    """Refuses as ``decide`` would, without deciding (the pages ask before they act)."""
    async with pool.acquire() as conn:
        await _reviewable(conn, caller, auction_id, lock=False)


async def decide(
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
    auction_id: int,
    decision: str,
    reason: str,
    request_id: str,
) -> Review:
    payment_id = release_after = None
    async with pool.acquire() as conn:
        async with conn.transaction():
            row, award = await _reviewable(conn, caller, auction_id, lock=True)
            review_id = await queries.insert_review(
                conn, auction_id, award["id"], caller.id, decision, reason
            )
            new_status = "accepted" if decision == "accept" else "rejected"
            if review_id is None or not await queries.decide(
                conn, auction_id, award["id"], new_status
            ):
                raise Conflict("already_reviewed", "this delivery has already been reviewed")
            if decision == "accept":
                payment_id, release_after = await payments.create_for_award(
                    conn,
                    caller.actor("reviewer", request_id),
                    award,
                    row["department_id"],
                    settings.payment_hold_seconds,
                )
            await _announce(conn, caller, request_id, award, decision, reason, payment_id)
    if payment_id is not None:
        await jobs.schedule_release(redis, payment_id, 0, release_after)
    return Review(
        id=review_id,
        auction_id=auction_id,
        award_id=award["id"],
        decision=decision,
        reason=reason,
        auction_status=new_status,
        payment_id=payment_id,
        release_after=release_after,
    )


async def _announce(
    conn: Conn,
    reviewer: Caller,
    request_id: str,
    award: Row,
    decision: str,
    reason: str,
    payment_id: int | None,
) -> None:
    """The decision's event and its audit row, in the decision's transaction."""
    auction_id = award["auction_id"]
    await announce(
        conn,
        ReviewDecided(
            auction_id=auction_id,
            award_id=award["id"],
            reviewer_id=reviewer.id,
            decision=decision,
            reason=reason,
        ),
        reviewer.actor("reviewer", request_id),
        f"review.{decision}ed",
        "auction",
        auction_id,
        before={"status": "pending_review"},
        after={
            "status": "accepted" if decision == "accept" else "rejected",
            "award_id": award["id"],
            "reason": reason,
            "payment_id": payment_id,
        },
        auction_id=auction_id,
    )
