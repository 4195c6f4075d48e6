"""The GitHub adapter. PyGithub is imported here and in ``connection.py``,
``installations.py`` and ``failures.py`` only, all in this package.

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
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import github
import msgspec
from github.GithubException import (
    BadCredentialsException,
    UnknownObjectException,
)

from marketplace.github import connection, failures, listings, shapes
from marketplace.github.cache import AnswerCache
from marketplace.github.errors import (
    GithubError,
    GithubNotFound,
    GithubNotInstalled,
    GithubRefused,
    GithubUnavailable,
)
from marketplace.github.installations import (
    InstallationAuth,
    Installations,
    app_integration,
)
from marketplace.github.schemas import (
    CheckResult,
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

        connection.install()  # one client serves many threads at once
        self.installations: Installations | None = None
        self._auth: InstallationAuth | None = None
        auth: github.Auth.Auth | None = github.Auth.Token(token) if token else None
        if app is not None:
            self.installations = Installations(
                app_integration(
                    api_url,
                    app[0],
                    app[1],
                    timeout,
                    failures.retry_policy(retries, backoff, max_rate_limit_wait),
                )
            )
            auth = self._auth = InstallationAuth(self.installations)
        self._github = github.Github(
            auth=auth,
            base_url=api_url.rstrip("/"),
            timeout=timeout,  # seconds, per request; PyGithub takes whole seconds only
            retry=failures.retry_policy(retries, backoff, max_rate_limit_wait),
            per_page=100,
            lazy=True,  # objects are fetched when we ask, so each call is one request
            seconds_between_requests=None,
        )
        # PyGithub blocks: its calls run on threads of their own (as many as requests' pool
        # keeps connections), not on the loop's default executor shared with everything else.
        self._threads = ThreadPoolExecutor(max_workers=10, thread_name_prefix="github")
        self._cache = AnswerCache(_CACHE_SIZE)

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
        path = shapes.hook_path(repo_hook) + "/deliveries"
        what = "webhook deliveries"
        return await self._run(what, self._hook_attempts, path, page, repo_hook is None)

    async def redeliver(self, repo_hook: tuple[str, int] | None, attempt_id: int) -> None:
        """Ask GitHub to send the attempt's event again (under the same guid)."""
        path = f"{shapes.hook_path(repo_hook)}/deliveries/{attempt_id}/attempts"
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
            raise failures.translate(exc, what) from exc

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

        value: T = self._cache.get(key, fetch)[1]
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

        items: list[Any] = self._cache.get(key, fetch)[1]
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
        return msgspec.convert(data or [], list[HookAttempt]), shapes.next_link(found.get("link"))

    def _repository(self, name_or_id: str | int) -> Repo:
        return self._fresh(
            f"repo:{name_or_id}", lambda: self._github.get_repo(name_or_id), shapes.as_repo
        )

    def _pull(self, full_name: str, number: int) -> PullRequest:
        return self._fresh(
            f"pull:{full_name.lower()}#{number}",
            lambda: self._github.get_repo(full_name).get_pull(number),
            shapes.as_pull_request,
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
            shapes.as_issue,
        )
