"""Repair of missed webhooks through GitHub's own delivery log (DESIGN §5).

GitHub never retries a webhook by itself. In App mode the App's log
(``GET /app/hook/deliveries``), or with ``MARKETPLACE_GITHUB_HOOK_ID`` and
``MARKETPLACE_GITHUB_HOOK_REPO`` a repository webhook's
(``/repos/{owner}/{repo}/hooks/{hook_id}/deliveries``), lists every attempt, newest first,
each redelivery an attempt of its own under the event's ``guid``. A scan reads it back to
where the previous one stopped (with an overlap, GitHub's log being written a little out of
order), groups attempts by guid, and asks a redelivery of the latest attempt of each guid
that has no successful one, that we have not stored anyway, and whose latest failure is new
since our last ask: at most ``MARKETPLACE_GITHUB_REDELIVERY_ATTEMPTS`` times per guid, and
only within GitHub's three-day window. A guid past either limit is given up (counted in
/metrics). The periodic re-check (workers/verification.py) stays the last resort.
"""

from __future__ import annotations

import datetime as dt
import logging

import msgspec

from marketplace.db import Pool
from marketplace.github import queries
from marketplace.github.client import GithubClient
from marketplace.github.errors import GithubError, GithubRefused
from marketplace.github.schemas import HookAttempt
from marketplace.settings import Settings

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(days=3)  # GitHub redelivers attempts of the past three days only
OVERLAP = dt.timedelta(minutes=10)
MAX_PAGES = 50  # 5,000 attempts a scan; the next scan goes on from what this one saw


class Repaired(msgspec.Struct, frozen=True, kw_only=True):
    scanned: int = 0
    asked: int = 0
    given_up: int = 0


def target(settings: Settings) -> tuple[str, tuple[str, int] | None] | None:
    """The webhook to repair: ('app', None), ('repo:owner/name:id', (owner/name, id)), or
    None when neither App mode nor a repository webhook is configured."""
    if settings.github_app_mode:
        return "app", None
    if settings.github_hook_id is not None and settings.github_hook_repo:
        repo_hook = (settings.github_hook_repo, settings.github_hook_id)
        return f"repo:{repo_hook[0]}:{repo_hook[1]}", repo_hook
    return None


async def _attempts_since(
    client: GithubClient, repo_hook: tuple[str, int] | None, since: dt.datetime
) -> list[HookAttempt]:
    found: list[HookAttempt] = []
    page: str | None = None
    for _ in range(MAX_PAGES):
        batch, page = await client.hook_attempts(repo_hook, page)
        found.extend(a for a in batch if a.delivered_at >= since)
        if not page or not batch or min(a.delivered_at for a in batch) < since:
            break
    return found


async def repair_once(pool: Pool, client: GithubClient, settings: Settings) -> Repaired:
    """One scan of the webhook's log; what it asked and gave up."""
    chosen = target(settings)
    if chosen is None:
        return Repaired()
    hook, repo_hook = chosen
    async with pool.acquire() as conn:
        now = await queries.db_now(conn)
        cursor = await queries.get_hook_cursor(conn, hook)
    since = now - WINDOW if cursor is None else max(now - WINDOW, cursor - OVERLAP)
    try:
        attempts = await _attempts_since(client, repo_hook, since)
    except GithubError as exc:  # unavailable or refused: said once a round, tried next round
        log.warning("webhook repair (%s): cannot read GitHub's delivery log: %s", hook, exc)
        return Repaired()
    by_guid: dict[str, list[HookAttempt]] = {}
    for attempt in attempts:
        by_guid.setdefault(attempt.guid, []).append(attempt)
    ok = [g for g, tries in by_guid.items() if any(t.succeeded for t in tries)]
    async with pool.acquire() as conn:
        stored = await queries.stored_delivery_ids(conn, list(by_guid))
        await queries.mark_repaired(conn, [*ok, *stored])
    asked = given_up = 0
    for guid, tries in by_guid.items():
        if guid in stored or guid in ok:
            continue
        outcome = await _repair(pool, client, settings, hook, repo_hook, guid, tries, now)
        asked += outcome == "asked"
        given_up += outcome == "given_up"
    if attempts:
        async with pool.acquire() as conn:
            await queries.set_hook_cursor(conn, hook, max(a.delivered_at for a in attempts))
    if asked or given_up:
        log.info("webhook repair (%s): %d redeliveries asked, %d given up", hook, asked, given_up)
    return Repaired(scanned=len(attempts), asked=asked, given_up=given_up)


async def _repair(
    pool: Pool,
    client: GithubClient,
    settings: Settings,
    hook: str,
    repo_hook: tuple[str, int] | None,
    guid: str,
    tries: list[HookAttempt],
    now: dt.datetime,
) -> str:
    """'asked', 'given_up' or 'waiting' (nothing new since our last ask, or done before)."""
    latest = max(tries, key=lambda t: t.id)
    first = min(t.delivered_at for t in tries)
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.note_missed(conn, guid, hook, latest.event, first, latest.id)
        if row["repaired_at"] is not None or row["gave_up_at"] is not None:
            return "waiting"
        if latest.id <= row["last_attempt_id"]:
            return "waiting"  # our last ask has not been answered by a new attempt yet
        too_old = now - row["first_failed_at"] > WINDOW or now - latest.delivered_at > WINDOW
        if row["asked"] >= settings.github_redelivery_attempts or too_old:
            return "given_up" if await queries.mark_given_up(conn, guid) else "waiting"
        try:
            await client.redeliver(repo_hook, latest.id)
        except GithubRefused as exc:  # e.g. 422: GitHub no longer holds the attempt
            log.warning("redelivery of %s %s refused: %s", latest.event, guid, exc)
            return "given_up" if await queries.mark_given_up(conn, guid) else "waiting"
        except GithubError as exc:  # unavailable: the next scan asks again
            log.warning("redelivery of %s %s not asked: %s", latest.event, guid, exc)
            return "waiting"
        await queries.mark_redelivery_asked(conn, guid, latest.id)
    return "asked"
