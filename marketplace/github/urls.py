"""Reading pull request URLs that users paste."""

from __future__ import annotations

import re
import urllib.parse

from marketplace.errors import Unprocessable

_PULL_PATH = re.compile(
    r"^/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<name>[A-Za-z0-9._-]{1,100})"
    r"/pull/(?P<number>[1-9][0-9]{0,9})(?:/(?:files|commits|checks)?)?/?$"
)


def parse_pull_url(url: str, github_url: str) -> tuple[str, int]:
    """``("owner/name", number)`` of a pull request URL on ``github_url`` (MARKETPLACE_GITHUB_URL).

    Anything else (another host or scheme, an issue or repo URL, a malformed number) is a 422
    ``invalid_pull_request_url`` naming what was expected.
    """
    base = urllib.parse.urlsplit(github_url.rstrip("/"))
    expected = f"{base.scheme}://{base.netloc}{base.path}/OWNER/REPO/pull/NUMBER"
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme != base.scheme
        or parts.netloc.lower() != base.netloc.lower()
        or not parts.path.startswith(base.path + "/")
    ):
        raise Unprocessable(
            "invalid_pull_request_url",
            f"the pull request must be on {github_url}; expected {expected}",
            field="pull_request_url",
        )
    match = _PULL_PATH.match(parts.path[len(base.path) :])
    if match is None or match["name"] in (".", ".."):
        raise Unprocessable(
            "invalid_pull_request_url",
            f"this is not a pull request URL; expected {expected}",
            field="pull_request_url",
        )
    return f"{match['owner']}/{match['name']}", int(match["number"])


_REPO_PATH = re.compile(
    r"^/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<name>[A-Za-z0-9._-]{1,100})/?$"
)


def parse_repo_url(url: str, github_url: str) -> str | None:
    """``owner/name`` of a repository URL on ``github_url``; None for anything else."""
    base = urllib.parse.urlsplit(github_url.rstrip("/"))
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme != base.scheme or parts.netloc.lower() != base.netloc.lower():
        return None
    if not parts.path.startswith(base.path + "/"):
        return None
    match = _REPO_PATH.match(parts.path[len(base.path) :])
    if match is None or match["name"] in (".", ".."):
        return None
    name = match["name"].removesuffix(".git")
    return f"{match['owner']}/{name}"
