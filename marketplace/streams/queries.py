"""Every SQL statement of the relay and the live feed (reads of the outbox)."""

from __future__ import annotations

from typing import Any

from marketplace.db import Conn

# Held per relay batch (transaction level), so concurrent relays never interleave.
RELAY_LOCK_ID = 7_236_284_090_418_769  # "mp relay"
NOTIFY_CHANNEL = "outbox"


async def any_unrelayed(conn: Conn) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE relayed_at IS NULL)"
    )
    return found


async def take_watermark(conn: Conn) -> tuple[int, int]:
    """The highest event id handed out so far, and a transaction id taken after reading it
    (``relay_watermark()``, sql/0013).

    Must run in its own transaction: its id must be assigned after the sequence is read.
    """
    assert not conn.is_in_transaction(), "the watermark needs a transaction of its own"
    row = await conn.fetchrow("SELECT top, xid FROM relay_watermark()")
    assert row is not None, "a function called in SELECT gives one row"
    return int(row["top"]), int(row["xid"])


async def settled(conn: Conn, xid: int) -> bool:
    """Whether every transaction older than ``xid`` has finished (once true, always true:
    no transaction can take an id older than one already handed out)."""
    done: bool = await conn.fetchval(
        "SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8", str(xid)
    )
    return done


async def try_relay_lock(conn: Conn) -> bool:
    """The relay's lock for the rest of the caller's transaction, if no other relay holds it."""
    locked: bool = await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK_ID)
    return locked


async def unrelayed(conn: Conn, up_to: int, limit: int) -> list[Any]:
    """Committed rows not yet on the streams, oldest first, with the previous event id of
    the same auction (``prev``) so a reader of the auction stream can notice a gap."""
    rows: list[Any] = await conn.fetch(
        """SELECT o.id, o.auction_id, o.type, o.payload, o.created_at,
                  a.type AS auction_type,
                  (SELECT max(p.id) FROM outbox p
                    WHERE o.auction_id IS NOT NULL AND p.auction_id = o.auction_id
                      AND p.id < o.id) AS prev
           FROM outbox o LEFT JOIN auctions a ON a.id = o.auction_id
           WHERE o.relayed_at IS NULL AND o.id <= $1
           ORDER BY o.id
           LIMIT $2""",
        up_to,
        limit,
    )
    return rows


async def mark_relayed(conn: Conn, ids: list[int]) -> None:
    await conn.execute("UPDATE outbox SET relayed_at = now() WHERE id = ANY($1::bigint[])", ids)


async def unmark_recent(conn: Conn, rows: int) -> int:
    """Queue the most recent ``rows`` event ids for relaying again (Redis lost its data)."""
    status: str = await conn.execute(
        """UPDATE outbox SET relayed_at = NULL
           WHERE relayed_at IS NOT NULL
             AND id > (SELECT coalesce(max(id), 0) FROM outbox) - $1""",
        rows,
    )
    return int(status.split()[-1])


async def unmark_after(conn: Conn, cursor: int) -> int:
    """Queue for relaying again the rows marked relayed above Redis's cursor (Redis came back
    from an older snapshot and lost them)."""
    status: str = await conn.execute(
        "UPDATE outbox SET relayed_at = NULL WHERE id > $1 AND relayed_at IS NOT NULL", cursor
    )
    return int(status.split()[-1])


async def relayed_backlog(conn: Conn, auction_id: int, after: int, limit: int) -> list[Any]:
    """An auction's events already on its stream (so in their final order), after an id."""
    rows: list[Any] = await conn.fetch(
        """SELECT id, type, payload, created_at FROM outbox
           WHERE auction_id = $1 AND id > $2 AND relayed_at IS NOT NULL
           ORDER BY id LIMIT $3""",
        auction_id,
        after,
        limit,
    )
    return rows


async def auction_events_between(conn: Conn, auction_id: int, after: int, before: int) -> list[Any]:
    """An auction's events strictly between two ids (all committed: ``before`` was relayed)."""
    rows: list[Any] = await conn.fetch(
        """SELECT id, type, payload, created_at FROM outbox
           WHERE auction_id = $1 AND id > $2 AND id < $3
           ORDER BY id""",
        auction_id,
        after,
        before,
    )
    return rows
