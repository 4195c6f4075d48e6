"""SQL of open contracting: published auctions, their events and (after close) bidders."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marketplace.auctions.schemas import CLOSED
from marketplace.db import Conn, Row

# Bidders are read only for auctions past their close (not cancelled before it): until
# then who bid is secret (DESIGN §4), and the mapping never needs them.
_CLOSED = "(" + ", ".join(f"'{status}'" for status in CLOSED) + ")"


async def published_auctions(
    conn: Conn, after_id: int, limit: int, auction_id: int | None = None
) -> list[Any]:
    """A page of published auctions (never drafts) in id order, after ``after_id``."""
    rows: list[Any] = await conn.fetch(
        """SELECT a.id, a.department_id, d.name AS department_name, a.title, a.summary,
                  a.description, a.acceptance, a.repo, a.issue_number, a.type, a.price_cap_cents, a.skills,
                  a.copied_from, a.delivery_due_at
           FROM auctions a JOIN departments d ON d.id = a.department_id
           WHERE a.published_at IS NOT NULL AND a.id > $1 AND ($3::bigint IS NULL OR a.id = $3)
           ORDER BY a.id LIMIT $2""",
        after_id,
        limit,
        auction_id,
    )
    return rows


async def events_of(conn: Conn, auction_ids: list[int], until: dt.datetime | None) -> list[Any]:
    """Every event of these auctions written before ``until``, by auction then event id."""
    rows: list[Any] = await conn.fetch(
        """SELECT id, auction_id, payload, created_at FROM outbox
           WHERE auction_id = ANY($1::bigint[])
             AND ($2::timestamptz IS NULL OR created_at < $2)
           ORDER BY auction_id, id""",
        auction_ids,
        until,
    )
    return rows


async def bidders_of(conn: Conn, auction_ids: list[int]) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        f"""SELECT b.auction_id, b.alias_number, b.bidder_id, u.name, u.verification_kind
            FROM auction_bidders b
            JOIN auctions a ON a.id = b.auction_id
            JOIN users u ON u.id = b.bidder_id
            WHERE b.auction_id = ANY($1::bigint[]) AND a.status IN {_CLOSED}
            ORDER BY b.auction_id, b.alias_number""",
        auction_ids,
    )
    return rows


async def award_deadlines(conn: Conn, auction_ids: list[int]) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT auction_id, id, delivery_due_at FROM awards
           WHERE auction_id = ANY($1::bigint[]) AND delivery_due_at IS NOT NULL""",
        auction_ids,
    )
    return rows


async def fingerprint(conn: Conn) -> Row | None:
    """What every release depends on that can change: the latest auction event, and its
    time (the packages' publishedDate). Publishing, every bid and every close write one."""
    return await conn.fetchrow(
        """SELECT id AS last_event, created_at AS last_at FROM outbox
           WHERE auction_id IS NOT NULL ORDER BY id DESC LIMIT 1"""
    )


async def count_published(conn: Conn, auction_id: int | None = None) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM auctions WHERE published_at IS NOT NULL"
        " AND ($1::bigint IS NULL OR id = $1)",
        auction_id,
    )
    return count
