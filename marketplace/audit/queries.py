"""SQL of the audit log."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from marketplace.db import Conn

_DURABLE_POLL_SECONDS = 0.005


async def append_row(
    conn: Conn, chain: str, auction_id: int | None, withheld: bool, data: str
) -> int:
    row_id: int = await conn.fetchval(
        "SELECT audit_append($1, $2, $3, $4)", chain, auction_id, withheld, data
    )
    return row_id


async def append_rows(conn: Conn, rows: list[tuple[str, int | None, bool, str]]) -> None:
    """Each (chain, auction_id, withheld, data) appended in order, in one pipelined call."""
    await conn.executemany("SELECT audit_append($1, $2, $3, $4)", rows)


# A withheld row (a bid's, sealed or not: it names the bidder) stays hidden while its
# auction is draft, scheduled or open; so that the count of bids does not show through seq
# gaps, the rest of that chain waits too. The cut-off is each such auction's first withheld
# row (one index probe per auction, sql/0017), computed in the same statement as the rows,
# so no bid can slip between.
_CUTOFF = """
WITH cutoff AS MATERIALIZED (
    SELECT coalesce(jsonb_object_agg(f.chain, f.seq), '{}'::jsonb) AS seqs
    FROM auctions a
    CROSS JOIN LATERAL (
        SELECT s.chain, s.seq FROM audit_log s
        WHERE s.auction_id = a.id AND s.withheld
        ORDER BY s.id LIMIT 1
    ) f
    WHERE a.status IN ('draft', 'scheduled', 'open')
)
"""
_VISIBLE = "l.seq < coalesce((cutoff.seqs ->> l.chain)::bigint, 9223372036854775807)"
_COLUMNS = "l.id, l.chain, l.seq, l.auction_id, l.occurred_at, l.data, l.prev_hash, l.hash"


def _where(
    auction_id: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    action: str | None = None,
    after_id: int = 0,
) -> tuple[str, list[Any]]:
    """The WHERE clause (visibility plus filters) and its parameters."""
    clauses = [_VISIBLE]
    args: list[Any] = []
    for clause, value in (
        ("l.auction_id = ${}", auction_id),
        ("l.occurred_at >= ${}", since),
        ("l.occurred_at < ${}", until),
        ("l.action = ${}", action),
        ("l.id > ${}", after_id or None),
    ):
        if value is not None:
            args.append(value)
            clauses.append(clause.format(len(args)))
    return " AND ".join(clauses), args


async def list_visible(
    conn: Conn,
    auction_id: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    action: str | None,
    after_id: int,
    limit: int,
) -> list[Any]:
    """One page of visible rows in id order, after ``after_id``."""
    where, args = _where(auction_id, since, until, action, after_id)
    args.append(limit)
    rows: list[Any] = await conn.fetch(
        f"{_CUTOFF} SELECT {_COLUMNS} FROM audit_log l, cutoff WHERE {where} "
        f"ORDER BY l.id LIMIT ${len(args)}",
        *args,
    )
    return rows


def cursor_visible(
    conn: Conn,
    auction_id: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    *,
    prefetch: int = 1000,
) -> Any:
    """A server-side cursor over every visible row of the selection in id order.

    Must be iterated inside a transaction (REPEATABLE READ, so that a count or a
    manifest taken in the same transaction agrees with the rows).
    """
    where, args = _where(auction_id, since, until)
    return conn.cursor(
        f"{_CUTOFF} SELECT {_COLUMNS} FROM audit_log l, cutoff WHERE {where} ORDER BY l.id",
        *args,
        prefetch=prefetch,
    )


async def count_visible(
    conn: Conn, auction_id: int | None, since: dt.datetime | None, until: dt.datetime | None
) -> int:
    where, args = _where(auction_id, since, until)
    count: int = await conn.fetchval(
        f"{_CUTOFF} SELECT count(*) FROM audit_log l, cutoff WHERE {where}", *args
    )
    return count


async def snapshot_time(conn: Conn) -> dt.datetime:
    """The database time of the current transaction."""
    at: dt.datetime = await conn.fetchval("SELECT now()")
    return at


async def wait_until_durable(conn: Conn) -> None:
    """Return once every commit the transaction's snapshot sees is on disk.

    Refused bids commit without waiting for the WAL flush (sql/0012); an export must not
    sign a row that a crash a moment later could still take away. Every commit the snapshot
    sees is in the WAL below the insert position read here, so the wait ends once the flush
    reaches it (usually at once). The WAL writer flushes every asynchronous commit within
    3 x wal_writer_delay (PostgreSQL's manual, "Asynchronous Commit"), so past that bound
    they are all on disk even if other transactions' unfinished WAL keeps the flush below
    the insert position.
    """
    row = await conn.fetchrow(
        "SELECT pg_current_wal_insert_lsn() AS target,"
        " extract(epoch FROM current_setting('wal_writer_delay')::interval) AS delay"
    )
    assert row is not None, "a SELECT without FROM gives one row"
    deadline = time.monotonic() + 3 * float(row["delay"]) + 0.05
    while time.monotonic() < deadline:
        if await conn.fetchval("SELECT pg_current_wal_flush_lsn() >= $1", row["target"]):
            return
        await asyncio.sleep(_DURABLE_POLL_SECONDS)
