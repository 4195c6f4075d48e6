"""Every SQL statement of auctions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marketplace.db import Conn, Row

COLUMNS = """a.id, a.department_id, d.name AS department_name, a.created_by, a.title, a.summary,
    a.description, a.repo, a.repo_id, a.issue_number, a.target_branch, a.type, a.status,
    a.price_cap_cents, a.min_decrement_cents, a.starts_at, a.ends_at, a.scheduled_ends_at,
    a.delivery_due_at, a.delivery_business_days, a.soft_close_seconds, a.max_extensions,
    a.extensions, a.skills, a.created_at, a.published_at, a.opened_at, a.closed_at,
    a.cancelled_at, a.cancel_reason, a.lowest_cents, a.low_bidder_id, a.bid_count,
    a.acceptance, questions_close_at(a.starts_at, a.ends_at) AS questions_close_at,
    CASE WHEN a.status = 'open' THEN bid_max_allowed(
        a.type, a.lowest_cents, a.min_decrement_cents, a.price_cap_cents) END
        AS max_allowed_cents,
    now() AS server_time"""

FROM = "auctions a JOIN departments d ON d.id = a.department_id"

EDITABLE = (
    "title",
    "summary",
    "description",
    "acceptance",
    "repo",
    "issue_number",
    "target_branch",
    "type",
    "price_cap_cents",
    "min_decrement_cents",
    "starts_at",
    "ends_at",
    "delivery_due_at",
    "delivery_business_days",
    "soft_close_seconds",
    "max_extensions",
    "skills",
)

# "ending_soon" lists auctions by phase (open, scheduled, draft, then those that ended),
# soonest end first within the first three and most recently ended first among the last,
# so a finished auction never comes before one still taking bids. The order is stored as
# three keys one index serves (list_phase, list_time, list_id: sql/0025_read_scale.sql).
PHASE = "a.list_phase"
ENDED = 3
# The stored keys of a cursor's (phase, ends_at, id), as the columns compute them.
CURSOR_KEYS = f"""(k.phase, CASE WHEN k.phase < {ENDED}
                               THEN k.t - timestamptz '2000-01-01 00:00:00+00'
                               ELSE timestamptz '2000-01-01 00:00:00+00' - k.t END,
                   CASE WHEN k.phase < {ENDED} THEN k.id ELSE -k.id END)"""
# Sort name -> (ORDER BY for the page, keyset comparison for the next page).
SORTS = {
    "ending_soon": (
        "a.list_phase, a.list_time, a.list_id",
        f"(a.list_phase, a.list_time, a.list_id) > {CURSOR_KEYS}",
    ),
    "newest": ("a.id DESC", "a.id < k.id"),
    "cap_high": ("a.price_cap_cents DESC, a.id DESC", "(a.price_cap_cents, a.id) < (k.cap, k.id)"),
    "cap_low": ("a.price_cap_cents ASC, a.id ASC", "(a.price_cap_cents, a.id) > (k.cap, k.id)"),
}


async def now(conn: Conn) -> dt.datetime:
    value: dt.datetime = await conn.fetchval("SELECT now()")
    return value


async def insert_auction(
    conn: Conn, department_id: int, created_by: int, fields: dict[str, Any]
) -> int:
    names = list(EDITABLE)
    placeholders = ", ".join(f"${i}" for i in range(3, len(names) + 3))
    auction_id: int = await conn.fetchval(
        f"""INSERT INTO auctions (department_id, created_by, {", ".join(names)}, scheduled_ends_at)
            VALUES ($1, $2, {placeholders}, ${names.index("ends_at") + 3})
            RETURNING id""",
        department_id,
        created_by,
        *[fields[n] for n in names],
    )
    return auction_id


async def get_auction(conn: Conn, auction_id: int, *, lock: bool = False) -> Row | None:
    suffix = " FOR UPDATE OF a" if lock else ""
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM {FROM} WHERE a.id = $1{suffix}", auction_id)


async def update_draft(conn: Conn, auction_id: int, fields: dict[str, Any]) -> bool:
    names = list(EDITABLE)
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    status: str = await conn.execute(
        f"""UPDATE auctions SET {sets}, scheduled_ends_at = ${names.index("ends_at") + 2},
                   updated_at = now()
            WHERE id = $1 AND status = 'draft'""",
        auction_id,
        *[fields[n] for n in names],
    )
    return status.endswith(" 1")


async def publish(conn: Conn, auction_id: int) -> Row | None:
    """draft -> scheduled, or straight to open when the start has come."""
    return await conn.fetchrow(
        """UPDATE auctions
           SET status = CASE WHEN starts_at <= now() THEN 'open' ELSE 'scheduled' END,
               opened_at = CASE WHEN starts_at <= now() THEN now() END,
               published_at = now(), updated_at = now()
           WHERE id = $1 AND status = 'draft'
           RETURNING status, starts_at, ends_at""",
        auction_id,
    )


async def cancel(conn: Conn, auction_id: int, reason: str) -> Row | None:
    return await conn.fetchrow(
        """UPDATE auctions SET status = 'cancelled', cancel_reason = $2, cancelled_at = now(),
                  updated_at = now()
           WHERE id = $1 AND status IN ('draft', 'scheduled', 'open')
           RETURNING status""",
        auction_id,
        reason,
    )


async def void_bids(conn: Conn, auction_id: int) -> list[int]:
    rows = await conn.fetch(
        """UPDATE bids SET status = 'voided' WHERE auction_id = $1 AND status = 'active'
           RETURNING bidder_id""",
        auction_id,
    )
    return sorted({r["bidder_id"] for r in rows})


async def open_auction(conn: Conn, auction_id: int) -> Row | None:
    """scheduled -> open once the database clock reaches starts_at."""
    return await conn.fetchrow(
        """UPDATE auctions SET status = 'open', opened_at = now(), updated_at = now()
           WHERE id = $1 AND status = 'scheduled' AND starts_at <= now()
           RETURNING ends_at""",
        auction_id,
    )


_CLOSE = """
WITH due AS (
    SELECT id FROM auctions
    WHERE status = 'open' AND ends_at <= now() AND ($1::bigint[] IS NULL OR id = ANY($1))
    ORDER BY ends_at, id
    LIMIT $2
    FOR UPDATE {skip}
)
UPDATE auctions a
SET status = CASE WHEN a.bid_count > 0 THEN 'awarded' ELSE 'closed_no_bids' END,
    closed_at = now(), updated_at = now()
FROM due
WHERE a.id = due.id AND a.status = 'open' AND a.ends_at <= now()
RETURNING a.id, a.department_id, a.status, a.type, a.closed_at, a.delivery_due_at,
          a.delivery_business_days
"""


async def close_due(conn: Conn, ids: list[int] | None, limit: int) -> list[Any]:
    """open -> awarded | closed_no_bids for auctions whose (possibly extended) end has passed.

    With ``ids`` only those, waiting for a bid that holds one's row lock and re-checking its
    end after it (a soft-close extension then keeps it open). Without, up to ``limit`` of
    whatever is due, skipping rows another transaction holds: concurrent closers share the
    work, and a skipped auction is closed by the next pass.
    """
    sql = _CLOSE.format(skip="" if ids is not None else "SKIP LOCKED")
    rows: list[Any] = await conn.fetch(sql, ids, limit)
    return rows


async def name_sealed_bidders(conn: Conn, auction_ids: list[int]) -> None:
    """Give the sealed bidders of closing auctions their aliases, in acceptance order: a
    sealed bid has none before close (sql/functions/place_bid.sql)."""
    await conn.execute(
        """INSERT INTO auction_bidders (auction_id, bidder_id, alias_number)
           SELECT b.auction_id, b.bidder_id,
                  row_number() OVER (PARTITION BY b.auction_id ORDER BY b.id)
           FROM bids b WHERE b.auction_id = ANY($1::bigint[]) AND b.sealed
           ON CONFLICT DO NOTHING""",
        auction_ids,
    )


async def ranked_bids_of(conn: Conn, auction_ids: list[int]) -> list[Any]:
    """Active bids of the auctions, each auction's best first: lowest amount, then earliest.
    ``id`` is the internal one (awards refer to it), ``public_id`` the one shown."""
    rows: list[Any] = await conn.fetch(
        """SELECT b.auction_id, b.id, b.public_id, b.bidder_id, b.amount_cents, b.placed_at,
                  ab.alias_number
           FROM bids b JOIN auction_bidders ab
             ON ab.auction_id = b.auction_id AND ab.bidder_id = b.bidder_id
           WHERE b.auction_id = ANY($1::bigint[]) AND b.status = 'active'
           ORDER BY b.auction_id, b.amount_cents ASC, b.id ASC""",
        auction_ids,
    )
    return rows


async def due_to_open(conn: Conn, limit: int = 500) -> list[int]:
    rows = await conn.fetch(
        """SELECT id FROM auctions WHERE status = 'scheduled' AND starts_at <= now()
           ORDER BY starts_at LIMIT $1""",
        limit,
    )
    return [r["id"] for r in rows]


async def due_to_close(conn: Conn, limit: int = 500) -> list[int]:
    rows = await conn.fetch(
        """SELECT id FROM auctions WHERE status = 'open' AND ends_at <= now()
           ORDER BY ends_at LIMIT $1""",
        limit,
    )
    return [r["id"] for r in rows]


async def upcoming(conn: Conn, within_seconds: float, limit: int = 1000) -> list[Any]:
    """Auctions whose next transition falls within the window (to schedule their jobs)."""
    rows: list[Any] = await conn.fetch(
        """SELECT id, status, starts_at, ends_at, extensions FROM auctions
           WHERE (status = 'scheduled' AND starts_at <= now() + $1 * interval '1 second')
              OR (status = 'open' AND ends_at <= now() + $1 * interval '1 second')
           LIMIT $2""",
        within_seconds,
        limit,
    )
    return rows


# q: the auctions whose grams hold q's grams (sql/0018_auction_search.sql, from the index),
# then those of them whose title, summary or description holds q, case-insensitively, with
# q's LIKE wildcards taken literally. Only a statement with q has the clause, so a cached
# generic plan of the plain list can never stand in for the indexed one.
SEARCH = r"""AND a.id IN (SELECT s.auction_id FROM auction_search s
                           WHERE s.grams @> search_query_grams($9::text))
              AND (a.title ILIKE k.pattern OR a.summary ILIKE k.pattern
                   OR a.description ILIKE k.pattern)"""
LIKE_PATTERN = r"""'%' || replace(replace(replace($9::text, '\', '\\'), '%', '\%'), '_', '\_')
                   || '%'"""


async def list_auctions(
    conn: Conn,
    *,
    viewer_department_id: int | None,
    sees_all_drafts: bool,
    status: str | None,
    department_id: int | None,
    skill: str | None,
    q: str | None,
    sort: str,
    after: list[Any] | None,
    limit: int,
) -> list[Any]:
    """A page of auctions in ``sort`` order after the keyset ``after``: (phase, ends_at)
    for ending_soon, the cap for cap_*, nothing for newest; then the id."""
    order, keyset = SORTS[sort]
    after_time = after_id = after_cap = after_phase = None
    if after:
        key, after_id = after
        if sort == "ending_soon":
            after_phase, after_time = key
        elif sort.startswith("cap"):
            after_cap = key
    # Each filter's clause is in the statement only when it is set (every parameter is typed
    # in k either way), so each statement has its own plan on the index that matches it,
    # never a generic plan that must also serve the unfiltered list.
    filters = [
        "AND a.status = $6" if status is not None else "",
        "AND a.department_id = $7" if department_id is not None else "",
        "AND lower_skills(a.skills) @> ARRAY[lower($8)]" if skill is not None else "",
        SEARCH if q is not None else "",
        f"AND {keyset}" if after else "",
    ]
    rows: list[Any] = await conn.fetch(
        f"""SELECT {COLUMNS}, {PHASE} AS phase
            FROM {FROM}
            CROSS JOIN (SELECT $1::timestamptz AS t, $2::bigint AS id, $3::bigint AS cap,
                               $11::int AS phase, {LIKE_PATTERN} AS pattern,
                               $6::text AS status, $7::bigint AS department_id,
                               $8::text AS skill) k
            WHERE (a.status <> 'draft' OR $4::boolean OR a.department_id = $5::bigint)
              {" ".join(f for f in filters if f)}
            ORDER BY {order}
            LIMIT $10""",
        after_time,
        after_id,
        after_cap,
        sees_all_drafts,
        viewer_department_id,
        status,
        department_id,
        skill,
        q,
        limit,
        after_phase,
    )
    return rows


async def caller_standing(conn: Conn, auction_id: int, user_id: int) -> Row | None:
    return await conn.fetchrow(
        """SELECT count(*) AS bids, min(amount_cents) AS best
           FROM bids WHERE auction_id = $1 AND bidder_id = $2 AND status = 'active'""",
        auction_id,
        user_id,
    )
