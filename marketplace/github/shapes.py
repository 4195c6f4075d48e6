"""GitHub's answers as our Structs (``marketplace.github.schemas``): PyGithub's objects read
attribute by attribute, and the paths and links of the webhook-delivery listings."""

from __future__ import annotations

from typing import Any

from marketplace.github.schemas import GithubUser, Issue, PullRequest, Repo


def hook_path(repo_hook: tuple[str, int] | None) -> str:
    """The webhook whose deliveries are read: the App's, or a repository's (owner/name, id)."""
    if repo_hook is None:
        return "/app/hook"
    return f"/repos/{repo_hook[0]}/hooks/{repo_hook[1]}"


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header."""
    for part in (header or "").split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None


def as_repo(repo: Any) -> Repo:
    return Repo(
        id=repo.id,
        full_name=repo.full_name,
        default_branch=repo.default_branch,
        html_url=repo.html_url,
    )


def as_pull_request(pr: Any) -> PullRequest:
    merged_by = pr.merged_by
    return PullRequest(
        number=pr.number,
        title=pr.title,
        body=pr.body,
        html_url=pr.html_url,
        state=pr.state,
        author=GithubUser(id=pr.user.id, login=pr.user.login),
        merged=bool(pr.merged),
        merged_at=pr.merged_at,
        merged_by=GithubUser(id=merged_by.id, login=merged_by.login) if merged_by else None,
        base_ref=pr.base.ref,
        base_repo_id=pr.base.repo.id,
        base_repo_full_name=pr.base.repo.full_name,
        head_sha=pr.head.sha,
        merge_commit_sha=pr.merge_commit_sha,
    )


def as_issue(issue: Any) -> Issue:
    return Issue(
        number=issue.number,
        title=issue.title,
        body=issue.body,
        state=issue.state,
        html_url=issue.html_url,
        is_pull_request=issue.pull_request is not None,
    )
