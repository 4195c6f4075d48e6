"""The asyncpg pool, created in the app's lifespan, never at import."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec


async def _init(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name,
            encoder=lambda v: msgspec.json.encode(v).decode(),
            decoder=msgspec.json.decode,
            schema="pg_catalog",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
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
) -> Any:
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
