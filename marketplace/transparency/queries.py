"""Every SQL statement of transparency: award notices, platform metrics, spend, gauges.

Secrecy lives here: a sealed auction's bids count only once its auction has closed, and
awards are shown only for auctions past their close. Aggregates are computed in SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from marketplace.auctions import schemas as auction_schemas
from marketplace.db import Conn, Row, one

# Statuses an auction can hold once bidding has closed (DESIGN §3).
CLOSED: list[str] = list(auction_schemas.CLOSED)
# After an award: the statuses of an auction whose winner's outcome is or will be known.
PAID = ["paid", "payment_confirmed"]
# An empty stretch of time (spend_by_day), and the ends of all time for one unbounded.
EMPTY = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
EVER = (EMPTY, dt.datetime(9999, 12, 31, tzinfo=dt.UTC))
DECIDED = ["paid", "payment_confirmed", "rejected", "missed_delivery"]

# Active bids whose existence is public: any reverse auction's, a sealed one's only after
# its close. Drafts never take bids; a cancelled auction's bids are voided.
PUBLIC_BIDS = """SELECT b.id, b.auction_id, b.bidder_id, b.amount_cents
    FROM bids b JOIN auctions a ON a.id = b.auction_id
    WHERE b.status = 'active' AND a.published_at IS NOT NULL
      AND (a.type = 'reverse' OR a.status = ANY($1::text[]))"""

# The latest award (highest round) of each closed auction: the one a notice shows
# (``awards.latest``, kept by a trigger of sql/0025_read_scale.sql).
LATEST_AWARDS = """SELECT w.id, w.auction_id, w.round, w.winner_id,
           w.amount_cents, w.awarded_at, w.status, a.price_cap_cents
    FROM awards w JOIN auctions a ON a.id = w.auction_id
    WHERE w.latest AND a.status = ANY($1::text[])"""


async def list_awards(
    conn: Conn,
    *,
    department_id: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    include_history: bool,
    after: tuple[dt.datetime, int] | None,
    limit: int,
) -> list[Any]:
    """Award notices of closed auctions, newest first, keyset-paginated on (awarded_at, id)."""
    rows: list[Any] = await conn.fetch(
        """SELECT w.id AS award_id, w.round, w.status AS award_status, w.auction_id,
                  a.title, a.type, a.department_id, d.name AS department_name,
                  w.winner_id, u.name AS winner_name, w.amount_cents, a.price_cap_cents,
                  w.awarded_at, a.closed_at, a.status AS auction_status,
                  a.delivery_due_at, a.delivery_business_days
           FROM awards w
           JOIN auctions a ON a.id = w.auction_id
           JOIN departments d ON d.id = a.department_id
           JOIN users u ON u.id = w.winner_id
           WHERE a.status = ANY($1::text[]) AND a.closed_at IS NOT NULL
             AND ($2::boolean OR w.latest)
             AND ($3::bigint IS NULL OR a.department_id = $3)
             AND ($4::timestamptz IS NULL OR w.awarded_at >= $4)
             AND ($5::timestamptz IS NULL OR w.awarded_at < $5)
             AND ($6::timestamptz IS NULL OR (w.awarded_at, w.id) < ($6, $7::bigint))
           ORDER BY w.awarded_at DESC, w.id DESC
           LIMIT $8""",
        CLOSED,
        include_history,
        department_id,
        since,
        until,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return rows


async def auctions_by_status(conn: Conn, *, published_only: bool) -> dict[str, int]:
    """How many auctions hold each status (only published ones, or all)."""
    rows = await conn.fetch(
        """SELECT status, count(*) AS n FROM auctions
           WHERE NOT $1::boolean OR published_at IS NOT NULL
           GROUP BY status ORDER BY status""",
        published_only,
    )
    return {r["status"]: r["n"] for r in rows}


async def bid_stats(conn: Conn) -> Row:
    """Public bids in total, and bids and unique bidders per closed auction (mean, median)."""
    return await one(
        conn,
        f"""WITH public_bids AS ({PUBLIC_BIDS}),
                per AS (
                    SELECT a.id, count(b.id) AS bids, count(DISTINCT b.bidder_id) AS bidders
                    FROM auctions a
                    LEFT JOIN bids b ON b.auction_id = a.id AND b.status = 'active'
                    WHERE a.status = ANY($1::text[])
                    GROUP BY a.id)
            SELECT (SELECT count(*) FROM public_bids) AS total,
                   (SELECT count(DISTINCT bidder_id) FROM public_bids) AS bidders,
                   count(*) AS closed_auctions,
                   round(avg(bids)::numeric, 2)::float8 AS bids_mean,
                   round((percentile_cont(0.5) WITHIN GROUP (ORDER BY bids))::numeric, 2)::float8
                       AS bids_median,
                   round(avg(bidders)::numeric, 2)::float8 AS bidders_mean,
                   round((percentile_cont(0.5) WITHIN GROUP (ORDER BY bidders))::numeric, 2)::float8
                       AS bidders_median
            FROM per""",
        CLOSED,
    )


async def award_stats(conn: Conn) -> Row:
    """Winning bids and savings against the cap, over the latest award of each auction."""
    return await one(
        conn,
        f"""WITH latest AS ({LATEST_AWARDS})
            SELECT count(*) AS awards,
                   count(DISTINCT winner_id) AS winners,
                   round(avg(amount_cents))::bigint AS amount_mean,
                   round((percentile_cont(0.5) WITHIN GROUP (ORDER BY amount_cents))::numeric)::bigint
                       AS amount_median,
                   sum(price_cap_cents - amount_cents)::bigint AS savings_total,
                   round(avg(price_cap_cents - amount_cents))::bigint AS savings_mean,
                   round(avg(100.0 * (price_cap_cents - amount_cents) / price_cap_cents), 2)::float8
                       AS savings_percent_mean,
                   round(100.0 * sum(price_cap_cents - amount_cents)
                         / nullif(sum(price_cap_cents), 0), 2)::float8 AS savings_percent_overall
            FROM latest""",
        CLOSED,
    )


async def delivery_stats(conn: Conn) -> Row:
    """Seconds from each latest award to its auction's first move to 'delivered' after it.

    There is no delivered_at column: the move is read from the audit log, whose rows record
    every status change with ``after.status``.
    """
    return await one(
        conn,
        f"""WITH latest AS ({LATEST_AWARDS}),
                timed AS (
                    SELECT extract(epoch FROM d.at - l.awarded_at)::float8 AS seconds
                    FROM latest l
                    CROSS JOIN LATERAL (
                        SELECT min(g.occurred_at) AS at FROM audit_log g
                        WHERE g.auction_id = l.auction_id AND g.occurred_at >= l.awarded_at
                          AND g.data LIKE '%"delivered"%'
                          AND (g.data::jsonb -> 'after' ->> 'status') = 'delivered') d
                    WHERE d.at IS NOT NULL)
            SELECT count(*) AS measured,
                   round(avg(seconds)::numeric, 3)::float8 AS mean,
                   round((percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds))::numeric, 3)::float8
                       AS median
            FROM timed""",
        CLOSED,
    )


async def department_name(conn: Conn, department_id: int) -> str | None:
    name: str | None = await conn.fetchval(
        "SELECT name FROM departments WHERE id = $1", department_id
    )
    return name


# Department spend per local day: the kept days from first_day up to end_day (None:
# unbounded; none at all unless $6), and the awards of up to two stretches of time counted
# from the awards themselves (spend_by_day).
SPEND_BY_DAY = """SELECT k.day AS start, k.awards, k.committed_cents, k.paid_cents, k.paid_awards,
           k.near_threshold, k.near_cap
    FROM department_spend_days k
    WHERE $6::boolean AND k.department_id = $1 AND k.awards <> 0
      AND ($2::date IS NULL OR k.day >= $2) AND ($3::date IS NULL OR k.day < $3)
    UNION ALL
    SELECT (w.awarded_at AT TIME ZONE $4)::date,
           count(*),
           sum(w.amount_cents)::bigint,
           coalesce(sum(w.amount_cents) FILTER (WHERE spend_paid(a.status)), 0)::bigint,
           count(*) FILTER (WHERE spend_paid(a.status)),
           count(*) FILTER (WHERE w.amount_cents * 10 >= $5::bigint * 9),
           count(*) FILTER (WHERE w.amount_cents * 10 >= a.price_cap_cents * 9)
    FROM awards w
    -- Each award's auction by its key (LIMIT 1 keeps the planner from hashing every
    -- auction for the few awards of a cut stretch).
    CROSS JOIN LATERAL (SELECT x.status, x.price_cap_cents FROM auctions x
                        WHERE x.id = w.auction_id AND x.department_id = $1 LIMIT 1) a
    WHERE w.status = 'active'
      AND (w.awarded_at >= $7 AND w.awarded_at < $8 OR w.awarded_at >= $9 AND w.awarded_at < $10)
    GROUP BY 1"""


async def spend_kept(conn: Conn, zone: str, threshold_cents: int) -> bool:
    """Whether department_spend_days count in ``zone`` against ``threshold_cents``
    (sql/functions/spend_days.sql)."""
    kept: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM spend_basis WHERE zone = $1 AND threshold_cents = $2)",
        zone,
        threshold_cents,
    )
    return kept


async def spend_by_day(
    conn: Conn,
    department_id: int,
    zone: str,
    threshold_cents: int,
    days: tuple[dt.date | None, dt.date | None] | None,
    counted: list[tuple[dt.datetime, dt.datetime]],
) -> list[Row]:
    """Active awards of a department per local day (``start``: the day in ``zone``): the
    kept ``days`` (first, end), and the awards of each ``counted`` stretch [from, to)."""
    first, end = days if days is not None else (None, None)
    (lo1, hi1), (lo2, hi2) = (counted + [(EMPTY, EMPTY)] * 2)[:2]
    return await conn.fetch(
        SPEND_BY_DAY,
        department_id,
        first,
        end,
        zone,
        threshold_cents,
        days is not None,
        lo1,
        hi1,
        lo2,
        hi2,
    )


async def rebuild_spend(conn: Conn, zone: str, threshold_cents: int) -> bool:
    """Make the kept days count in ``zone`` against ``threshold_cents`` (a recount when
    they did not already); True when they were recounted."""
    rebuilt: bool = await conn.fetchval("SELECT spend_rebuild($1, $2)", zone, threshold_cents)
    return rebuilt


async def scrape_gauges(conn: Conn) -> Row:
    """What /metrics reads from the database at scrape time, besides the platform figures."""
    return await one(
        conn,
        """SELECT (SELECT count(*) FROM outbox WHERE relayed_at IS NULL) AS outbox_backlog,
                   extract(epoch FROM now() - (
                       SELECT min(created_at) FROM outbox WHERE relayed_at IS NULL))::float8
                       AS outbox_oldest_seconds""",
    )
