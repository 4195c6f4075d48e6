"""SQL of the audit log."""

from __future__ import annotations

from typing import Any


async def append_row(conn: Any, chain: str, auction_id: int | None, sealed: bool, data: str) -> int:
    row_id: int = await conn.fetchval(
        "SELECT audit_append($1, $2, $3, $4)", chain, auction_id, sealed, data
    )
    return row_id
