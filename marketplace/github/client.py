"""The GitHub adapter: with ``connection.py`` and ``installations.py``, the only module that
imports PyGithub.

It reads with ``MARKETPLACE_GITHUB_TOKEN``, or, in GitHub App mode (an App id and private
key set), with the installation token of the installation that reads each repository
(``installations.py``); a repository the App is not installed on is ``GithubNotInstalled``.

PyGithub is blocking, so every call runs in ``asyncio.to_thread`` and returns our own
Structs (``marketplace.github.schemas``). Transient trouble (5xx, timeouts, connection
errors, rate limits) is retried inside urllib3 with backoff (PyGithub's ``GithubRetry``
honours Retry-After and X-RateLimit-Reset, sleeping up to ``max_rate_limit_wait``); what is
still failing after that surfaces as ``GithubUnavailable``, which callers treat as "try again
later", never as a verdict, carrying in ``retry_after`` how long GitHub asked us to wait
(Retry-After, or the time to X-RateLimit-Reset) when it said so.
Repositories, pull requests and issues are re-fetched with ``If-None-Match`` once seen, so
a periodic re-check of an unchanged object costs a 304, which GitHub does not count
against the rate limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import github
import msgspec
from github.GithubException import (
    BadCredentialsException,
    GithubException,
    RateLimitExceededException,
    UnknownObjectException,
)
from github.GithubRetry import GithubRetry

from marketplace.github import connection, listings
from marketplace.github.errors import (
    GithubError,
    GithubNotFound,
    GithubNotInstalled,
    GithubRefused,
    GithubUnavailable,
    GithubUnexpected,
)
from marketplace.github.installations import (
    InstallationAuth,
    Installations,
    NotInstalled,
    app_integration,
)
from marketplace.github.schemas import (
    CheckResult,
    GithubUser,
    HookAttempt,
    Issue,
    PullRequest,
    Repo,
)
from marketplace.github.urls import parse_pull_url
from marketplace.settings import Settings

__all__ = [
    "GithubClient",
    "GithubError",
    "GithubNotFound",
    "GithubNotInstalled",
    "GithubRefused",
    "GithubUnavailable",
    "parse_pull_url",
]

T = TypeVar("T")

_CACHE_SIZE = 1024


class _LongWait(GithubUnavailable):
    """Raised inside urllib3's retries, where what was being read is unknown."""


def _translate(exc: Exception, what: str) -> GithubError:
    if isinstance(exc, _LongWait):
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


class _Retry(GithubRetry):
    """GithubRetry that refuses to sleep through a Retry-After longer than the longest wait.

    (GithubRetry caps waits for X-RateLimit-Reset only; urllib3 would sleep any Retry-After.)
    """

    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)
        if after is not None and self.max_rate_limit_wait is not None:
            if after > self.max_rate_limit_wait:
                raise _LongWait(f"GitHub asks to wait {after:.0f} s", retry_after=after)
        return after


class GithubClient:
    """Read-only access to GitHub's REST API, built from settings with ``from_settings``."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        timeout: int = 10,
        *,
        retries: int = 4,
        backoff: float = 1.0,
        max_rate_limit_wait: float = 60.0,
        app: tuple[str, str] | None = None,
    ) -> None:
        """``app``: the App's id and private key (PEM), for GitHub App mode."""

        def retry() -> _Retry:
            return _Retry(
                total=retries,
                backoff_factor=backoff,
                backoff_max=30,
                # GithubRetry adds 403 and retries it only when it is a rate limit.
                status_forcelist=[*range(500, 600), 429],
                max_rate_limit_wait=max_rate_limit_wait,
                # Out of retries, hand back GitHub's last answer (its Retry-After and
                # rate-limit headers included) rather than urllib3's bare "too many error
                # responses".
                raise_on_status=False,
            )

        connection.install()  # one client serves many threads at once
        self.installations: Installations | None = None
        self._auth: InstallationAuth | None = None
        auth: github.Auth.Auth | None = github.Auth.Token(token) if token else None
        if app is not None:
            self.installations = Installations(
                app_integration(api_url, app[0], app[1], timeout, retry())
            )
            auth = self._auth = InstallationAuth(self.installations)
        self._github = github.Github(
            auth=auth,
            base_url=api_url.rstrip("/"),
            timeout=timeout,  # seconds, per request; PyGithub takes whole seconds only
            retry=retry(),
            per_page=100,
            lazy=True,  # objects are fetched when we ask, so each call is one request
            seconds_between_requests=None,
        )
        # PyGithub blocks: its calls run on threads of their own (as many as requests' pool
        # keeps connections), not on the loop's default executor shared with everything else.
        self._threads = ThreadPoolExecutor(max_workers=10, thread_name_prefix="github")
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._cache_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> GithubClient:
        """MARKETPLACE_GITHUB_API_URL and MARKETPLACE_GITHUB_TOKEN; per-request timeout,
        retries within one call and the longest rate-limit wait slept inside a call from
        MARKETPLACE_GITHUB_TIMEOUT_SECONDS, _RETRIES and _MAX_WAIT_SECONDS; GitHub App mode
        with MARKETPLACE_GITHUB_APP_ID and MARKETPLACE_GITHUB_APP_PRIVATE_KEY_FILE."""
        app = None
        if settings.github_app_id and settings.github_app_private_key_file:
            app = (settings.github_app_id, settings.github_app_private_key_file.read_text())
        return cls(
            settings.github_api_url,
            None if app else settings.github_token,
            settings.github_timeout_seconds,
            retries=settings.github_retries,
            max_rate_limit_wait=settings.github_max_wait_seconds,
            app=app,
        )

    @property
    def mode(self) -> str:
        """'app' (installation tokens), 'token' or 'anonymous'."""
        if self.installations is not None:
            return "app"
        return "token" if self._github.requester.auth is not None else "anonymous"

    def rate_limit(self) -> tuple[int, int] | None:
        """(remaining, limit) as GitHub's latest answer said; None before any answer."""
        remaining, limit = self._github.requester.rate_limiting
        return None if remaining < 0 else (remaining, limit)

    def close(self) -> None:
        self._github.close()
        if self.installations is not None:
            self.installations.close()
        self._threads.shutdown(wait=False)

    async def installation(self, full_name: str) -> int:
        """App mode: the id of the installation reading ``owner/name`` (GithubNotInstalled
        if none). Not in App mode: GithubRefused."""
        installations = self.installations
        if installations is None:
            raise GithubRefused("not in GitHub App mode (MARKETPLACE_GITHUB_APP_ID is unset)")
        return await self._run(
            f"installation of {full_name}", installations.installation_for, full_name
        )

    async def repository(self, full_name: str) -> Repo:
        """The repository ``owner/name`` (numeric id, default branch)."""
        return await self._run(
            f"repository {full_name}", self._repository, full_name, repo=full_name
        )

    async def repository_by_id(self, repo_id: int, name: str | None = None) -> Repo:
        """The repository with GitHub's numeric id (survives renames and transfers). In App
        mode ``name``, the repository's last known name, finds the installation to ask."""
        return await self._run(
            f"repository #{repo_id}", self._repository, repo_id, repo=name or str(repo_id)
        )

    async def pull_request(self, full_name: str, number: int) -> PullRequest:
        return await self._run(
            f"pull request {full_name}#{number}", self._pull, full_name, number, repo=full_name
        )

    async def checks(self, full_name: str, sha: str) -> list[CheckResult]:
        """Every check run and commit status on the commit ``sha``."""
        return await self._run(
            f"checks of {full_name}@{sha[:12]}", self._checks, full_name, sha, repo=full_name
        )

    async def issue(self, full_name: str, number: int) -> Issue:
        return await self._run(
            f"issue {full_name}#{number}", self._issue, full_name, number, repo=full_name
        )

    async def hook_attempts(
        self, repo_hook: tuple[str, int] | None, page: str | None = None
    ) -> tuple[list[HookAttempt], str | None]:
        """One page of the webhook's delivery attempts, newest first, and the URL of the next
        page (GitHub's ``Link: rel="next"``, which carries its cursor) or None. The App's
        webhook as the App, or ``repo_hook`` (owner/name, hook id) with our token."""
        path = _hook_path(repo_hook) + "/deliveries"
        what = "webhook deliveries"
        return await self._run(what, self._hook_attempts, path, page, repo_hook is None)

    async def redeliver(self, repo_hook: tuple[str, int] | None, attempt_id: int) -> None:
        """Ask GitHub to send the attempt's event again (under the same guid)."""
        path = f"{_hook_path(repo_hook)}/deliveries/{attempt_id}/attempts"
        await self._run(
            f"redelivery of {attempt_id}", self._hook_request, "POST", path, None, repo_hook is None
        )

    # -- blocking parts, run in a thread -------------------------------------------------------

    async def _run(self, what: str, fn: Callable[..., T], *args: Any, repo: str | None = None) -> T:
        call: Callable[..., T] = fn
        if self._auth is not None and repo is not None:
            call = functools.partial(self._as_installation, repo, fn)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, call, *args)
        except Exception as exc:
            raise _translate(exc, what) from exc

    def _as_installation(self, repo: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn`` with the token of the installation reading ``repo``. A refused token is
        minted again once; a 404 asks again which installation reads the repository (it
        may have moved or lost access) before it is believed."""
        assert self._auth is not None and self.installations is not None
        installations = self.installations
        if "/" not in repo:
            raise GithubRefused(f"GitHub App mode needs the name of repository #{repo}")
        for last in (False, True):
            installation_id = installations.installation_for(repo)
            self._auth.use(installation_id)
            try:
                return fn(*args)
            except BadCredentialsException:
                installations.forget_token(installation_id, self._auth.last_token())
                if last:
                    raise
            except UnknownObjectException:
                installations.forget_repo(repo)
                if last:
                    raise
            finally:
                self._auth.use(None)
        raise AssertionError("unreachable")

    def _cached(self, key: str, fetch: Callable[[Any], Any]) -> Any:
        """``fetch(cached)`` under the key's lock, its answer cached (least recently used
        out first); ``cached`` is the previous answer, or None."""
        with self._cache_lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._cache_lock:
                cached = self._cache.get(key)
            value = fetch(cached)
            with self._cache_lock:
                self._cache[key] = value
                self._cache.move_to_end(key)
                while len(self._cache) > _CACHE_SIZE:
                    old, _ = self._cache.popitem(last=False)
                    self._locks.pop(old, None)
            return value

    def _fresh(self, key: str, make: Callable[[], Any], read: Callable[[Any], T]) -> T:
        """``read`` of a PyGithub object, which is completed once and then revalidated with
        If-None-Match (304 = reuse). The object is read under its lock: another thread's
        revalidation would change its attributes."""

        def fetch(cached: tuple[Any, T] | None) -> tuple[Any, T]:
            if cached is None:
                obj = make().complete()
                return obj, read(obj)
            obj = cached[0]
            changed = obj.update()  # False on 304: the cached attributes still hold
            return (obj, read(obj)) if changed else cached

        value: T = self._cached(key, fetch)[1]
        return value

    def _listing(self, key: str, path: str, kind: type[listings.Page], sha: str) -> list[Any]:
        """Every item of a paged listing. Page 1 is asked with If-None-Match once seen, and a
        304 returns the last answer; when it changed, the later pages are fetched too."""
        requester = self._github.requester

        def get(page: int, etag: str | None) -> tuple[str | None, Any]:
            headers, data = requester.requestJsonAndCheck(
                "GET",
                path,
                parameters={"per_page": listings.PER_PAGE, "page": page},
                headers={"If-None-Match": etag} if etag else None,
            )
            return headers.get("etag"), data

        def fetch(cached: tuple[str | None, list[Any]] | None) -> tuple[str | None, list[Any]]:
            etag, data = get(1, cached[0] if cached else None)
            if data is None and cached is not None:  # 304 Not Modified
                return cached
            # msgspec reads GitHub's parsed JSON into the page's shape, ignoring other fields.
            first = msgspec.convert(data, kind)
            found = batch = first.results(sha)
            number = 1
            while batch and len(found) < first.total_count:
                number += 1
                batch = msgspec.convert(get(number, None)[1], kind).results(sha)
                found.extend(batch)
            return etag, found

        items: list[Any] = self._cached(key, fetch)[1]
        return items

    def _hook_request(
        self, verb: str, url: str, parameters: dict[str, Any] | None, as_app: bool
    ) -> tuple[dict[str, Any], Any]:
        if as_app:
            if self.installations is None:
                raise GithubRefused("the App's webhook deliveries need GitHub App mode")
            return self.installations.app_request(verb, url, parameters)
        headers, data = self._github.requester.requestJsonAndCheck(verb, url, parameters=parameters)
        return dict(headers), data

    def _hook_attempts(
        self, path: str, page: str | None, as_app: bool
    ) -> tuple[list[HookAttempt], str | None]:
        parameters = None if page else {"per_page": 100}
        headers, data = self._hook_request("GET", page or path, parameters, as_app)
        found = {str(k).lower(): v for k, v in headers.items()}
        return msgspec.convert(data or [], list[HookAttempt]), _next_link(found.get("link"))

    def _repository(self, name_or_id: str | int) -> Repo:
        return self._fresh(
            f"repo:{name_or_id}", lambda: self._github.get_repo(name_or_id), _as_repo
        )

    def _pull(self, full_name: str, number: int) -> PullRequest:
        return self._fresh(
            f"pull:{full_name.lower()}#{number}",
            lambda: self._github.get_repo(full_name).get_pull(number),
            _as_pull_request,
        )

    def _checks(self, full_name: str, sha: str) -> list[CheckResult]:
        where = f"/repos/{full_name}/commits/{sha}"
        at = f"{full_name.lower()}@{sha}"
        runs = self._listing(f"runs:{at}", f"{where}/check-runs", listings.CheckRunsPage, sha)
        statuses = self._listing(f"status:{at}", f"{where}/status", listings.StatusesPage, sha)
        return [*runs, *statuses]

    def _issue(self, full_name: str, number: int) -> Issue:
        return self._fresh(
            f"issue:{full_name.lower()}#{number}",
            lambda: self._github.get_repo(full_name).get_issue(number),
            _as_issue,
        )


def _hook_path(repo_hook: tuple[str, int] | None) -> str:
    if repo_hook is None:
        return "/app/hook"
    return f"/repos/{repo_hook[0]}/hooks/{repo_hook[1]}"


def _next_link(header: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header."""
    for part in (header or "").split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            return url.strip().strip("<>")
    return None


def _as_repo(repo: Any) -> Repo:
    return Repo(
        id=repo.id,
        full_name=repo.full_name,
        default_branch=repo.default_branch,
        html_url=repo.html_url,
    )


def _as_pull_request(pr: Any) -> PullRequest:
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


def _as_issue(issue: Any) -> Issue:
    return Issue(
        number=issue.number,
        title=issue.title,
        body=issue.body,
        state=issue.state,
        html_url=issue.html_url,
        is_pull_request=issue.pull_request is not None,
    )
