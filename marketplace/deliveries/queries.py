"""Every SQL statement of deliveries and verification records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marketplace.db import Conn, Row, one

DELIVERY_COLUMNS = """d.id, d.auction_id, d.award_id, d.submitted_by, d.pull_request_url,
    d.repo_full_name, d.pr_number, d.status, d.submitted_at, d.head_sha, d.merge_commit_sha"""


async def github_id_of(conn: Conn, user_id: int) -> int | None:
    github_id: int | None = await conn.fetchval(
        "SELECT github_id FROM users WHERE id = $1", user_id
    )
    return github_id


async def current_delivery(conn: Conn, award_id: int) -> Row | None:
    return await conn.fetchrow(
        f"""SELECT {DELIVERY_COLUMNS} FROM deliveries d
            WHERE d.award_id = $1 AND d.status <> 'superseded'""",
        award_id,
    )


async def supersede(conn: Conn, delivery_id: int) -> bool:
    status: str = await conn.execute(
        "UPDATE deliveries SET status = 'superseded' WHERE id = $1 AND status = 'submitted'",
        delivery_id,
    )
    return status == "UPDATE 1"


async def mark_delivered(conn: Conn, auction_id: int) -> bool:
    """awarded -> delivered, compare-and-set."""
    status: str = await conn.execute(
        """UPDATE auctions SET status = 'delivered', updated_at = now()
           WHERE id = $1 AND status = 'awarded'""",
        auction_id,
    )
    return status == "UPDATE 1"


async def insert_delivery(
    conn: Conn,
    auction_id: int,
    award_id: int,
    user_id: int,
    url: str,
    repo_full_name: str,
    pr_number: int,
) -> Row:
    return await one(
        conn,
        f"""INSERT INTO deliveries AS d (auction_id, award_id, submitted_by, pull_request_url,
                                         repo_full_name, pr_number)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {DELIVERY_COLUMNS}""",
        auction_id,
        award_id,
        user_id,
        url,
        repo_full_name,
        pr_number,
    )


async def set_delivered_at(conn: Conn, award_id: int) -> None:
    # The first submission is when the work was delivered; re-submissions keep it.
    await conn.execute(
        "UPDATE awards SET delivered_at = COALESCE(delivered_at, now()) WHERE id = $1", award_id
    )


# -- the verification worker ---------------------------------------------------------------


async def verification_subject(conn: Conn, delivery_id: int, *, lock: bool = False) -> Row | None:
    """The delivery with its award, auction and the winner's GitHub id."""
    return await conn.fetchrow(
        f"""SELECT {DELIVERY_COLUMNS}, w.status AS award_status, w.winner_id, w.awarded_at,
                   w.delivery_due_at, a.status AS auction_status, a.repo, a.repo_id,
                   a.issue_number, a.target_branch, u.github_id AS winner_github_id
            FROM deliveries d
            JOIN awards w ON w.id = d.award_id
            JOIN auctions a ON a.id = d.auction_id
            JOIN users u ON u.id = w.winner_id
            WHERE d.id = $1 {"FOR UPDATE OF d" if lock else ""}""",
        delivery_id,
    )


async def latest_verification(conn: Conn, delivery_id: int) -> Row | None:
    return await conn.fetchrow(
        """SELECT id, passed, checks, error FROM verifications WHERE delivery_id = $1
           ORDER BY id DESC LIMIT 1""",
        delivery_id,
    )


async def remember_repo_id(conn: Conn, auction_id: int, repo_id: int) -> None:
    """Store GitHub's numeric repo id the first time it is seen; afterwards it is the match."""
    await conn.execute(
        "UPDATE auctions SET repo_id = $2 WHERE id = $1 AND repo_id IS NULL", auction_id, repo_id
    )


async def set_shas(
    conn: Conn, delivery_id: int, head_sha: str | None, merge_commit_sha: str | None
) -> None:
    await conn.execute(
        """UPDATE deliveries SET head_sha = COALESCE($2, head_sha),
                  merge_commit_sha = COALESCE($3, merge_commit_sha)
           WHERE id = $1""",
        delivery_id,
        head_sha,
        merge_commit_sha,
    )


async def insert_verification(
    conn: Conn,
    delivery_id: int,
    auction_id: int,
    passed: bool,
    checks: list[Any],
    trigger: str,
    merged_at: dt.datetime | None,
    error: str | None = None,
) -> int:
    """One attempt's record: a verdict (``error`` None), or why GitHub could not be read."""
    verification_id: int = await conn.fetchval(
        """INSERT INTO verifications
               (delivery_id, auction_id, passed, checks, trigger, merged_at, error)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        delivery_id,
        auction_id,
        passed,
        checks,
        trigger,
        merged_at,
        error,
    )
    return verification_id


async def mark_verified(conn: Conn, auction_id: int, award_id: int, delivery_id: int) -> bool:
    """delivered -> pending_review (compare-and-set), with the award and delivery stamped."""
    moved: bool = await conn.fetchval(
        """WITH a AS (
               UPDATE auctions SET status = 'pending_review', updated_at = now()
               WHERE id = $1 AND status = 'delivered' RETURNING id
           ), w AS (
               UPDATE awards SET verified_at = now()
               WHERE id = $2 AND EXISTS (SELECT 1 FROM a) RETURNING id
           ), d AS (
               UPDATE deliveries SET status = 'verified'
               WHERE id = $3 AND status = 'submitted' AND EXISTS (SELECT 1 FROM a) RETURNING id
           )
           SELECT EXISTS (SELECT 1 FROM a) AND EXISTS (SELECT 1 FROM w)
                  AND EXISTS (SELECT 1 FROM d)""",
        auction_id,
        award_id,
        delivery_id,
    )
    return moved


# -- triggers ------------------------------------------------------------------------------

# A delivery's verdicts so far, the ``attempts`` of its verification job id (jobs.py). Error
# records are left out: they are no new state, so triggers arriving while an error attempt
# waits for its retry share that job, and the re-check starts no second chain of retries.
VERDICTS = "(SELECT count(*) FROM verifications v WHERE v.delivery_id = d.id AND v.error IS NULL)"


async def awaiting_verification(conn: Conn, limit: int = 1000) -> list[Any]:
    """Current deliveries of auctions still ``delivered``, with their verdict counts."""
    rows: list[Any] = await conn.fetch(
        f"""SELECT d.id, {VERDICTS} AS attempts
           FROM deliveries d JOIN auctions a ON a.id = d.auction_id
           WHERE d.status = 'submitted' AND a.status = 'delivered'
           ORDER BY d.id LIMIT $1""",
        limit,
    )
    return rows


async def deliveries_concerned(
    conn: Conn,
    repo_id: int | None,
    repo_full_name: str | None,
    pr_number: int | None,
    head_sha: str | None,
) -> list[Any]:
    """Deliveries awaiting verification that a webhook (repo and PR, or a commit) concerns."""
    rows: list[Any] = await conn.fetch(
        f"""SELECT d.id, {VERDICTS} AS attempts
           FROM deliveries d JOIN auctions a ON a.id = d.auction_id
           WHERE d.status = 'submitted' AND a.status = 'delivered'
             AND (
               ($3::int IS NOT NULL AND d.pr_number = $3
                AND (a.repo_id = $1 OR lower(d.repo_full_name) = lower($2)
                     OR lower(a.repo) = lower($2)))
               OR ($4::text IS NOT NULL AND (d.head_sha = $4 OR d.merge_commit_sha = $4))
             )
           ORDER BY d.id""",
        repo_id,
        repo_full_name,
        pr_number,
        head_sha,
    )
    return rows


async def unenqueued_github_events(conn: Conn, older_than_seconds: float) -> list[str]:
    """Stored webhook deliveries whose job never reached the queue (Redis was down)."""
    rows = await conn.fetch(
        """SELECT delivery_id FROM github_events
           WHERE enqueued_at IS NULL AND event <> 'ping'
             AND received_at < now() - $1 * interval '1 second'
           ORDER BY id LIMIT 500""",
        older_than_seconds,
    )
    return [r["delivery_id"] for r in rows]


# -- reading records -----------------------------------------------------------------------


async def list_verifications(
    conn: Conn, auction_id: int, before_id: int | None, limit: int
) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT v.id, v.delivery_id, d.award_id, d.pull_request_url, v.passed, v.trigger,
                  v.merged_at, v.created_at, v.checks, v.error
           FROM verifications v JOIN deliveries d ON d.id = v.delivery_id
           WHERE v.auction_id = $1 AND ($2::bigint IS NULL OR v.id < $2)
           ORDER BY v.id DESC LIMIT $3""",
        auction_id,
        before_id,
        limit,
    )
    return rows


async def count_verification_errors(conn: Conn) -> int:
    """Error attempts recorded (GitHub unreadable), for /metrics."""
    count: int = await conn.fetchval("SELECT count(*) FROM verifications WHERE error IS NOT NULL")
    return count
