"""The asyncpg pool, created in the app's lifespan, never at import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

if TYPE_CHECKING:
    # asyncpg's classes are generic in its stubs only (asyncpg-stubs), not at run time.
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Pool = asyncpg.Pool
    Conn = asyncpg.Connection | PoolConnectionProxy
Row: TypeAlias = asyncpg.Record
Fields: TypeAlias = Row | Mapping[str, Any]
# Pool: the process's pool. Conn: one connection, from the pool (async with pool.acquire())
# or alone (the relay's listener); a query that runs in its caller's transaction takes a Conn.
# Row: one row as a query returns it (read by column name). Fields: a row, or the same
# columns by name from elsewhere (a page holds an API struct, a mail a recipient it built).


async def _init(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            encoder=lambda v: msgspec.json.encode(v).decode(),
            decoder=msgspec.json.decode,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Return a connection to the pool without the reset query.

    asyncpg's default reset (``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL``) is a round trip on every release: an eighth of the API's time under bid
    load. Our code keeps no session state on pooled connections: no SET, no session
    advisory locks, cursors only inside transactions. asyncpg still rolls back an open
    transaction and drops Python-side listeners before calling this; a LISTEN left by
    the relay's listener connection only delivers notifications nobody reads.
    """


async def create_pool(
    url: str, min_size: int = 2, max_size: int = 10, name: str = "marketplace"
) -> Pool:
    """A pool whose connections speak JSON through msgspec and use UTC; ``name`` is their
    application_name, which tells the API's, the worker's and the consumers' sessions
    apart in pg_stat_activity."""
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init,
        reset=_keep_session,
        command_timeout=30,
        server_settings={"timezone": "UTC", "application_name": name},
    )


async def one(conn: Conn | Pool, query: str, *args: object) -> Row:
    """The row of a query that always gives one: an INSERT ... RETURNING, an aggregate, a
    function called in SELECT. None there is a broken invariant, not a missing thing."""
    row = await conn.fetchrow(query, *args)
    if row is None:
        raise LookupError(f"no row from a query that always gives one: {query[:80]!r}")
    return row


def held(row: Row | None, why: str) -> Row:
    """A row this transaction already knows is there (it holds its lock, or just wrote it);
    ``why`` says how it knows."""
    if row is None:
        raise LookupError(f"a row this transaction holds is gone: {why}")
    return row
