"""GitHub App mode: does the App read each published auction's repository?

Without an installation on its repository an auction's delivery cannot be verified, so the
buyer is told (event ``auction.github_access_lost``, mailed and shown in the app), once per
change: when a worker finds no installation for a newly published auction
(``check_auctions``, which asks ``GET /repos/{owner}/{repo}/installation`` and asks again
later while it is missing), and when GitHub says the App lost the repository
(``apply_webhook``: ``installation_repositories`` removed, ``installation`` deleted or
suspended). A repository added back is recorded as readable again.
"""

from __future__ import annotations

import logging
from typing import Any

from marketplace import outbox
from marketplace.db import Conn, Pool, Row
from marketplace.events import GithubAccessLost
from marketplace.github import queries
from marketplace.github.client import GithubClient
from marketplace.github.errors import GithubError, GithubNotInstalled

log = logging.getLogger(__name__)

INSTALLATION_EVENTS = frozenset({"installation", "installation_repositories"})
RECHECK_SECONDS = 600.0  # a missing installation is looked up again this often

_DETAIL = {
    "not_installed": (
        "The marketplace's GitHub App is not installed on {repo}, so a delivery on it cannot"
        " be verified. An owner of the repository should install the App on it (GitHub:"
        " Settings > GitHub Apps), or add {repo} to the App's installation."
    ),
    "removed": (
        "The marketplace's GitHub App lost access to {repo} (the repository was removed from"
        " its installation, or the App was uninstalled or suspended), so a delivery on it"
        " cannot be verified until an owner gives the App access again."
    ),
}


async def _record(conn: Conn, row: Row, state: str, installation_id: int | None) -> bool:
    """Store the auction's access; tell the buyer when it changed to a missing one."""
    async with conn.transaction():
        changed = await queries.set_access(conn, row["id"], row["repo"], state, installation_id)
        if changed and state != "installed":
            await outbox.emit(
                conn,
                GithubAccessLost(
                    auction_id=row["id"],
                    repo=row["repo"],
                    reason=state,
                    detail=_DETAIL[state].format(repo=row["repo"]),
                ),
                row["id"],
            )
            return True
    return False


async def check_auctions(pool: Pool, client: GithubClient) -> int:
    """Look up the installation of auctions never checked (or still missing one); returns
    how many buyers were told of a missing one."""
    async with pool.acquire() as conn:
        rows = await queries.auctions_unchecked(conn, RECHECK_SECONDS)
    told = 0
    for row in rows:
        installation_id: int | None
        try:
            installation_id, state = await client.installation(row["repo"]), "installed"
        except GithubNotInstalled:
            installation_id, state = None, "not_installed"
        except GithubError as exc:  # GitHub unavailable: the next round asks again
            log.warning("installation of %s not known yet: %s", row["repo"], exc)
            continue
        if state == "not_installed" and row["state"] == "removed":
            state = "removed"  # already told it was lost; no second notice
        async with pool.acquire() as conn:
            told += await _record(conn, row, state, installation_id)
    return told


def _repos(items: Any) -> tuple[list[int], list[str]]:
    ids: list[int] = []
    names: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            if isinstance(item.get("id"), int):
                ids.append(item["id"])
            if isinstance(item.get("full_name"), str):
                names.append(item["full_name"])
    return ids, names


async def apply_webhook(pool: Pool, event: str, payload: Any) -> int:
    """What an ``installation`` or ``installation_repositories`` webhook changes; returns
    how many buyers were told of a lost repository. (A trigger like any webhook: it says
    what GitHub changed, and the next lookup confirms it.)"""
    if not isinstance(payload, dict):
        return 0
    action = payload.get("action")
    installation = payload.get("installation")
    installation_id = installation.get("id") if isinstance(installation, dict) else None
    if not isinstance(installation_id, int):
        installation_id = None
    removed: tuple[list[int], list[str]] = ([], [])
    added: tuple[list[int], list[str]] = ([], [])
    whole_installation = False
    if event == "installation_repositories":
        removed = _repos(payload.get("repositories_removed"))
        added = _repos(payload.get("repositories_added"))
    elif event == "installation" and action in ("deleted", "suspend"):
        removed, whole_installation = _repos(payload.get("repositories")), True
    elif event == "installation" and action in ("created", "unsuspend"):
        added = _repos(payload.get("repositories"))
    told = 0
    async with pool.acquire() as conn:
        lost = await queries.auctions_on_repos(conn, *removed) if any(removed) else []
        if whole_installation and installation_id is not None:
            lost += await queries.auctions_of_installation(conn, installation_id)
        regained = await queries.auctions_on_repos(conn, *added) if any(added) else []
        done: set[int] = set()
        for row in lost:
            if row["id"] not in done:
                done.add(row["id"])
                told += await _record(conn, row, "removed", installation_id)
        for row in regained:
            await _record(conn, row, "installed", installation_id)
    if told:
        log.info("GitHub %s/%s: %d auctions lost their repository", event, action, told)
    return told
