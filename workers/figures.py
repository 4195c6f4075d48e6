"""Keeps the platform figures' snapshot fresh, so no request has to count them (issue 27)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from marketplace.transparency import figures

log = logging.getLogger(__name__)


async def refresh_figures_forever(ctx: dict[str, Any]) -> None:
    max_age = ctx["settings"].figures_max_age_seconds
    if max_age <= 0:
        return  # counted on every request: nothing to keep
    while True:
        try:
            await figures.refresh_if_due(ctx["pool"], max_age)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("refreshing the platform figures failed; retrying")
        await asyncio.sleep(max(0.5, max_age / 4))
