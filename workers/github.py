"""GitHub jobs: what a stored webhook delivery concerns.

``github_delivery_received`` runs once per stored delivery (job id ``gh-delivery:<id>``).
For now it loads the delivery and logs the pull request and commit it concerns; the
delivery verification job (written later) will be enqueued from here for the deliveries
of auctions awaiting verification.
"""

from __future__ import annotations

import logging
from typing import Any

from marketplace.github import queries

log = logging.getLogger(__name__)


async def github_delivery_received(ctx: dict[str, Any], delivery_id: str) -> dict[str, Any] | None:
    """Load a stored delivery and report which repo, pull request and commit it is about."""
    async with ctx["pool"].acquire() as conn:
        row = await queries.get_delivery(conn, delivery_id)
    if row is None:
        log.warning("GitHub delivery %s is not stored; nothing to do", delivery_id)
        return None
    concerns = {
        "delivery_id": row["delivery_id"],
        "event": row["event"],
        "action": row["action"],
        "repo_id": row["repo_id"],
        "repo": row["repo_full_name"],
        "pr_number": row["pr_number"],
        "head_sha": row["head_sha"],
    }
    log.info(
        "GitHub %s/%s delivery %s concerns repo %s (%s) PR #%s commit %s",
        row["event"],
        row["action"],
        delivery_id,
        row["repo_full_name"],
        row["repo_id"],
        row["pr_number"],
        row["head_sha"],
    )
    return concerns
