"""GitHub App mode's worker loop: repair missed webhooks, and tell buyers whose auction's
repository the App cannot read.

Every 30 sweep intervals (``MARKETPLACE_SWEEP_SECONDS``, so 60 s by default), like the
verification re-check: one scan of the webhook's delivery log (marketplace/github/repair.py;
also in token mode with a repository webhook configured) and, in App mode, an installation
lookup for newly published auctions (marketplace/github/access.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from marketplace.github import access, repair
from workers.verification import github_of

log = logging.getLogger(__name__)

ROUNDS = 30


async def github_app_once(ctx: dict[str, Any]) -> repair.Repaired:
    settings = ctx["settings"]
    client = github_of(ctx)
    if settings.github_app_mode:
        await access.check_auctions(ctx["pool"], client)
    return await repair.repair_once(ctx["pool"], client, settings)


async def github_app_forever(ctx: dict[str, Any]) -> None:
    settings = ctx["settings"]
    if repair.target(settings) is None:
        return  # neither App mode nor a repository webhook: nothing to repair or check
    while True:
        try:
            await github_app_once(ctx)
        except Exception:
            log.exception("GitHub App round failed; retrying")
        await asyncio.sleep(settings.sweep_seconds * ROUNDS)
