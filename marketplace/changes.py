"""A change's two records, written together in the caller's transaction: its event for
the outbox (what consumers, feeds and webhooks hear) and its row for the audit log (what
auditors read). One call, so neither is forgotten and their order is always the same."""

from __future__ import annotations

from typing import Any

from marketplace import outbox
from marketplace.audit.record import Actor, record
from marketplace.db import Conn
from marketplace.events import Event


async def announce(
    conn: Conn,
    event: Event,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | str | None,
    *,
    before: Any = None,
    after: Any = None,
    auction_id: int | None = None,
) -> None:
    """Emit ``event`` and append the audit row of ``action`` (an auction's change goes to
    the auction's stream and chain)."""
    await outbox.emit(conn, event, auction_id)
    await record(
        conn,
        actor,
        action,
        object_type,
        object_id,
        before=before,
        after=after,
        auction_id=auction_id,
    )
