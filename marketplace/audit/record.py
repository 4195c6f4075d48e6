"""Writing audit rows in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any

import msgspec

from marketplace.audit import queries


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who is acting: a user (with the role they act in) or the system, and the request."""

    user_id: int | None = None
    role: str = "system"
    request_id: str | None = None


SYSTEM = Actor()

_encoder = msgspec.json.Encoder(order="sorted")


def chain_of(auction_id: int | None) -> str:
    return f"auction:{auction_id}" if auction_id is not None else "global"


async def record(
    conn: Any,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | str | None,
    *,
    before: Any = None,
    after: Any = None,
    auction_id: int | None = None,
    sealed: bool = False,
) -> int:
    """Append one row to the auction's chain (or the global one); returns the row id."""
    data = _encoder.encode(
        {
            "actor_id": actor.user_id,
            "role": actor.role,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "before": before,
            "after": after,
            "request_id": actor.request_id,
        }
    ).decode()
    return await queries.append_row(conn, chain_of(auction_id), auction_id, sealed, data)
