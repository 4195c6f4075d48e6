"""The rules of DESIGN §5 as pure functions over what GitHub told us.

``evaluate(subject, observed)`` returns one named ``Check`` per rule, each with its verdict
and the evidence (ids, SHAs, timestamps) it was decided on. Nothing here does I/O, so every
rule is tested on its own. Evidence holds only what GitHub returned, never when we asked,
so two attempts that saw the same state produce identical checks.

The issue reference rule: when the auction names issue N, the pull request's title or body
must mention it as ``#N`` (optionally after a closing keyword such as "Fixes", "Closes" or
"Resolves", or qualified as ``owner/name#N`` for the auction's repository) or as the URL of
the issue; ``#N`` must not run on into more digits (``#123`` does not reference ``#12``).
The issue must also exist in the repository and not be a pull request itself.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import msgspec

from marketplace.deliveries.schemas import Check
from marketplace.github.schemas import CheckResult, Issue, PullRequest, Repo

SUCCESS = ("success", "neutral", "skipped")
CLOSING = r"(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)"


class Subject(msgspec.Struct, frozen=True, kw_only=True):
    """What the marketplace knows: the auction's terms, the award and the winner."""

    auction_repo: str
    repo_id: int | None  # GitHub's numeric id, once a verification has seen it
    target_branch: str | None
    issue_number: int | None
    winner_github_id: int | None
    awarded_at: dt.datetime
    delivery_due_at: dt.datetime | None
    pr_repo: str  # owner/name from the submitted URL
    pr_number: int


class Observed(msgspec.Struct, frozen=True, kw_only=True):
    """What GitHub answered; an ``*_error`` says it answered "not found"."""

    repo: Repo | None = None
    repo_error: str | None = None
    pull: PullRequest | None = None
    pull_error: str | None = None
    checks: list[CheckResult] = []
    issue: Issue | None = None
    issue_error: str | None = None


def iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat()


def evaluate(subject: Subject, observed: Observed) -> list[Check]:
    """Every rule, in a stable order."""
    pull = observed.pull
    found = pull_request_exists(subject, observed)
    if pull is None:
        return [repository(subject, observed), found]
    checks = [
        repository(subject, observed),
        found,
        author(subject, pull),
        merged(pull),
        target_branch(subject, observed.repo, pull),
        merged_in_window(subject, pull),
        merged_by_other(pull),
        checks_succeeded(pull, observed.checks),
    ]
    if subject.issue_number is not None:
        checks.append(references_issue(subject, observed, pull))
    return checks


def pull_request_exists(subject: Subject, observed: Observed) -> Check:
    evidence: dict[str, Any] = {"repo": subject.pr_repo, "number": subject.pr_number}
    if observed.pull is None:
        detail = observed.pull_error or "GitHub has no such pull request"
        return Check(name="pull_request_exists", passed=False, evidence=evidence, detail=detail)
    evidence["html_url"] = observed.pull.html_url
    evidence["state"] = observed.pull.state
    return Check(
        name="pull_request_exists", passed=True, evidence=evidence, detail="found on GitHub"
    )


def repository(subject: Subject, observed: Observed) -> Check:
    """The PR's base repository is the auction's, matched by numeric id once known."""
    expected = (
        subject.repo_id
        if subject.repo_id is not None
        else (observed.repo.id if observed.repo is not None else None)
    )
    evidence: dict[str, Any] = {"auction_repo": subject.auction_repo, "expected_repo_id": expected}
    if observed.repo is not None:
        evidence["repo_full_name"] = observed.repo.full_name
    pull = observed.pull
    if expected is None:
        detail = observed.repo_error or f"the repository {subject.auction_repo} was not found"
        return Check(name="repository", passed=False, evidence=evidence, detail=detail)
    if pull is None:
        return Check(
            name="repository",
            passed=False,
            evidence=evidence,
            detail="the pull request was not found, so its repository is unknown",
        )
    evidence["pr_base_repo_id"] = pull.base_repo_id
    evidence["pr_base_repo_full_name"] = pull.base_repo_full_name
    if pull.base_repo_id != expected:
        return Check(
            name="repository",
            passed=False,
            evidence=evidence,
            detail=(
                f"the pull request is in {pull.base_repo_full_name} (id {pull.base_repo_id}), "
                f"not the auction's repository (id {expected})"
            ),
        )
    return Check(
        name="repository", passed=True, evidence=evidence, detail="the auction's repository"
    )


def author(subject: Subject, pull: PullRequest) -> Check:
    evidence = {
        "author_id": pull.author.id,
        "author_login": pull.author.login,
        "winner_github_id": subject.winner_github_id,
    }
    if subject.winner_github_id is None:
        return Check(
            name="author",
            passed=False,
            evidence=evidence,
            detail="the winner has no linked GitHub account",
        )
    passed = pull.author.id == subject.winner_github_id
    detail = (
        "opened by the winner's linked GitHub account"
        if passed
        else f"opened by {pull.author.login} (id {pull.author.id}), not the winner's account"
    )
    return Check(name="author", passed=passed, evidence=evidence, detail=detail)


def merged(pull: PullRequest) -> Check:
    evidence = {
        "merged": pull.merged,
        "merged_at": iso(pull.merged_at),
        "state": pull.state,
        "head_sha": pull.head_sha,
        "merge_commit_sha": pull.merge_commit_sha,
    }
    passed = pull.merged and pull.merged_at is not None
    detail = "merged" if passed else f"not merged (the pull request is {pull.state})"
    return Check(name="merged", passed=passed, evidence=evidence, detail=detail)


def target_branch(subject: Subject, repo: Repo | None, pull: PullRequest) -> Check:
    expected = subject.target_branch or (repo.default_branch if repo is not None else None)
    evidence = {
        "base_ref": pull.base_ref,
        "expected": expected,
        "from": "auction" if subject.target_branch else "repository default branch",
    }
    if expected is None:
        return Check(
            name="target_branch",
            passed=False,
            evidence=evidence,
            detail="the repository's default branch is unknown",
        )
    passed = pull.base_ref == expected
    detail = f"into {expected}" if passed else f"into {pull.base_ref}, not {expected}"
    return Check(name="target_branch", passed=passed, evidence=evidence, detail=detail)


def merged_in_window(subject: Subject, pull: PullRequest) -> Check:
    """merged_at after the award and no later than the delivery deadline."""
    evidence = {
        "merged_at": iso(pull.merged_at),
        "awarded_at": iso(subject.awarded_at),
        "delivery_due_at": iso(subject.delivery_due_at),
    }
    at = pull.merged_at
    if at is None:
        detail = "not merged yet"
        passed = False
    elif at <= subject.awarded_at:
        detail = "merged before the award"
        passed = False
    elif subject.delivery_due_at is not None and at > subject.delivery_due_at:
        detail = "merged after the delivery deadline"
        passed = False
    else:
        detail = "merged after the award and before the deadline"
        passed = True
    return Check(name="merged_in_window", passed=passed, evidence=evidence, detail=detail)


def merged_by_other(pull: PullRequest) -> Check:
    by = pull.merged_by
    evidence = {
        "author_id": pull.author.id,
        "merged_by_id": by.id if by else None,
        "merged_by_login": by.login if by else None,
    }
    if by is None:
        return Check(
            name="merged_by_other", passed=False, evidence=evidence, detail="not merged by anyone"
        )
    passed = by.id != pull.author.id
    detail = f"merged by {by.login}" if passed else "merged by its own author"
    return Check(name="merged_by_other", passed=passed, evidence=evidence, detail=detail)


def checks_succeeded(pull: PullRequest, results: list[CheckResult]) -> Check:
    """Every check run and status on the head commit concluded success, neutral or skipped."""
    ordered = sorted(results, key=lambda r: (r.kind, r.name, r.id))
    evidence: dict[str, Any] = {
        "head_sha": pull.head_sha,
        "merge_commit_sha": pull.merge_commit_sha,
        "results": [
            {
                "kind": r.kind,
                "id": r.id,
                "name": r.name,
                "status": r.status,
                "conclusion": r.conclusion,
                "sha": r.sha,
                "completed_at": iso(r.completed_at),
            }
            for r in ordered
        ],
    }
    if not ordered:
        return Check(
            name="checks_succeeded",
            passed=False,
            evidence=evidence,
            detail="no check runs or statuses on the head commit",
        )
    bad = [r for r in ordered if r.conclusion not in SUCCESS]
    if bad:
        named = ", ".join(f"{r.name} ({r.conclusion or r.status})" for r in bad)
        return Check(
            name="checks_succeeded", passed=False, evidence=evidence, detail=f"not green: {named}"
        )
    return Check(
        name="checks_succeeded",
        passed=True,
        evidence=evidence,
        detail=f"{len(ordered)} checks concluded successfully",
    )


def issue_mention(text: str, number: int, repo: str) -> str | None:
    """The first reference to issue ``number`` in ``text`` (see the module docstring)."""
    owner_name = re.escape(repo)
    patterns = [
        rf"\b{CLOSING}:?\s+(?:{owner_name})?#{number}(?!\d)",
        rf"(?<![\w/#])(?:{owner_name})?#{number}(?!\d)",
        rf"/{owner_name}/issues/{number}(?!\d)",
    ]
    for pattern in patterns:
        match = re.search(pattern, text, flags=re.IGNORECASE)
        if match:
            return match.group(0)
    return None


def references_issue(subject: Subject, observed: Observed, pull: PullRequest) -> Check:
    number = subject.issue_number
    assert number is not None
    repo = observed.repo.full_name if observed.repo is not None else subject.auction_repo
    text = f"{pull.title}\n{pull.body or ''}"
    mention = issue_mention(text, number, repo) or issue_mention(text, number, subject.auction_repo)
    evidence: dict[str, Any] = {"issue_number": number, "mention": mention}
    issue = observed.issue
    if issue is not None:
        evidence.update(issue_url=issue.html_url, issue_state=issue.state)
    if issue is None or issue.is_pull_request:
        detail = observed.issue_error or f"#{number} is not an issue of {repo}"
        return Check(name="references_issue", passed=False, evidence=evidence, detail=detail)
    if mention is None:
        return Check(
            name="references_issue",
            passed=False,
            evidence=evidence,
            detail=f'the title and body do not mention #{number} (write "Fixes #{number}")',
        )
    return Check(
        name="references_issue", passed=True, evidence=evidence, detail=f'mentions "{mention}"'
    )
