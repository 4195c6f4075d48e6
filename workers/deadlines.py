"""The delivery-deadline sweep: awards past due with no PR merged in time become missed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from marketplace.awards import queries as award_queries
from marketplace.awards import service

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


async def sweep_deadlines_forever(ctx: dict[str, Any]) -> None:
    interval = max(1.0, ctx["settings"].sweep_seconds * 2)
    while True:
        try:
            await sweep_deadlines_once(ctx)
        except Exception:
            log.exception("deadline sweep failed; retrying")
        await asyncio.sleep(interval)
