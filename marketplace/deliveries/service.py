"""Delivery rules: who may submit a pull request, and who may read the verification records."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis

from marketplace import jobs, policy
from marketplace.auctions.service import load_visible
from marketplace.auth import Caller
from marketplace.awards import queries as award_queries
from marketplace.changes import announce
from marketplace.db import Conn, Pool, Row
from marketplace.deliveries import queries
from marketplace.deliveries.schemas import Check, Delivery, VerificationRecord, VerificationReport
from marketplace.errors import Conflict, Forbidden, Unprocessable
from marketplace.events import DeliverySubmitted
from marketplace.github.urls import parse_pull_url
from marketplace.settings import Settings
from marketplace.structs import encode_cursor

DELIVERABLE = ("awarded", "delivered")


def present(row: Row, auction_status: str, due: Any) -> Delivery:
    return Delivery(
        id=row["id"],
        auction_id=row["auction_id"],
        award_id=row["award_id"],
        pull_request_url=row["pull_request_url"],
        repo=row["repo_full_name"],
        pr_number=row["pr_number"],
        status=row["status"],
        submitted_at=row["submitted_at"],
        auction_status=auction_status,
        delivery_due_at=due,
        head_sha=row["head_sha"],
    )


async def submit(
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
    auction_id: int,
    url: str,
    rid: str,
) -> Delivery:
    """awarded -> delivered (or a re-submission while delivered), then verify at once.

    A submission after the deadline is taken: missed delivery is decided by the pull
    request's ``merged_at`` against the deadline, which the verification checks.
    """
    async with pool.acquire() as conn:
        async with conn.transaction():
            row, award, (repo, number) = await _deliverable(conn, caller, auction_id, url, settings)
            previous = await queries.current_delivery(conn, award["id"])
            if previous is not None:
                await queries.supersede(conn, previous["id"])
            if row["status"] == "awarded" and not await queries.mark_delivered(conn, auction_id):
                raise Conflict("not_awaiting_delivery", "the auction changed; try again")
            delivery = await queries.insert_delivery(
                conn, auction_id, award["id"], caller.id, url.strip(), repo, number
            )
            await queries.set_delivered_at(conn, award["id"])
            await announce(
                conn,
                DeliverySubmitted(
                    auction_id=auction_id,
                    award_id=award["id"],
                    delivery_id=delivery["id"],
                    winner_id=caller.id,
                    pull_request_url=delivery["pull_request_url"],
                    repo=repo,
                    pr_number=number,
                    resubmission=previous is not None,
                ),
                caller.actor("vendor", rid),
                "delivery.submitted",
                "auction",
                auction_id,
                before={
                    "status": row["status"],
                    "delivery_id": previous["id"] if previous else None,
                },
                after={
                    "status": "delivered",
                    "delivery_id": delivery["id"],
                    "pull_request_url": delivery["pull_request_url"],
                },
                auction_id=auction_id,
            )
    await jobs.schedule_verification(redis, delivery["id"], 0, "submission")
    return present(delivery, "delivered", award["delivery_due_at"])


async def _deliverable(
    conn: Conn, caller: Caller, auction_id: int, url: str, settings: Settings
) -> tuple[Any, Any, tuple[str, int]]:
    """The auction (locked), its active award and the pull request's (repo, number), once
    ``caller`` may deliver ``url`` for it: the winner, linked to GitHub, while the auction
    awaits delivery, a pull request of the auction's repository."""
    row = await load_visible(conn, caller, auction_id, lock=True)
    award = await award_queries.active(conn, auction_id)
    if award is None or award["winner_id"] != caller.id:
        raise Forbidden("not_the_winner", "only the auction's winner delivers its work")
    if row["status"] not in DELIVERABLE:
        raise Conflict(
            "not_awaiting_delivery",
            f"the auction is {row['status']}; a pull request is taken only while it is "
            "awarded or delivered",
            auction_status=row["status"],
        )
    if await queries.github_id_of(conn, caller.id) is None:
        raise Conflict(
            "github_not_linked",
            "link your GitHub account first (POST /api/me/github/link): the pull "
            "request's author must be your linked account",
        )
    repo, number = parse_pull_url(url, settings.github_url)
    if repo.lower() != row["repo"].lower():
        raise Unprocessable(
            "wrong_repository",
            f"the pull request is in {repo}; this auction's repository is {row['repo']}",
            field="pull_request_url",
            expected_repo=row["repo"],
        )
    return row, award, (repo, number)


async def report(
    pool: Pool, caller: Caller, auction_id: int, before_id: int | None, limit: int
) -> VerificationReport:
    async with pool.acquire() as conn:
        row = await load_visible(conn, caller, auction_id)
        award = await award_queries.active(conn, auction_id)
        if not policy.reads_delivery(
            caller, row["department_id"], award["winner_id"] if award else None
        ):
            raise Forbidden(
                "not_allowed",
                "verification records are for the auction's buyers, reviewers, the winner, "
                "auditors and admins",
            )
        current = await queries.current_delivery(conn, award["id"]) if award else None
        rows = await queries.list_verifications(conn, auction_id, before_id, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    due = award["delivery_due_at"] if award else None
    return VerificationReport(
        auction_id=auction_id,
        auction_status=row["status"],
        award_id=award["id"] if award else None,
        winner_id=award["winner_id"] if award else None,
        delivery_due_at=due,
        delivery=present(current, row["status"], due) if current else None,
        items=[
            VerificationRecord(
                id=r["id"],
                delivery_id=r["delivery_id"],
                award_id=r["award_id"],
                pull_request_url=r["pull_request_url"],
                passed=r["passed"],
                trigger=r["trigger"],
                merged_at=r["merged_at"],
                created_at=r["created_at"],
                outcome="error" if r["error"] else "passed" if r["passed"] else "failed",
                error=r["error"],
                checks=[
                    Check(
                        name=c.get("name", ""),
                        passed=bool(c.get("passed")),
                        evidence=c.get("evidence") or {},
                        detail=c.get("detail") or "",
                    )
                    for c in r["checks"]
                ],
            )
            for r in rows
        ],
        next=encode_cursor(rows[-1]["id"]) if more else None,
    )
