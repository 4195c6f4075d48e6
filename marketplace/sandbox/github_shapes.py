"""The fake GitHub's JSON, shaped as GitHub's REST API answers: every field its published
OpenAPI description marks required (tests/github_schema/), with GitHub's URL templates.

Each function takes the fake's web and API bases and the facts the fake keeps; values the
fake has no use for are GitHub's defaults for a plain public repository and account.
"""

from __future__ import annotations

from typing import Any

CREATED = "2024-01-02T03:04:05Z"

# The repository's API links: (field, path below the repository's API URL).
_REPO_LINKS = (
    ("archive_url", "/{archive_format}{/ref}"),
    ("assignees_url", "/assignees{/user}"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("branches_url", "/branches{/branch}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("comments_url", "/comments{/number}"),
    ("commits_url", "/commits{/sha}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("contents_url", "/contents/{+path}"),
    ("contributors_url", "/contributors"),
    ("deployments_url", "/deployments"),
    ("downloads_url", "/downloads"),
    ("events_url", "/events"),
    ("forks_url", "/forks"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("hooks_url", "/hooks"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("issue_events_url", "/issues/events{/number}"),
    ("issues_url", "/issues{/number}"),
    ("keys_url", "/keys{/key_id}"),
    ("labels_url", "/labels{/name}"),
    ("languages_url", "/languages"),
    ("merges_url", "/merges"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("pulls_url", "/pulls{/number}"),
    ("releases_url", "/releases{/id}"),
    ("stargazers_url", "/stargazers"),
    ("statuses_url", "/statuses/{sha}"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("tags_url", "/tags"),
    ("teams_url", "/teams"),
    ("trees_url", "/git/trees{/sha}"),
)


def user(web: str, api: str, login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
    """A simple-user."""
    url = f"{api}/users/{login}"
    return {
        "login": login,
        "id": user_id,
        "node_id": f"U_{login}",
        "avatar_url": f"{web}/avatars/{login}",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{web}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": kind,
        "site_admin": False,
    }


def private_user(simple: dict[str, Any], name: str | None, email: str | None) -> dict[str, Any]:
    """The signed-in user (``GET /user``): a private-user."""
    return {
        **simple,
        "name": name,
        "email": email,
        "company": None,
        "blog": "",
        "location": None,
        "hireable": None,
        "bio": None,
        "public_repos": 1,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": CREATED,
        "updated_at": CREATED,
        "private_gists": 0,
        "total_private_repos": 0,
        "owned_private_repos": 0,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": True,
    }


def repository(
    web: str,
    api: str,
    full_name: str,
    repo_id: int,
    owner: dict[str, Any],
    default_branch: str,
    updated_at: str = CREATED,
) -> dict[str, Any]:
    """A full-repository (also a repository and a minimal-repository)."""
    url = f"{api}/repos/{full_name}"
    host = web.split("://", 1)[-1]
    return {
        "id": repo_id,
        "node_id": f"R_{repo_id}",
        "name": full_name.split("/")[1],
        "full_name": full_name,
        "private": False,
        "owner": owner,
        "html_url": f"{web}/{full_name}",
        "description": None,
        "fork": False,
        "url": url,
        **{field: url + path for field, path in _REPO_LINKS},
        "git_url": f"git://{host}/{full_name}.git",
        "ssh_url": f"git@{host.split(':')[0]}:{full_name}.git",
        "clone_url": f"{web}/{full_name}.git",
        "svn_url": f"{web}/{full_name}",
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "license": None,
        "default_branch": default_branch,
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "subscribers_count": 1,
        "network_count": 0,
        "open_issues": 0,
        "open_issues_count": 0,
        "size": 108,
        "has_issues": True,
        "has_projects": True,
        "has_wiki": True,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "public",
        "pushed_at": updated_at,
        "created_at": CREATED,
        "updated_at": updated_at,
    }


def _link(href: str) -> dict[str, str]:
    return {"href": href}


def pull(
    web: str, api: str, repo: dict[str, Any], number: int, pull_id: int, facts: dict[str, Any]
) -> dict[str, Any]:
    """A pull-request from ``facts``: title, body, state, user, head and base (branch
    objects), merged, merged_at, merged_by, merge_commit_sha, created_at, updated_at."""
    url = f"{repo['url']}/pulls/{number}"
    issue_url = f"{repo['url']}/issues/{number}"
    html_url = f"{repo['html_url']}/pull/{number}"
    statuses_url = f"{repo['url']}/statuses/{facts['head']['sha']}"
    return {
        "id": pull_id,
        "node_id": f"PR_{pull_id}",
        "number": number,
        "url": url,
        "html_url": html_url,
        "diff_url": f"{html_url}.diff",
        "patch_url": f"{html_url}.patch",
        "issue_url": issue_url,
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{repo['url']}/pulls/comments{{/number}}",
        "comments_url": f"{issue_url}/comments",
        "statuses_url": statuses_url,
        "locked": False,
        "active_lock_reason": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "labels": [],
        "milestone": None,
        "draft": False,
        "author_association": "CONTRIBUTOR",
        "auto_merge": None,
        "mergeable": None,
        "rebaseable": None,
        "mergeable_state": "unknown",
        "maintainer_can_modify": False,
        "comments": 0,
        "review_comments": 0,
        "commits": 1,
        "additions": 1,
        "deletions": 0,
        "changed_files": 1,
        "_links": {
            "self": _link(url),
            "html": _link(html_url),
            "issue": _link(issue_url),
            "comments": _link(f"{issue_url}/comments"),
            "review_comments": _link(f"{url}/comments"),
            "review_comment": _link(f"{repo['url']}/pulls/comments{{/number}}"),
            "commits": _link(f"{url}/commits"),
            "statuses": _link(statuses_url),
        },
        **facts,
    }


def issue(
    web: str, api: str, repo: dict[str, Any], number: int, issue_id: int, facts: dict[str, Any]
) -> dict[str, Any]:
    """An issue from ``facts``: title, body, state, user, created_at, updated_at (and
    ``pull_request`` for a pull request read as an issue)."""
    url = f"{repo['url']}/issues/{number}"
    return {
        "id": issue_id,
        "node_id": f"I_{issue_id}",
        "number": number,
        "url": url,
        "repository_url": repo["url"],
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{repo['html_url']}/issues/{number}",
        "labels": [],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": 0,
        "closed_at": None,
        "author_association": "OWNER",
        **facts,
    }


def app(web: str, api: str, app_id: int, slug: str, owner: dict[str, Any]) -> dict[str, Any]:
    """An integration (the App that reports a check run)."""
    return {
        "id": app_id,
        "slug": slug,
        "node_id": f"A_{app_id}",
        "client_id": f"Iv1.{app_id:016x}",
        "owner": owner,
        "name": slug.title(),
        "description": None,
        "external_url": f"{web}/apps/{slug}",
        "html_url": f"{web}/apps/{slug}",
        "created_at": CREATED,
        "updated_at": CREATED,
        "permissions": {"checks": "write", "metadata": "read"},
        "events": ["check_run", "check_suite"],
    }


def check_run(
    repo: dict[str, Any],
    run_id: int,
    suite_id: int,
    app_json: dict[str, Any],
    facts: dict[str, Any],
) -> dict[str, Any]:
    """A check-run from ``facts``: head_sha, name, status, conclusion, started_at,
    completed_at."""
    url = f"{repo['url']}/check-runs/{run_id}"
    return {
        "id": run_id,
        "node_id": f"CR_{run_id}",
        "external_id": "",
        "url": url,
        "html_url": f"{repo['html_url']}/runs/{run_id}",
        "details_url": f"{repo['html_url']}/runs/{run_id}",
        "output": {
            "title": None,
            "summary": None,
            "text": None,
            "annotations_count": 0,
            "annotations_url": f"{url}/annotations",
        },
        "check_suite": {"id": suite_id},
        "app": app_json,
        "pull_requests": [],
        **facts,
    }


def commit_status(
    web: str, repo: dict[str, Any], sha: str, status_id: int, facts: dict[str, Any]
) -> dict[str, Any]:
    """A simple-commit-status from ``facts``: state, context, description."""
    return {
        "id": status_id,
        "node_id": f"SC_{status_id}",
        "target_url": f"{web}/ci/{status_id}",
        "avatar_url": f"{web}/avatars/ci",
        "url": f"{repo['url']}/statuses/{sha}",
        "created_at": "2024-02-01T00:02:00Z",
        "updated_at": "2024-02-01T00:02:00Z",
        **facts,
    }
