"""What GitHub's failures mean to us: each exception PyGithub, requests or urllib3 raise as
one of our ``GithubError``s (not found, refused, unavailable with the wait GitHub asked,
unexpected), and the retry policy that will not sleep through a long Retry-After."""

from __future__ import annotations

import contextlib
import email.utils
import time
from typing import Any

from github.GithubException import (
    BadCredentialsException,
    GithubException,
    RateLimitExceededException,
    UnknownObjectException,
)
from github.GithubRetry import GithubRetry

from marketplace.github.errors import (
    GithubError,
    GithubNotFound,
    GithubNotInstalled,
    GithubRefused,
    GithubUnavailable,
    GithubUnexpected,
)
from marketplace.github.installations import NotInstalled


class LongWait(GithubUnavailable):
    """Raised inside urllib3's retries, where what was being read is unknown."""


def translate(exc: Exception, what: str) -> GithubError:
    """What a failed call means to us, worded with ``what`` was being read."""
    if isinstance(exc, LongWait):
        # Worded without the wait, which shrinks from one retry to the next: the same
        # rate limit is then the same reason (one error record), its wait in retry_after.
        return GithubUnavailable(f"{what}: GitHub rate limit exceeded", exc.retry_after)
    if isinstance(exc, GithubError):
        return exc
    if isinstance(exc, NotInstalled):
        return GithubNotInstalled(f"{what}: {exc}")
    if isinstance(exc, UnknownObjectException):
        return GithubNotFound(f"{what}: not found on GitHub")
    if isinstance(exc, RateLimitExceededException):
        wait = getattr(exc, "wait", None) or retry_after(exc.headers)
        return GithubUnavailable(f"{what}: GitHub rate limit exceeded", retry_after=wait)
    if isinstance(exc, BadCredentialsException):
        return GithubRefused(f"{what}: GitHub refused our token (bad credentials)")
    if isinstance(exc, GithubException):
        status = exc.status
        if status == 404:
            return GithubNotFound(f"{what}: not found on GitHub")
        if status == 422 and "no commit found" in str(exc.data).lower():
            # GitHub's answer for the checks of a commit it does not have (force-pushed away)
            return GithubNotFound(f"{what}: GitHub has no such commit")
        if status >= 500 or (status in (403, 429) and _is_rate_limit(exc)):
            return GithubUnavailable(
                f"{what}: GitHub answered {status}", retry_after=retry_after(exc.headers)
            )
        return GithubRefused(f"{what}: GitHub answered {status}: {exc.message or exc.data}")
    # requests' exceptions (timeouts, connection and retry errors) are OSErrors.
    if isinstance(exc, OSError):
        return GithubUnavailable(f"{what}: GitHub is unreachable or failing ({exc})")
    # Anything else came of reading GitHub's answer: a shape we did not expect.
    return GithubUnexpected(f"{what}: GitHub's answer was unexpected ({type(exc).__name__}: {exc})")


def retry_after(headers: Any) -> float | None:
    """Seconds GitHub asks us to wait: ``Retry-After`` (seconds or an HTTP date), else the
    time until ``X-RateLimit-Reset`` when no requests remain; None when it says nothing."""
    found = {str(k).lower(): str(v).strip() for k, v in dict(headers or {}).items()}
    value = found.get("retry-after", "")
    if value.isdigit():
        return float(value)
    if value:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    reset = found.get("x-ratelimit-reset", "")
    if found.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return max(0.0, int(reset) - time.time()) + 1.0  # the reset's second is not exact
    return None


def _is_rate_limit(exc: GithubException) -> bool:
    headers = exc.headers or {}
    message = str(exc.message or "").lower()
    return (
        "retry-after" in {k.lower() for k in headers}
        or str(headers.get("x-ratelimit-remaining", "")) == "0"
        or "rate limit" in message
    )


class Retry(GithubRetry):
    """GithubRetry that refuses to sleep through a Retry-After longer than the longest wait.

    (GithubRetry caps waits for X-RateLimit-Reset only; urllib3 would sleep any Retry-After.)
    """

    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)
        if after is not None and self.max_rate_limit_wait is not None:
            if after > self.max_rate_limit_wait:
                raise LongWait(f"GitHub asks to wait {after:.0f} s", retry_after=after)
        return after


def retry_policy(retries: int, backoff: float, max_rate_limit_wait: float) -> Retry:
    """urllib3's retries inside one call: 5xx and 429 always, 403 when it is a rate limit."""
    return Retry(
        total=retries,
        backoff_factor=backoff,
        backoff_max=30,
        # GithubRetry adds 403 and retries it only when it is a rate limit.
        status_forcelist=[*range(500, 600), 429],
        max_rate_limit_wait=max_rate_limit_wait,
        # Out of retries, hand back GitHub's last answer (its Retry-After and rate-limit
        # headers included) rather than urllib3's bare "too many error responses".
        raise_on_status=False,
    )
