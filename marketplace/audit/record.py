"""Writing audit rows in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any

import msgspec

from marketplace.audit import queries
from marketplace.db import Conn


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who is acting: a user (with the role they act in) or the system, and the request."""

    user_id: int | None = None
    role: str = "system"
    request_id: str | None = None
    token_id: int | None = None  # the API token that authorised the request
    issued_by: int | None = None  # who issued that token, when not its user


SYSTEM = Actor()

_encoder = msgspec.json.Encoder(order="sorted")


def chain_of(auction_id: int | None) -> str:
    return f"auction:{auction_id}" if auction_id is not None else "global"


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One audit row to append: who did what to which object, before and after."""

    actor: Actor
    action: str
    object_type: str
    object_id: int | str | None
    before: Any = None
    after: Any = None
    auction_id: int | None = None
    # Kept out of the event browser and exports until its auction closes (sql/0017).
    withheld: bool = False

    def data(self) -> str:
        """The row's JSON (keys sorted), which its hash covers. ``token_id`` and
        ``issued_by`` appear when the request had them (DESIGN §8, attribution)."""
        fields: dict[str, Any] = {
            "actor_id": self.actor.user_id,
            "role": self.actor.role,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "before": self.before,
            "after": self.after,
            "request_id": self.actor.request_id,
        }
        if self.actor.token_id is not None:
            fields["token_id"] = self.actor.token_id
        if self.actor.issued_by is not None:
            fields["issued_by"] = self.actor.issued_by
        return _encoder.encode(fields).decode()


async def record(
    conn: Conn,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | str | None,
    *,
    before: Any = None,
    after: Any = None,
    auction_id: int | None = None,
    withheld: bool = False,
) -> int:
    """Append one row to the auction's chain (or the global one); returns the row id."""
    row = Entry(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        auction_id=auction_id,
        withheld=withheld,
    )
    return await queries.append_row(conn, chain_of(auction_id), auction_id, withheld, row.data())


async def record_many(conn: Conn, rows: list[Entry]) -> None:
    """Append rows in list order (each to its auction's chain), in the caller's transaction."""
    await queries.append_rows(
        conn, [(chain_of(r.auction_id), r.auction_id, r.withheld, r.data()) for r in rows]
    )
