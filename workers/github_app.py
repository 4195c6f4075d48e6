"""GitHub App mode's worker loop: repair missed webhooks, and tell buyers whose auction's
repository the App cannot read.

Every 30 sweep intervals (``MARKETPLACE_SWEEP_SECONDS``, so 60 s by default), like the
verification re-check: one scan of the webhook's delivery log (marketplace/github/repair.py;
also in token mode with a repository webhook configured) and, in App mode, an installation
lookup for newly published auctions (marketplace/github/access.py).
"""

from __future__ import annotations

import logging
from typing import Any

from marketplace.github import access, repair
from workers.loops import every
from workers.verification import github_of

log = logging.getLogger(__name__)

ROUNDS = 30


async def github_app_once(ctx: dict[str, Any]) -> repair.Repaired:
    settings = ctx["settings"]
    client = github_of(ctx)
    if settings.github_app_mode:
        await access.check_auctions(ctx["pool"], client)
    return await repair.repair_once(ctx["pool"], client, settings)


def _interval(settings: Any) -> float:
    # Neither App mode nor a repository webhook: nothing to repair or check (0: off).
    return 0.0 if repair.target(settings) is None else settings.sweep_seconds * ROUNDS


github_app_forever = every("GitHub App round", _interval, github_app_once)
