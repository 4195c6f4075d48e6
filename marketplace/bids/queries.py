"""Every SQL statement of bids. The guarded UPDATEs are the referee of every race."""

from __future__ import annotations

from typing import Any

# Soft close: a bid within soft_close_seconds of the end moves the end to now + that many
# seconds, at most max_extensions times. SET expressions all see the row's old values.
_EXTENDS = """soft_close_seconds > 0 AND extensions < max_extensions
              AND ends_at - now() < soft_close_seconds * interval '1 second'"""


async def take_reverse_bid(conn: Any, auction_id: int, bidder_id: int, amount: int) -> Any:
    """Lower the auction's price if the bid beats it; one statement, so races have one winner.

    PostgreSQL re-checks the WHERE clause against the latest committed row after waiting
    on the row lock, so two bids at the same price cannot both match.
    """
    return await conn.fetchrow(
        f"""UPDATE auctions
            SET lowest_cents = $3, low_bidder_id = $2, bid_count = bid_count + 1,
                ends_at = CASE WHEN {_EXTENDS}
                          THEN now() + soft_close_seconds * interval '1 second' ELSE ends_at END,
                extensions = extensions + CASE WHEN {_EXTENDS} THEN 1 ELSE 0 END,
                last_bid_extended = {_EXTENDS}
            WHERE id = $1 AND type = 'reverse' AND status = 'open' AND now() < ends_at
              AND low_bidder_id IS DISTINCT FROM $2
              AND $3 <= COALESCE(lowest_cents - min_decrement_cents, price_cap_cents)
            RETURNING ends_at, extensions, last_bid_extended AS extended""",
        auction_id,
        bidder_id,
        amount,
    )


async def take_sealed_bid(conn: Any, auction_id: int, bidder_id: int, amount: int) -> Any:
    """Count a sealed bid while open and within the cap (one per vendor: unique index)."""
    return await conn.fetchrow(
        """UPDATE auctions
           SET bid_count = bid_count + 1,
               low_bidder_id = CASE WHEN lowest_cents IS NULL OR $3 < lowest_cents
                               THEN $2 ELSE low_bidder_id END,
               lowest_cents = LEAST(lowest_cents, $3)
           WHERE id = $1 AND type = 'sealed' AND status = 'open' AND now() < ends_at
             AND $3 <= price_cap_cents
           RETURNING ends_at, extensions, false AS extended""",
        auction_id,
        bidder_id,
        amount,
    )


async def bidder_alias(conn: Any, auction_id: int, bidder_id: int) -> int:
    """The bidder's alias number in this auction, assigned on first bid (under the row lock)."""
    number: int = await conn.fetchval(
        """WITH existing AS (
               SELECT alias_number FROM auction_bidders WHERE auction_id = $1 AND bidder_id = $2
           ), inserted AS (
               INSERT INTO auction_bidders (auction_id, bidder_id, alias_number)
               SELECT $1, $2, COALESCE(
                   (SELECT max(alias_number) FROM auction_bidders WHERE auction_id = $1), 0) + 1
               WHERE NOT EXISTS (SELECT 1 FROM existing)
               RETURNING alias_number
           )
           SELECT alias_number FROM existing UNION ALL SELECT alias_number FROM inserted""",
        auction_id,
        bidder_id,
    )
    return number


async def insert_bid(conn: Any, auction_id: int, bidder_id: int, amount: int, sealed: bool) -> Any:
    return await conn.fetchrow(
        """INSERT INTO bids (auction_id, bidder_id, amount_cents, sealed)
           VALUES ($1, $2, $3, $4) RETURNING id, placed_at, status""",
        auction_id,
        bidder_id,
        amount,
        sealed,
    )


async def has_bid(conn: Any, auction_id: int, bidder_id: int) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM bids WHERE auction_id = $1 AND bidder_id = $2)",
        auction_id,
        bidder_id,
    )
    return found


async def list_bids(
    conn: Any, auction_id: int, only_bidder: int | None, after_id: int, limit: int
) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT b.id, b.auction_id, b.bidder_id, b.amount_cents, b.placed_at, b.status,
                  ab.alias_number
           FROM bids b JOIN auction_bidders ab
             ON ab.auction_id = b.auction_id AND ab.bidder_id = b.bidder_id
           WHERE b.auction_id = $1 AND ($2::bigint IS NULL OR b.bidder_id = $2) AND b.id > $3
           ORDER BY b.id LIMIT $4""",
        auction_id,
        only_bidder,
        after_id,
        limit,
    )
    return rows


async def list_my_bids(conn: Any, bidder_id: int, before_id: int | None, limit: int) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT b.id, b.auction_id, a.title, a.status AS auction_status, a.type,
                  b.amount_cents, b.placed_at, b.status, ab.alias_number,
                  (a.low_bidder_id = b.bidder_id AND a.lowest_cents = b.amount_cents) AS is_low
           FROM bids b
           JOIN auctions a ON a.id = b.auction_id
           JOIN auction_bidders ab ON ab.auction_id = b.auction_id AND ab.bidder_id = b.bidder_id
           WHERE b.bidder_id = $1 AND ($2::bigint IS NULL OR b.id < $2)
           ORDER BY b.id DESC LIMIT $3""",
        bidder_id,
        before_id,
        limit,
    )
    return rows
