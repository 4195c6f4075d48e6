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


async def create_pool(url: str, min_size: int = 2, max_size: int = 10) -> Any:
    """A pool whose connections speak JSON through msgspec and use UTC."""
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init,
        command_timeout=30,
        server_settings={"timezone": "UTC", "application_name": "marketplace"},
    )
