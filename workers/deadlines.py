"""The delivery-deadline sweep: awards past due with no PR merged in time become missed."""

from __future__ import annotations

import logging
from typing import Any

from marketplace.awards import queries as award_queries
from marketplace.awards import service
from workers.loops import every

log = logging.getLogger(__name__)


async def sweep_deadlines_once(ctx: dict[str, Any]) -> int:
    async with ctx["pool"].acquire() as conn:
        due = await award_queries.overdue(conn)
    missed = 0
    for row in due:
        if await service.mark_missed(ctx["pool"], row["award_id"], row["auction_id"]):
            log.info(
                "auction %s: delivery missed (due %s)", row["auction_id"], row["delivery_due_at"]
            )
            missed += 1
    return missed


sweep_deadlines_forever = every(
    "deadline sweep", lambda s: max(1.0, s.sweep_seconds * 2), sweep_deadlines_once
)
