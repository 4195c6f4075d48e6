"""``marketplace github check URL``: what GitHub says, for operators.

It names the mode the worker reads GitHub in (a GitHub App's installation tokens, or a
token), the rate limit left, and, for a repository or pull request URL, whether the worker
can read it (in App mode: the installation that reads it, or that none does); for a pull
request also its merge and the checks on its head commit.
"""

from __future__ import annotations

from marketplace.github.client import GithubClient
from marketplace.github.errors import GithubError
from marketplace.github.schemas import CheckResult
from marketplace.github.urls import parse_pull_url, parse_repo_url
from marketplace.settings import Settings

_MODES = {
    "app": "GitHub App (installation tokens)",
    "token": "token (MARKETPLACE_GITHUB_TOKEN)",
    "anonymous": "anonymous (no token: public repositories only, 60 requests an hour)",
}


def _check_line(check: CheckResult) -> str:
    verdict = "ok" if check.succeeded else "NOT OK"
    return f"  {check.kind:9} {check.name}: {check.conclusion or check.status} ({verdict})"


async def _access(client: GithubClient, settings: Settings, full_name: str) -> list[str]:
    lines = []
    if client.mode == "app":
        try:
            installation = await client.installation(full_name)
        except GithubError as exc:
            return [f"app access:    NO: {exc}"]
        lines.append(f"app access:    installed (installation {installation})")
    repo = await client.repository(full_name)
    lines.append(
        f"repository:    {repo.full_name} (id {repo.id}), default branch {repo.default_branch}"
    )
    lines.append("readable:      yes")
    return lines


def _rate_line(client: GithubClient) -> str:
    left = client.rate_limit()
    return f"rate limit:    {left[0]} of {left[1]} left" if left else "rate limit:    unknown"


async def describe(settings: Settings, url: str) -> list[str]:
    """Lines describing the repository or pull request at ``url``.

    Raises the adapter's GithubError subclasses, or a DomainError for a foreign URL.
    """
    full_name = parse_repo_url(url, settings.github_url)
    client = GithubClient.from_settings(settings)
    try:
        lines = [f"mode:          {_MODES[client.mode]}"]
        if full_name is not None:
            lines += await _access(client, settings, full_name)
            return [*lines, _rate_line(client)]
        lines += await _describe_pull(client, settings, url)
        return [*lines, _rate_line(client)]
    finally:
        client.close()


async def describe_pull(settings: Settings, url: str) -> list[str]:
    """Lines describing the pull request at ``url`` (see ``describe``)."""
    return await describe(settings, url)


async def _describe_pull(client: GithubClient, settings: Settings, url: str) -> list[str]:
    full_name, number = parse_pull_url(url, settings.github_url)
    lines: list[str] = []
    if client.mode == "app":
        try:
            installation = await client.installation(full_name)
        except GithubError as exc:
            return [f"app access:    NO: {exc}"]
        lines.append(f"app access:    installed (installation {installation})")
    pr = await client.pull_request(full_name, number)
    checks = await client.checks(pr.base_repo_full_name, pr.head_sha)
    merged_by = f"{pr.merged_by.login} (id {pr.merged_by.id})" if pr.merged_by else "-"
    lines += [
        f"pull request:  {pr.html_url}",
        f"title:         {pr.title}",
        f"repository:    {pr.base_repo_full_name} (id {pr.base_repo_id}), base {pr.base_ref}",
        f"author:        {pr.author.login} (id {pr.author.id})",
        f"state:         {pr.state}",
        f"merged:        {'yes' if pr.merged else 'no'}",
        f"merged_at:     {pr.merged_at.isoformat() if pr.merged_at else '-'}",
        f"merged_by:     {merged_by}",
        f"head sha:      {pr.head_sha}",
        f"merge commit:  {pr.merge_commit_sha or '-'}",
        f"checks on head ({len(checks)}):",
    ]
    lines.extend(_check_line(c) for c in checks)
    if not checks:
        lines.append("  none (verification needs at least one)")
    return lines
