"""GitHub App mode: which installation reads each repository, and its installation token.

The App authenticates with a JWT signed by its private key (PyGithub's ``Auth.AppAuth``,
RS256 through PyJWT), finds a repository's installation with
``GET /repos/{owner}/{repo}/installation`` and mints installation tokens with
``POST /app/installations/{id}/access_tokens`` (``GithubIntegration``). Both answers are
cached per worker process: an installation for ``LOOKUP_TTL`` seconds, a token until
``REFRESH_MARGIN`` before its ``expires_at`` (GitHub's tokens live an hour), so a request
never leaves with a token about to expire. Tokens are never logged: ``repr`` of anything
here shows none, and PyGithub masks the Authorization header in its own logs.
Everything here blocks; the client (client.py) calls it from its threads.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

import github
from github.GithubException import UnknownObjectException

LOOKUP_TTL = 600.0  # seconds a repository's installation is believed without asking again
REFRESH_MARGIN = dt.timedelta(minutes=5)


class NotInstalled(Exception):
    """GitHub says the App is not installed on the repository (or cannot see it)."""

    def __init__(self, full_name: str) -> None:
        super().__init__(
            f"the GitHub App is not installed on {full_name}: an owner of the repository must"
            " install it (or add the repository to its installation)"
        )
        self.full_name = full_name


class Installations:
    """The App's installations and tokens, as one worker process has learned them."""

    def __init__(self, integration: github.GithubIntegration) -> None:
        self._integration = integration
        self._lock = threading.Lock()
        self._lookup_lock = threading.Lock()
        self._mint_lock = threading.Lock()
        self._by_repo: dict[str, tuple[int, float]] = {}  # owner/name (lower) -> (id, when)
        self._tokens: dict[int, tuple[str, dt.datetime]] = {}  # id -> (token, expires_at)
        self.minted = 0  # tokens this process has asked for

    def __repr__(self) -> str:  # never the tokens
        return f"<Installations {len(self._by_repo)} repositories, {len(self._tokens)} tokens>"

    def installation_for(self, full_name: str) -> int:
        """The id of the installation that reads ``owner/name``; NotInstalled if none.
        (One lookup at a time: threads asking together share its answer.)"""
        key = full_name.lower()
        with self._lookup_lock:
            with self._lock:
                known = self._by_repo.get(key)
            if known is not None and time.monotonic() - known[1] < LOOKUP_TTL:
                return known[0]
            owner, _, name = full_name.partition("/")
            try:
                found = self._integration.get_repo_installation(owner, name)
            except UnknownObjectException as exc:
                raise NotInstalled(full_name) from exc
            with self._lock:
                self._by_repo[key] = (int(found.id), time.monotonic())
            return int(found.id)

    def token(self, installation_id: int) -> str:
        """An installation token valid for at least ``REFRESH_MARGIN`` more. (One minting at
        a time: threads needing a token together share the one minted.)"""
        with self._mint_lock:
            with self._lock:
                held = self._tokens.get(installation_id)
            if held is not None and held[1] - REFRESH_MARGIN > dt.datetime.now(dt.UTC):
                return held[0]
            grant = self._integration.get_access_token(installation_id)
            expires_at = grant.expires_at
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=dt.UTC)
            with self._lock:
                self._tokens[installation_id] = (grant.token, expires_at)
                self.minted += 1
            return str(grant.token)

    def forget_token(self, installation_id: int, token: str | None) -> None:
        """Drop a token GitHub refused (revoked, or the installation's access changed),
        unless another thread has replaced it already."""
        with self._lock:
            held = self._tokens.get(installation_id)
            if held is not None and (token is None or held[0] == token):
                del self._tokens[installation_id]

    def forget_repo(self, full_name: str) -> None:
        """Ask again which installation reads ``full_name`` (it may have lost access)."""
        with self._lock:
            self._by_repo.pop(full_name.lower(), None)

    def app_request(
        self, verb: str, url: str, parameters: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Any]:
        """A request as the App itself (its JWT), e.g. to its webhook's deliveries."""
        headers, data = self._integration.requester.requestJsonAndCheck(
            verb, url, parameters=parameters
        )
        return dict(headers), data

    def close(self) -> None:
        self._integration.close()


class InstallationAuth(github.Auth.Auth):
    """PyGithub auth whose token is that of the installation the calling thread works for
    (``use``): one client, one connection pool and one ETag cache serve every installation."""

    def __init__(self, installations: Installations) -> None:
        self._installations = installations
        self._current = threading.local()

    def use(self, installation_id: int | None) -> None:
        self._current.id = installation_id
        self._current.token = None

    def last_token(self) -> str | None:
        """The token this thread's latest request went out with."""
        token: str | None = getattr(self._current, "token", None)
        return token

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        installation_id = getattr(self._current, "id", None)
        if installation_id is None:
            raise RuntimeError("GitHub App mode: no installation chosen for this request")
        token = self._installations.token(installation_id)
        self._current.token = token
        return token


# PyGithub logs each request's answer at DEBUG, and the answer to a token request is the
# token: the App's own requests log through this logger, which never shows DEBUG.
_APP_REQUESTS_LOG = logging.getLogger("marketplace.github.app_requests")
_APP_REQUESTS_LOG.setLevel(logging.INFO)


def app_integration(
    api_url: str, app_id: str, private_key: str, timeout: int, retry: Any
) -> github.GithubIntegration:
    """PyGithub's integration for the App: JWT auth (RS256, PyJWT) against ``api_url``."""
    integration = github.GithubIntegration(
        auth=github.Auth.AppAuth(app_id, private_key),
        base_url=api_url.rstrip("/"),
        timeout=timeout,
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    integration.requester._Requester__logger = _APP_REQUESTS_LOG  # type: ignore[attr-defined]
    return integration
