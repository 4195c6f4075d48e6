"""``marketplace github check URL``: what GitHub says about a pull request, for operators."""

from __future__ import annotations

from marketplace.github.client import GithubClient
from marketplace.github.schemas import CheckResult
from marketplace.github.urls import parse_pull_url
from marketplace.settings import Settings


def _check_line(check: CheckResult) -> str:
    verdict = "ok" if check.succeeded else "NOT OK"
    return f"  {check.kind:9} {check.name}: {check.conclusion or check.status} ({verdict})"


async def describe_pull(settings: Settings, url: str) -> list[str]:
    """Lines describing the pull request at ``url`` and the checks on its head commit.

    Raises the adapter's GithubError subclasses, or a DomainError for a foreign URL.
    """
    full_name, number = parse_pull_url(url, settings.github_url)
    client = GithubClient.from_settings(settings)
    try:
        pr = await client.pull_request(full_name, number)
        checks = await client.checks(pr.base_repo_full_name, pr.head_sha)
    finally:
        client.close()
    merged_by = f"{pr.merged_by.login} (id {pr.merged_by.id})" if pr.merged_by else "-"
    lines = [
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
