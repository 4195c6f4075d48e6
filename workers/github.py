"""GitHub jobs: a stored GitHub event (a webhook delivery of GitHub's) triggers verification
of the deliveries it concerns.

``github_event_received`` runs once per stored event (job ``jobs.GITHUB_EVENT``, id
``gh-delivery:<X-GitHub-Delivery>``).
The payload is only an index (repo id and PR number, or a commit SHA): the deliveries of
auctions awaiting verification that it names are enqueued for verification, which
re-fetches everything from GitHub. Duplicated webhooks enqueue the same job ids.
"""

from __future__ import annotations

import logging
from typing import Any

from marketplace.deliveries import queries as delivery_queries
from marketplace.github import access, queries
from workers.verification import enqueue_for

log = logging.getLogger(__name__)


async def github_event_received(ctx: dict[str, Any], delivery_id: str) -> dict[str, Any] | None:
    """Enqueue verification of the deliveries (winners' pull requests) a GitHub event
    concerns, by its X-GitHub-Delivery id; report what it was about."""
    async with ctx["pool"].acquire() as conn:
        row = await queries.get_github_event(conn, delivery_id)
        if row is None:
            log.warning("GitHub delivery %s is not stored; nothing to do", delivery_id)
            return None
        concerned = []
        payload = None
        if row["event"] in access.INSTALLATION_EVENTS:
            payload = await queries.get_github_event_payload(conn, delivery_id)
        elif row["event"] != "ping":
            concerned = await delivery_queries.deliveries_concerned(
                conn, row["repo_id"], row["repo_full_name"], row["pr_number"], row["head_sha"]
            )
    if payload is not None:
        await access.apply_webhook(ctx["pool"], row["event"], payload)
    if concerned:
        redis = ctx.get("redis_client") or ctx["redis"]
        await enqueue_for(redis, concerned, f"webhook:{row['event']}")
    log.info(
        "GitHub %s/%s delivery %s (repo %s #%s, commit %s): %d deliveries to verify",
        row["event"],
        row["action"],
        delivery_id,
        row["repo_full_name"],
        row["pr_number"],
        row["head_sha"],
        len(concerned),
    )
    return {
        "delivery_id": row["delivery_id"],
        "event": row["event"],
        "action": row["action"],
        "repo_id": row["repo_id"],
        "repo": row["repo_full_name"],
        "pr_number": row["pr_number"],
        "head_sha": row["head_sha"],
        "verifications": [r["id"] for r in concerned],
    }
