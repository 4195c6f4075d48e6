"""What can go wrong reading GitHub, as the product tells it apart: retry later, not found,
refused for good, an answer of an unexpected shape, the App not installed."""

from __future__ import annotations


class GithubError(Exception):
    """GitHub did not give us what we asked for."""


class GithubUnavailable(GithubError):
    """5xx, timeout, connection failure or rate limit, still failing after retries: retry later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GithubNotFound(GithubError):
    """The repository, pull request, issue or commit does not exist (or our token can't see it)."""


class GithubRefused(GithubError):
    """GitHub refused the request for good (bad credentials, forbidden, invalid)."""


class GithubUnexpected(GithubError):
    """GitHub answered in a shape the product does not read (a field missing, of another
    type): recorded as an error attempt and retried, never a verdict."""


class GithubNotInstalled(GithubRefused):
    """App mode: the GitHub App is not installed on the repository. Not a verdict on a
    delivery: it is retried, and the buyer is told (marketplace/github/access.py)."""
