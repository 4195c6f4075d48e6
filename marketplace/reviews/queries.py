"""Every SQL statement of reviews."""

from __future__ import annotations

from typing import Any

from marketplace.db import Conn


async def queue(conn: Conn, reviewer_id: int, department_id: int | None, limit: int) -> list[Any]:
    """Auctions awaiting review in the reviewer's scope, minus those they may not review."""
    rows: list[Any] = await conn.fetch(
        """SELECT a.id AS auction_id, a.title, a.repo, a.department_id, d.name AS department_name,
                  w.id AS award_id, w.winner_id, wu.name AS winner_name, w.amount_cents,
                  w.delivered_at, w.verified_at,
                  dl.pull_request_url,
                  v.id AS verification_id, v.passed, v.checks, v.created_at AS verified_record_at
           FROM auctions a
           JOIN departments d ON d.id = a.department_id
           JOIN awards w ON w.auction_id = a.id AND w.status = 'active'
           JOIN users wu ON wu.id = w.winner_id
           LEFT JOIN LATERAL (SELECT * FROM deliveries x WHERE x.award_id = w.id
                              AND x.status <> 'superseded' ORDER BY x.id DESC LIMIT 1) dl ON true
           LEFT JOIN LATERAL (SELECT * FROM verifications y WHERE y.delivery_id = dl.id
                              ORDER BY y.id DESC LIMIT 1) v ON true
           WHERE a.status = 'pending_review'
             AND ($2::bigint IS NULL OR a.department_id = $2)
             AND w.winner_id <> $1
             AND NOT EXISTS (SELECT 1 FROM bids b WHERE b.auction_id = a.id AND b.bidder_id = $1)
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND 'buyer' = ANY (u.roles)
                             AND u.department_id = a.department_id)
           ORDER BY w.verified_at NULLS LAST, a.id
           LIMIT $3""",
        reviewer_id,
        department_id,
        limit,
    )
    return rows


async def has_bid(conn: Conn, auction_id: int, user_id: int) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM bids WHERE auction_id = $1 AND bidder_id = $2)",
        auction_id,
        user_id,
    )
    return found


async def insert_review(
    conn: Conn, auction_id: int, award_id: int, reviewer_id: int, decision: str, reason: str
) -> int | None:
    review_id: int | None = await conn.fetchval(
        """INSERT INTO reviews (auction_id, award_id, reviewer_id, decision, reason)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (award_id) DO NOTHING RETURNING id""",
        auction_id,
        award_id,
        reviewer_id,
        decision,
        reason,
    )
    return review_id


async def decide(conn: Conn, auction_id: int, award_id: int, new_status: str) -> bool:
    """pending_review -> accepted | rejected, compare-and-set."""
    status: str = await conn.execute(
        """WITH a AS (
               UPDATE auctions SET status = $3, updated_at = now()
               WHERE id = $1 AND status = 'pending_review' RETURNING id
           )
           UPDATE awards SET reviewed_at = now() WHERE id = $2 AND EXISTS (SELECT 1 FROM a)""",
        auction_id,
        award_id,
        new_status,
    )
    return status.endswith(" 1")
