"""Every SQL statement of awards after the close."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marketplace.db import Conn, Row, one

AWARD_COLUMNS = """w.id, w.auction_id, a.title AS auction_title, a.status AS auction_status,
    w.round, w.winner_id, w.amount_cents, w.status, w.awarded_at, w.delivery_due_at,
    w.delivered_at, cardinality(w.runner_up_ids) AS runner_up_count, w.runner_up_ids"""


async def active(conn: Conn, auction_id: int, *, lock: bool = False) -> Row | None:
    """The auction's award in force (one at most), or None before the close or after a
    failed round."""
    suffix = " FOR UPDATE OF w" if lock else ""
    return await conn.fetchrow(
        f"""SELECT {AWARD_COLUMNS} FROM awards w JOIN auctions a ON a.id = w.auction_id
            WHERE w.auction_id = $1 AND w.status = 'active'{suffix}""",
        auction_id,
    )


async def awarded_bidders(conn: Conn, auction_id: int) -> list[int]:
    rows = await conn.fetch("SELECT winner_id FROM awards WHERE auction_id = $1", auction_id)
    return [r["winner_id"] for r in rows]


async def best_bid_of(conn: Conn, auction_id: int, bidder_id: int) -> Row | None:
    return await conn.fetchrow(
        """SELECT id, public_id, amount_cents FROM bids
           WHERE auction_id = $1 AND bidder_id = $2 AND status = 'active'
           ORDER BY amount_cents, id LIMIT 1""",
        auction_id,
        bidder_id,
    )


async def end_award(conn: Conn, award_id: int, status: str, reason: str | None) -> bool:
    result: str = await conn.execute(
        """UPDATE awards SET status = $2, ended_at = now(), declined_reason = $3
           WHERE id = $1 AND status = 'active'""",
        award_id,
        status,
        reason,
    )
    return result.endswith(" 1")


async def next_round(conn: Conn, auction_id: int) -> int:
    value: int = await conn.fetchval(
        "SELECT COALESCE(max(round), 0) + 1 FROM awards WHERE auction_id = $1", auction_id
    )
    return value


async def set_auction_status(
    conn: Conn, auction_id: int, expected: tuple[str, ...], new: str
) -> bool:
    result: str = await conn.execute(
        "UPDATE auctions SET status = $3, updated_at = now() WHERE id = $1 AND status = ANY ($2)",
        auction_id,
        list(expected),
        new,
    )
    return result.endswith(" 1")


async def extend_deadline(conn: Conn, award_id: int, due_at: dt.datetime) -> Row | None:
    return await conn.fetchrow(
        """UPDATE awards SET delivery_due_at = $2 WHERE id = $1 AND status = 'active'
           RETURNING delivery_due_at""",
        award_id,
        due_at,
    )


async def overdue(conn: Conn, limit: int = 200) -> list[Any]:
    """Active awards past their deadline on auctions still awaiting a merged PR."""
    rows: list[Any] = await conn.fetch(
        """SELECT w.id AS award_id, w.auction_id, w.delivery_due_at, a.status
           FROM awards w JOIN auctions a ON a.id = w.auction_id
           WHERE w.status = 'active' AND a.status IN ('awarded', 'delivered')
             AND w.delivery_due_at <= now()
           ORDER BY w.delivery_due_at LIMIT $1""",
        limit,
    )
    return rows


async def active_due_dates(conn: Conn, auction_ids: list[int]) -> list[Any]:
    """The active award's delivery deadline of each of these auctions, with the database time."""
    rows: list[Any] = await conn.fetch(
        """SELECT w.auction_id, w.delivery_due_at, now() AS server_time FROM awards w
           WHERE w.auction_id = ANY($1::bigint[]) AND w.status = 'active'""",
        auction_ids,
    )
    return rows


async def merge_evidence(conn: Conn, award_id: int, due_at: dt.datetime) -> Row:
    """What verification learned from GitHub about the award's PR merge.

    in_time: some record saw it merged at or before the deadline. seen_after_due: a
    verdict fetched from GitHub after the deadline exists (so "not merged in time" is known,
    not guessed while GitHub was unreachable); an error record read nothing, so it is none.
    """
    return await one(
        conn,
        """SELECT bool_or(v.merged_at IS NOT NULL AND v.merged_at <= $2) AS in_time,
                  bool_or(v.created_at > $2 AND v.error IS NULL) AS seen_after_due
           FROM verifications v JOIN deliveries d ON d.id = v.delivery_id
           WHERE d.award_id = $1""",
        award_id,
        due_at,
    )


async def list_my_awards(
    conn: Conn, winner_id: int, before_id: int | None, limit: int
) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        f"""SELECT {AWARD_COLUMNS} FROM awards w JOIN auctions a ON a.id = w.auction_id
            WHERE w.winner_id = $1 AND ($2::bigint IS NULL OR w.id < $2)
            ORDER BY w.id DESC LIMIT $3""",
        winner_id,
        before_id,
        limit,
    )
    return rows


async def copy_as_draft(conn: Conn, auction_id: int, created_by: int) -> int:
    """A new draft with the task's text and rules, its window moved a day ahead."""
    new_id: int = await conn.fetchval(
        """INSERT INTO auctions (department_id, created_by, title, summary, description,
               acceptance, repo, repo_id, issue_number, target_branch, type, price_cap_cents, min_decrement_cents,
               starts_at, ends_at, scheduled_ends_at, delivery_due_at, delivery_business_days,
               soft_close_seconds, max_extensions, skills, copied_from)
           SELECT department_id, $2, title, summary, description, acceptance, repo, repo_id, issue_number,
               target_branch, type, price_cap_cents, min_decrement_cents,
               now() + interval '1 day',
               now() + interval '1 day' + (scheduled_ends_at - starts_at),
               now() + interval '1 day' + (scheduled_ends_at - starts_at),
               CASE WHEN delivery_due_at IS NOT NULL
                    THEN now() + interval '1 day' + (delivery_due_at - starts_at) END,
               delivery_business_days, soft_close_seconds, max_extensions, skills, id
           FROM auctions WHERE id = $1
           RETURNING id""",
        auction_id,
        created_by,
    )
    return new_id


async def insert_awards(conn: Conn, awards: list[tuple[Any, ...]]) -> dict[int, int]:
    """First-round awards, each (auction_id, winner_id, bid_id, amount, runner_up_ids,
    delivery_due_at); returns award ids by auction id."""
    rows = await conn.fetch(
        """INSERT INTO awards (auction_id, round, winner_id, bid_id, amount_cents, runner_up_ids,
                               delivery_due_at)
           SELECT a.auction_id, 1, a.winner_id, a.bid_id, a.amount_cents,
                  a.runner_up_ids::bigint[],
                  a.delivery_due_at
           FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                       $6::timestamptz[])
                AS a(auction_id, winner_id, bid_id, amount_cents, runner_up_ids, delivery_due_at)
           RETURNING auction_id, id""",
        [a[0] for a in awards],
        [a[1] for a in awards],
        [a[2] for a in awards],
        [a[3] for a in awards],
        # an array of arrays of different lengths: each as a text literal, '{3,9}'
        ["{" + ",".join(map(str, a[4])) + "}" for a in awards],
        [a[5] for a in awards],
    )
    return {r["auction_id"]: r["id"] for r in rows}


async def insert_award(
    conn: Conn,
    auction_id: int,
    round_: int,
    winner_id: int,
    bid_id: int,
    amount: int,
    runner_up_ids: list[int],
    delivery_due_at: dt.datetime,
) -> int:
    award_id: int = await conn.fetchval(
        """INSERT INTO awards (auction_id, round, winner_id, bid_id, amount_cents, runner_up_ids,
                               delivery_due_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        auction_id,
        round_,
        winner_id,
        bid_id,
        amount,
        runner_up_ids,
        delivery_due_at,
    )
    return award_id


async def latest_award(conn: Conn, auction_id: int) -> Row | None:
    """The last round's award, whatever its status (the detail shows a failed one too)."""
    return await conn.fetchrow(
        """SELECT w.id, w.round, w.winner_id, u.name AS winner_name, w.amount_cents,
                  w.awarded_at, w.status, ab.alias_number
           FROM awards w JOIN users u ON u.id = w.winner_id
           LEFT JOIN auction_bidders ab ON ab.auction_id = w.auction_id AND ab.bidder_id = w.winner_id
           WHERE w.auction_id = $1 ORDER BY w.round DESC LIMIT 1""",
        auction_id,
    )
