"""One verification attempt: re-fetch from GitHub, judge every rule (the pure functions of
rules.py), store the record.

GitHub is read outside any transaction; the result is written in one transaction under
the delivery's row lock, so attempts running twice in parallel store one record per
observed state and move the auction at most once (compare-and-set). An attempt that sees
exactly what the latest record of the delivery already says stores nothing new: the
periodic re-check and duplicated webhooks then cost a few 304s and no rows.
Any trouble reading GitHub but "not found" (unavailable, refused, an answer of an
unexpected shape) is stored as an error record, with the reason, and propagates to the job,
which retries later: an unreadable GitHub never produces a failing verdict. The same reason
seen on the next retry stores nothing new.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable
from typing import TypeGuard, TypeVar

import msgspec

from marketplace.audit.record import SYSTEM
from marketplace.changes import announce
from marketplace.db import Conn, Pool, Row
from marketplace.deliveries import queries
from marketplace.deliveries.rules import Observed, Subject, evaluate
from marketplace.deliveries.schemas import Check
from marketplace.events import DeliveryVerificationFailed, DeliveryVerified, Event
from marketplace.github.client import GithubClient
from marketplace.github.errors import GithubError, GithubNotFound
from marketplace.github.schemas import Issue, PullRequest

log = logging.getLogger(__name__)
T = TypeVar("T")
U = TypeVar("U")


def _subject(row: Row) -> Subject:
    return Subject(
        auction_repo=row["repo"],
        repo_id=row["repo_id"],
        target_branch=row["target_branch"],
        issue_number=row["issue_number"],
        winner_github_id=row["winner_github_id"],
        awarded_at=row["awarded_at"],
        delivery_due_at=row["delivery_due_at"],
        pr_repo=row["repo_full_name"],
        pr_number=row["pr_number"],
    )


def _awaiting(row: Row | None) -> TypeGuard[Row]:
    return (
        row is not None
        and row["status"] == "submitted"
        and row["award_status"] == "active"
        and row["auction_status"] == "delivered"
    )


async def _found(call: Awaitable[T]) -> tuple[T | None, str | None]:
    """The answer, or None and why when GitHub says "not found" (other errors propagate)."""
    try:
        return await call, None
    except GithubNotFound as exc:
        return None, str(exc)


async def _both(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Two GitHub reads at once. If either fails, its failure is raised once both end; if
    both do, the one asking the longer wait (a rate limit's Retry-After), so it is honoured."""
    a, b = await asyncio.gather(first, second, return_exceptions=True)
    failures = [r for r in (a, b) if isinstance(r, BaseException)]
    if failures:
        raise max(failures, key=lambda exc: getattr(exc, "retry_after", None) or 0.0)
    return a, b  # type: ignore[return-value]


async def _no_issue() -> tuple[Issue | None, str | None]:
    return None, None


def _moved_away(subject: Subject, name: str, repo_id: int, pull: PullRequest | None) -> bool:
    """Whether the PR is to be read under the auction repository's current ``name``: the
    submitted name found none, or named the auction's repository by its old name, which
    GitHub now redirects to another repository (the last one to take that name)."""
    if name.lower() == subject.pr_repo.lower():
        return False
    if pull is None:
        return True
    submitted_auction_name = subject.pr_repo.lower() == subject.auction_repo.lower()
    return submitted_auction_name and pull.base_repo_id != repo_id


async def observe(github: GithubClient, subject: Subject) -> Observed:
    """Everything the rules need, fetched from GitHub now (independent reads in parallel)."""
    repo_call = (
        github.repository_by_id(subject.repo_id, subject.auction_repo)
        if subject.repo_id is not None
        else github.repository(subject.auction_repo)
    )
    # The submitted URL first; after a rename or transfer, the repository's current name.
    (repo, repo_error), (pull, pull_error) = await _both(
        _found(repo_call), _found(github.pull_request(subject.pr_repo, subject.pr_number))
    )
    if repo is not None and _moved_away(subject, repo.full_name, repo.id, pull):
        again, again_error = await _found(github.pull_request(repo.full_name, subject.pr_number))
        if again is not None or pull is None:
            pull, pull_error = again, again_error
    if pull is None:
        return Observed(repo=repo, repo_error=repo_error, pull_error=pull_error)
    where = repo.full_name if repo is not None else subject.auction_repo
    issue_call = (
        _found(github.issue(where, subject.issue_number))
        if subject.issue_number is not None
        else _no_issue()
    )
    (results, _), (issue, issue_error) = await _both(
        _found(github.checks(pull.base_repo_full_name, pull.head_sha)), issue_call
    )
    return Observed(
        repo=repo,
        repo_error=repo_error,
        pull=pull,
        pull_error=None,
        # the head commit gone (force-pushed away) means no checks on it
        checks=results if results is not None else [],
        issue=issue,
        issue_error=issue_error,
    )


async def record_error(pool: Pool, delivery_id: int, trigger: str, reason: str) -> bool:
    """Store why GitHub could not be read, unless the latest record says so already (or the
    delivery no longer waits); True when a record was stored."""
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.verification_subject(conn, delivery_id, lock=True)
        if not _awaiting(row):
            return False
        latest = await queries.latest_verification(conn, delivery_id)
        if latest is not None and latest["error"] == reason:
            return False
        await queries.insert_verification(
            conn, delivery_id, row["auction_id"], False, [], trigger, None, error=reason
        )
    log.warning("delivery %s: GitHub could not be read: %s", delivery_id, reason)
    return True


async def run(pool: Pool, github: GithubClient, delivery_id: int, trigger: str) -> str:
    """One attempt; returns 'verified', 'failed', 'unchanged' or 'skipped'."""
    async with pool.acquire() as conn:
        row = await queries.verification_subject(conn, delivery_id)
    if not _awaiting(row):
        return "skipped"  # superseded, already verified, or the auction moved on
    subject = _subject(row)
    try:
        observed = await observe(github, subject)
    except GithubError as exc:
        await record_error(pool, delivery_id, trigger, str(exc))
        raise
    checks = evaluate(subject, observed)
    plain = msgspec.to_builtins(checks)
    passed = all(c.passed for c in checks)
    pull = observed.pull
    merged_at = pull.merged_at if pull is not None else None
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.verification_subject(conn, delivery_id, lock=True)
        if not _awaiting(row):
            return "skipped"
        auction_id, award_id = row["auction_id"], row["award_id"]
        if row["repo_id"] is None and observed.repo is not None:
            await queries.remember_repo_id(conn, auction_id, observed.repo.id)
        if pull is not None:
            await queries.set_shas(conn, delivery_id, pull.head_sha, pull.merge_commit_sha)
        latest = await queries.latest_verification(conn, delivery_id)
        if (
            latest is not None
            and latest["error"] is None
            and not latest["passed"]
            and latest["checks"] == plain
        ):
            return "unchanged"
        verification_id = await queries.insert_verification(
            conn, delivery_id, auction_id, passed, plain, trigger, merged_at
        )
        if passed and not await queries.mark_verified(conn, auction_id, award_id, delivery_id):
            raise RuntimeError(f"delivery {delivery_id}: the auction moved under its lock")
        await _announce_verdict(conn, row, delivery_id, verification_id, checks, trigger, merged_at)
    log.info("delivery %s verification %s: %s", delivery_id, verification_id, passed)
    return "verified" if passed else "failed"


async def _announce_verdict(
    conn: Conn,
    row: Row,
    delivery_id: int,
    verification_id: int,
    checks: list[Check],
    trigger: str,
    merged_at: dt.datetime | None,
) -> None:
    """The verdict's event (verified, or failed with every failing rule's reason) and its
    audit row, in the transaction that stored the record."""
    auction_id, award_id = row["auction_id"], row["award_id"]
    failed = [c for c in checks if not c.passed]
    event: Event
    if not failed:
        event = DeliveryVerified(
            auction_id=auction_id,
            award_id=award_id,
            delivery_id=delivery_id,
            verification_id=verification_id,
            pull_request_url=row["pull_request_url"],
            merged_at=merged_at,
        )
    else:
        event = DeliveryVerificationFailed(
            auction_id=auction_id,
            award_id=award_id,
            delivery_id=delivery_id,
            verification_id=verification_id,
            failed_checks=[c.name for c in failed],
            reasons=[f"{c.name}: {c.detail}" for c in failed],
        )
    await announce(
        conn,
        event,
        SYSTEM,
        "delivery.verification_failed" if failed else "delivery.verified",
        "auction",
        auction_id,
        before={"status": "delivered"},
        after={
            "status": "delivered" if failed else "pending_review",
            "delivery_id": delivery_id,
            "verification_id": verification_id,
            "failed_checks": [c.name for c in failed],
            "trigger": trigger,
        },
        auction_id=auction_id,
    )
