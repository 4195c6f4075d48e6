"""Every SQL statement of bids. The guarded UPDATE inside place_bid() referees every race."""

from __future__ import annotations

from typing import Any

from marketplace.db import Conn, Row, one


# The bid itself is one call of place_bid() (sql/functions/place_bid.sql): the guarded
# UPDATE that referees every race, the alias, the bid, its outbox events and audit row, or
# the refusal's audit row and reason, in one round trip. Its result columns: outcome ('accepted' or a
# refusal code), detail, bid_id, placed_at, bid_status, alias_number, ends_at, extended,
# extensions, max_allowed_cents, auction_status.
async def place_bid(
    conn: Conn,
    auction_id: int,
    bidder_id: int,
    amount: int,
    token_id: int | None,
    request_id: str | None,
) -> Row:
    """Take the bid if the rules allow it, else audit the refusal; one statement."""
    return await one(
        conn,
        "SELECT * FROM place_bid($1, $2, $3, $4, $5)",
        auction_id,
        bidder_id,
        amount,
        token_id,
        request_id,
    )


async def list_bids(
    conn: Conn, auction_id: int, only_bidder: int | None, after_id: int, limit: int
) -> list[Any]:
    """A page of the auction's bids in acceptance order, after the bid whose public id is
    ``after_id`` (0: from the first). Every id that leaves is the bid's public id (sql/0017):
    the internal one counts every auction's bids, sealed ones included."""
    rows: list[Any] = await conn.fetch(
        """SELECT b.public_id AS id, b.auction_id, b.bidder_id, b.amount_cents, b.placed_at,
                  b.status, ab.alias_number
           FROM bids b LEFT JOIN auction_bidders ab
             ON ab.auction_id = b.auction_id AND ab.bidder_id = b.bidder_id
           WHERE b.auction_id = $1 AND ($2::bigint IS NULL OR b.bidder_id = $2)
             AND b.id > coalesce(
                 (SELECT c.id FROM bids c WHERE c.public_id = $3 AND c.auction_id = $1), 0)
           ORDER BY b.id LIMIT $4""",
        auction_id,
        only_bidder,
        after_id,
        limit,
    )
    return rows


async def list_my_bids(conn: Conn, bidder_id: int, before_id: int | None, limit: int) -> list[Any]:
    """A page of the bidder's bids, newest first, before the bid whose public id is
    ``before_id``."""
    rows: list[Any] = await conn.fetch(
        """SELECT b.public_id AS id, b.auction_id, a.title, a.status AS auction_status, a.type,
                  b.amount_cents, b.placed_at, b.status, ab.alias_number,
                  (a.low_bidder_id = b.bidder_id AND a.lowest_cents = b.amount_cents) AS is_low
           FROM bids b
           JOIN auctions a ON a.id = b.auction_id
           LEFT JOIN auction_bidders ab
             ON ab.auction_id = b.auction_id AND ab.bidder_id = b.bidder_id
           WHERE b.bidder_id = $1
             AND ($2::bigint IS NULL OR b.id < (
                 SELECT c.id FROM bids c WHERE c.public_id = $2 AND c.bidder_id = $1))
           ORDER BY b.id DESC LIMIT $3""",
        bidder_id,
        before_id,
        limit,
    )
    return rows
