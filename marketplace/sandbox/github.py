"""A small but real GitHub: an HTTP server on 127.0.0.1 speaking the REST calls the product uses.

Layout follows GitHub Enterprise: the web base is ``http://127.0.0.1:PORT`` and the REST base
``http://127.0.0.1:PORT/api/v3``. Tests set state with Python methods (``add_repo``,
``add_pull``, ``add_check_run``, ``add_status``, ``add_issue``, ``add_user``), inject faults
with ``set_fault`` and read ``requests`` afterwards. As on GitHub: answers have the fields
GitHub's OpenAPI description requires (``github_shapes.py``); listings are paged with a
``Link`` header; GET answers carry an ETag and Last-Modified and answer 304 to
``If-None-Match`` or ``If-Modified-Since``; every API answer carries the rate-limit headers
of an hourly window (a 304 is free); a renamed repository's old name redirects (301).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from marketplace.sandbox import github_shapes as shapes

if TYPE_CHECKING:
    from marketplace.sandbox.github_app import FakeApp

API_PREFIX = "/api/v3"
RATE_LIMIT = 5000  # requests an hour, as for a token or an installation on github.com
Answer = tuple[int, Any, dict[str, str]]  # status, JSON body, headers


def iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int = 0
    at: float = 0.0  # time.time() when it arrived
    answer_headers: dict[str, str] = field(default_factory=dict)  # set by the handler


@dataclass
class Fault:
    kind: str
    times: int
    status: int
    retry_after: int | None
    reset_in: int | None
    delay: float
    path: str | None


@dataclass
class _State:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    pulls: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    issues: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    check_runs: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # OAuth code -> login
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> login
    gone: set[tuple[str, str]] = field(default_factory=set)  # (repo, sha) force-pushed away
    moved: dict[str, int] = field(default_factory=dict)  # a renamed repo's old name -> its id


class FakeGitHub:
    """The fake server. Use as a context manager, or ``start()`` and ``stop()``."""

    def __init__(
        self,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-secret",
        callback_url: str | None = None,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        # The OAuth App's registered "Authorization callback URL"; unset, OAuth is refused.
        self.callback_url = callback_url
        self.requests: list[Recorded] = []
        self.rate_limit_remaining = RATE_LIMIT
        self.rate_limit_reset = int(time.time()) + 3600  # the end of the hour's window
        self._versions: dict[str, tuple[str, int]] = {}  # GET url -> (ETag, since when)
        self.signed_in_login: str | None = None  # who "is signed in" on the fake web UI
        self._state = _State()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.app: FakeApp | None = None  # a GitHub App (marketplace/sandbox/github_app.py)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            github = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False  # a request stuck in a 'timeout' fault must not hold stop()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def web_url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.web_url + API_PREFIX

    # -- state -------------------------------------------------------------------------------

    def _next_id(self) -> int:
        return next(self._ids)

    def add_user(
        self,
        login: str,
        *,
        id: int | None = None,
        email: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            user = shapes.user(self.web_url, self.api_url, login, id or self._next_id())
            user.update(name=name or login.title(), email=email)
            self._state.users[login] = user
            return user

    def _user(self, login: str) -> dict[str, Any]:
        if login not in self._state.users:
            self.add_user(login)
        user = self._state.users[login]
        return {k: v for k, v in user.items() if k not in ("name", "email")}

    def add_repo(
        self, full_name: str, *, id: int | None = None, default_branch: str = "main"
    ) -> dict[str, Any]:
        owner = full_name.split("/")[0]
        with self._lock:
            repo = shapes.repository(
                self.web_url,
                self.api_url,
                full_name,
                id or self._next_id(),
                self._user(owner),
                default_branch,
            )
            self._state.repos[full_name.lower()] = repo
            self._state.moved.pop(full_name.lower(), None)  # a new repo takes the old name
            return repo

    def rename_repo(self, full_name: str, new_full_name: str) -> None:
        """Move a repo to a new name, keeping its numeric id (as GitHub does on transfer)."""
        with self._lock:
            repo = self._state.repos.pop(full_name.lower())
            owner = self._user(new_full_name.split("/")[0])
            repo.update(
                shapes.repository(
                    self.web_url,
                    self.api_url,
                    new_full_name,
                    repo["id"],
                    owner,
                    repo["default_branch"],
                    updated_at=iso(dt.datetime.now(dt.UTC)) or "",
                )
            )
            self._state.repos[new_full_name.lower()] = repo
            old_key, new_key = full_name.lower(), new_full_name.lower()
            self._state.moved[old_key] = repo["id"]
            self._state.moved.pop(new_key, None)
            tables: tuple[dict[Any, Any], ...] = (
                self._state.pulls,
                self._state.issues,
                self._state.check_runs,
                self._state.statuses,
            )
            for table in tables:
                for key in [k for k in table if k[0] == old_key]:
                    table[(new_key, key[1])] = table.pop(key)
            for table in tables:
                for key, value in table.items():
                    if key[0] == new_key:
                        _move_links(value, full_name, new_full_name)

    def _repo(self, full_name: str) -> dict[str, Any]:
        return self._state.repos[full_name.lower()]

    def add_pull(
        self,
        full_name: str,
        number: int,
        *,
        author: str,
        title: str = "A change",
        body: str | None = "",
        base: str | None = None,
        head_sha: str | None = None,
        merged_at: dt.datetime | None = None,
        merged_by: str | None = None,
        merge_commit_sha: str | None = None,
        state: str | None = None,
    ) -> dict[str, Any]:
        """A pull request; it is merged when ``merged_at`` is given."""
        with self._lock:
            repo = self._repo(full_name)
            head_sha = head_sha or secrets.token_hex(20)
            merged = merged_at is not None
            facts = {
                "state": state or ("closed" if merged else "open"),
                "title": title,
                "body": body,
                "user": self._user(author),
                "created_at": "2024-02-01T00:00:00Z",
                "updated_at": iso(merged_at) or "2024-02-01T00:00:00Z",
                "closed_at": iso(merged_at),
                "merged": merged,
                "merged_at": iso(merged_at),
                "merged_by": self._user(merged_by) if merged_by else None,
                "merge_commit_sha": merge_commit_sha or (secrets.token_hex(20) if merged else None),
                "base": {
                    "label": f"{repo['owner']['login']}:{base or repo['default_branch']}",
                    "ref": base or repo["default_branch"],
                    "sha": secrets.token_hex(20),
                    "user": repo["owner"],
                    "repo": repo,
                },
                "head": {
                    "label": f"{author}:feature-{number}",
                    "ref": f"feature-{number}",
                    "sha": head_sha,
                    "user": self._user(author),
                    "repo": repo,
                },
            }
            pull = shapes.pull(self.web_url, self.api_url, repo, number, self._next_id(), facts)
            self._state.pulls[(full_name.lower(), number)] = pull
            return pull

    def update_pull(self, full_name: str, number: int, **changes: Any) -> dict[str, Any]:
        """Change a stored pull request's fields (its ETag changes with them)."""
        with self._lock:
            pull = self._state.pulls[(full_name.lower(), number)]
            pull["updated_at"] = iso(dt.datetime.now(dt.UTC))
            for key, value in changes.items():
                if key == "merged_at":
                    pull["merged_at"] = iso(value)
                    pull["closed_at"] = iso(value)
                    pull["merged"] = value is not None
                    pull["state"] = "closed" if value is not None else pull["state"]
                    if value is not None and not pull["merge_commit_sha"]:
                        pull["merge_commit_sha"] = secrets.token_hex(20)
                elif key == "merged_by":
                    pull["merged_by"] = self._user(value) if value else None
                else:
                    pull[key] = value
            return pull

    def add_issue(
        self,
        full_name: str,
        number: int,
        *,
        title: str = "An issue",
        body: str = "",
        state: str = "open",
    ) -> dict[str, Any]:
        with self._lock:
            repo = self._repo(full_name)
            facts = {
                "title": title,
                "body": body,
                "state": state,
                "user": repo["owner"],
                "created_at": "2024-01-15T00:00:00Z",
                "updated_at": "2024-01-15T00:00:00Z",
            }
            issue = shapes.issue(self.web_url, self.api_url, repo, number, self._next_id(), facts)
            self._state.issues[(full_name.lower(), number)] = issue
            return issue

    def add_check_run(
        self,
        full_name: str,
        sha: str,
        name: str,
        *,
        status: str = "completed",
        conclusion: str | None = "success",
        app: str = "ci",
    ) -> dict[str, Any]:
        with self._lock:
            repo = self._repo(full_name)
            run_id = self._next_id()
            done = status == "completed"
            facts = {
                "head_sha": sha,
                "name": name,
                "status": status,
                "conclusion": conclusion if done else None,
                "started_at": "2024-02-01T00:01:00Z",
                "completed_at": "2024-02-01T00:05:00Z" if done else None,
            }
            integration = shapes.app(self.web_url, self.api_url, 15368, app, repo["owner"])
            run = shapes.check_run(repo, run_id, run_id + 1, integration, facts)
            self._state.check_runs.setdefault((full_name.lower(), sha), []).append(run)
            return run

    def add_status(
        self,
        full_name: str,
        sha: str,
        context: str,
        *,
        state: str = "success",
        description: str = "",
    ) -> dict[str, Any]:
        """A commit status; a later one with the same context replaces the earlier (as on GitHub)."""
        with self._lock:
            repo = self._repo(full_name)
            status_id = self._next_id()
            facts = {"state": state, "context": context, "description": description}
            status = shapes.commit_status(self.web_url, repo, sha, status_id, facts)
            kept = [
                s
                for s in self._state.statuses.get((full_name.lower(), sha), [])
                if s["context"] != context
            ]
            self._state.statuses[(full_name.lower(), sha)] = [status, *kept]
            return status

    def forget_commit(self, full_name: str, sha: str) -> None:
        """The commit is gone (force-pushed away): its check runs and combined status answer
        422 "No commit found for SHA", as GitHub's do."""
        with self._lock:
            self._state.gone.add((self._repo(full_name)["full_name"].lower(), sha))

    def _commit(self, full_name: str, sha: str) -> dict[str, Any]:
        repo = self._repo(full_name)
        if (repo["full_name"].lower(), sha) in self._state.gone:
            raise _Unprocessable(f"No commit found for SHA: {sha}")
        return repo

    def set_fault(
        self,
        kind: str,
        times: int = 1,
        *,
        status: int | None = None,
        retry_after: int | None = 1,
        reset_in: int | None = None,
        delay: float = 3.0,
        path: str | None = None,
    ) -> None:
        """Fail the next ``times`` API requests (whose path contains ``path``, if given).

        Faults queue up: each request takes the first one with requests left. kind '502': a
        502 Bad Gateway. kind 'rate_limit': 403 (or ``status=429``) with Retry-After (none
        when ``retry_after`` is None), X-RateLimit-Remaining 0, X-RateLimit-Reset
        ``reset_in`` (default: ``retry_after``, else 60) seconds from now, and GitHub's
        rate-limit message. kind 'timeout': the answer comes only after ``delay`` seconds.
        """
        if kind not in ("502", "rate_limit", "timeout"):
            raise ValueError(f"unknown fault {kind!r}")
        default = {"502": 502, "rate_limit": 403, "timeout": 200}[kind]
        with self._lock:
            self._faults.append(
                Fault(kind, times, status or default, retry_after, reset_in, delay, path)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def authorize(self, login: str) -> str:
        """An OAuth code for ``login``, as GitHub hands one out after the user approves."""
        with self._lock:
            if login not in self._state.users:
                self.add_user(login)
            code = secrets.token_hex(10)
            self._state.codes[code] = login
            return code

    def api_requests(self, path_contains: str = "") -> list[Recorded]:
        return [
            r for r in self.requests if r.path.startswith(API_PREFIX) and path_contains in r.path
        ]

    # -- request handling ----------------------------------------------------------------

    def _validators(self, rec: Recorded, payload: Any) -> tuple[dict[str, str], bool]:
        """ETag and Last-Modified of a GET answer (Last-Modified: when the URL first
        answered what it answers now), and whether the request's If-None-Match, or else its
        If-Modified-Since, says the client holds it already."""
        raw = json.dumps(payload, sort_keys=True).encode()
        etag = f'W/"{hashlib.sha1(raw).hexdigest()}"'
        url = rec.path + "?" + urllib.parse.urlencode(sorted(rec.query.items()), doseq=True)
        with self._lock:
            seen = self._versions.get(url)
            if seen is None or seen[0] != etag:
                seen = self._versions[url] = (etag, int(time.time()))
        headers = {"ETag": etag, "Last-Modified": email.utils.formatdate(seen[1], usegmt=True)}
        if "if-none-match" in rec.headers:
            return headers, etag in _etags(rec.headers["if-none-match"])
        since = _http_date(rec.headers.get("if-modified-since", ""))
        return headers, since is not None and seen[1] <= since

    def _rate_limit(self, counted: bool) -> dict[str, str]:
        """The rate-limit headers of an answer; a ``counted`` request uses one of the
        hour's requests. The window starts again at its reset."""
        with self._lock:
            now = int(time.time())
            if now >= self.rate_limit_reset:
                self.rate_limit_remaining, self.rate_limit_reset = RATE_LIMIT, now + 3600
            if counted:
                self.rate_limit_remaining = max(0, self.rate_limit_remaining - 1)
            return {
                "X-RateLimit-Limit": str(RATE_LIMIT),
                "X-RateLimit-Remaining": str(self.rate_limit_remaining),
                "X-RateLimit-Reset": str(self.rate_limit_reset),
                "X-RateLimit-Used": str(RATE_LIMIT - self.rate_limit_remaining),
                "X-RateLimit-Resource": "core",
            }

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and (fault.path is None or fault.path in path):
                    fault.times -= 1
                    return fault
            return None

    def _route(self, rec: Recorded, body: bytes) -> tuple[int, Any, dict[str, str]]:
        path = rec.path
        if rec.method == "POST" and path == "/login/oauth/access_token":
            return self._access_token(rec, body)
        if rec.method == "GET" and path == "/login/oauth/authorize":
            return self._authorize(rec)
        if not path.startswith(API_PREFIX):
            return 404, {"message": "Not Found"}, {}
        api, moved = self._resolve(rec, path[len(API_PREFIX) :])
        if moved is not None:
            return moved
        if self.app is not None and (answer := self.app.route(rec, api, body)) is not None:
            return answer
        if rec.method != "GET":
            return 404, {"message": "Not Found"}, {}
        for pattern, handler in self._api_routes():
            match = re.fullmatch(pattern, api)
            if match:
                with self._lock:
                    try:
                        return 200, handler(rec, *match.groups()), rec.answer_headers
                    except KeyError:
                        return 404, _not_found(), {}
                    except _Unprocessable as exc:
                        return 422, {"message": str(exc), "documentation_url": DOCS}, {}
        return 404, _not_found(), {}

    def _api_routes(self) -> list[tuple[str, Callable[..., Any]]]:
        name = r"([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)"
        return [
            (r"/user", self._get_user),
            (rf"/repos/{name}", lambda _, n: self._repo(n)),
            (rf"/repos/{name}/pulls/(\d+)", lambda _, n, num: self._pull(n, int(num))),
            (rf"/repos/{name}/issues/(\d+)", lambda _, n, num: self._issue(n, int(num))),
            (rf"/repos/{name}/commits/([^/]+)/check-runs", self._check_runs),
            (rf"/repos/{name}/commits/([^/]+)/status", self._combined_status),
        ]

    def _resolve(self, rec: Recorded, api: str) -> tuple[str, Answer | None]:
        """The path a request reads: ``/repositories/{id}/...`` is the repository's
        ``/repos/{owner}/{name}/...``; a renamed repository's old name answers 301 (307 for
        other methods) to ``/repositories/{id}/...``, as GitHub redirects it."""
        with self._lock:
            if m := re.fullmatch(r"/repositories/(\d+)(/.*)?", api):
                try:
                    repo = self._repo_by_id(int(m.group(1)))
                except KeyError:
                    return api, (404, _not_found(), {})
                return f"/repos/{repo['full_name']}{m.group(2) or ''}", None
            m = re.fullmatch(r"/repos/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(/.*)?", api)
            if m is None or m.group(1).lower() in self._state.repos:
                return api, None
            repo_id = self._state.moved.get(m.group(1).lower())
        if repo_id is None:
            return api, None
        query = urllib.parse.urlencode(rec.query, doseq=True)
        location = f"{self.api_url}/repositories/{repo_id}{m.group(2) or ''}"
        location += f"?{query}" if query else ""
        body = {"message": "Moved Permanently", "url": location, "documentation_url": DOCS}
        return api, (301 if rec.method == "GET" else 307, body, {"Location": location})

    def _repo_by_id(self, repo_id: int) -> dict[str, Any]:
        for repo in self._state.repos.values():
            if repo["id"] == repo_id:
                return repo
        raise KeyError(repo_id)

    def _pull(self, full_name: str, number: int) -> dict[str, Any]:
        return self._state.pulls[(self._repo(full_name)["full_name"].lower(), number)]

    def _issue(self, full_name: str, number: int) -> dict[str, Any]:
        key = (self._repo(full_name)["full_name"].lower(), number)
        if key in self._state.issues:
            return self._state.issues[key]
        pull = self._state.pulls[key]  # a pull request is also an issue on GitHub
        facts = {k: pull[k] for k in ("title", "body", "state", "user", "closed_at")}
        facts |= {k: pull[k] for k in ("created_at", "updated_at")}
        facts["pull_request"] = {
            "url": pull["url"],
            "html_url": pull["html_url"],
            "diff_url": pull["diff_url"],
            "patch_url": pull["patch_url"],
            "merged_at": pull["merged_at"],
        }
        answer = shapes.issue(self.web_url, self.api_url, self._repo(full_name), number, 0, facts)
        answer.update(id=pull["id"], node_id=pull["node_id"], html_url=pull["html_url"])
        return answer

    def _check_runs(self, rec: Recorded, full_name: str, sha: str) -> dict[str, Any]:
        repo = self._commit(full_name, sha)
        runs = self._state.check_runs.get((repo["full_name"].lower(), sha), [])
        return {"total_count": len(runs), "check_runs": _page(rec, runs)}

    def _combined_status(self, rec: Recorded, full_name: str, sha: str) -> dict[str, Any]:
        repo = self._commit(full_name, sha)
        statuses = self._state.statuses.get((repo["full_name"].lower(), sha), [])
        states = {s["state"] for s in statuses}
        if not statuses or "pending" in states:
            overall = "pending"
        elif states & {"failure", "error"}:
            overall = "failure"
        else:
            overall = "success"
        return {
            "state": overall,
            "sha": sha,
            "total_count": len(statuses),
            "statuses": _page(rec, statuses),
            "repository": repo,
            "commit_url": f"{repo['url']}/commits/{sha}",
            "url": f"{repo['url']}/commits/{sha}/status",
        }

    def _get_user(self, rec: Recorded) -> dict[str, Any]:
        auth = rec.headers.get("authorization", "")
        token = auth.split(" ", 1)[1].strip() if " " in auth else ""
        login = self._state.tokens.get(token)
        if login is None:
            raise _Unauthorized
        user = self._state.users[login]
        return shapes.private_user(self._user(login), user["name"], user["email"])

    def _authorize(self, rec: Recorded) -> tuple[int, Any, dict[str, str]]:
        client_id = rec.query.get("client_id", [""])[0]
        callback = self.callback_url
        redirect = rec.query.get("redirect_uri", [""])[0] or callback or ""
        state = rec.query.get("state", [""])[0]
        if client_id != self.client_id or not callback:
            return 404, {"message": "Not Found"}, {}
        if not _within(redirect, callback):
            # GitHub sends the browser to the registered callback, saying why.
            query = urllib.parse.urlencode({**REDIRECT_MISMATCH, "state": state})
            return 302, None, {"Location": f"{callback}?{query}"}
        if self.signed_in_login is None:
            return 401, {"message": "sign in to the fake GitHub first"}, {}
        code = self.authorize(self.signed_in_login)
        query = urllib.parse.urlencode({"code": code, "state": state})
        return 302, None, {"Location": f"{redirect}?{query}"}

    def _access_token(self, rec: Recorded, body: bytes) -> tuple[int, Any, dict[str, str]]:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        if rec.headers.get("content-type", "").startswith("application/json"):
            form = {k: str(v) for k, v in json.loads(body or b"{}").items()}
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return 200, {"error": "incorrect_client_credentials"}, {}
        if form.get("redirect_uri") and not _within(form["redirect_uri"], self.callback_url or ""):
            return 200, REDIRECT_MISMATCH, {}
        with self._lock:
            login = self._state.codes.pop(form.get("code", ""), None)
            if login is None:
                return 200, {"error": "bad_verification_code"}, {}
            token = "gho_" + secrets.token_hex(16)
            self._state.tokens[token] = login
        return 200, {"access_token": token, "token_type": "bearer", "scope": ""}, {}


class _Unauthorized(Exception):
    pass


REDIRECT_MISMATCH = {
    "error": "redirect_uri_mismatch",
    "error_description": "The redirect_uri MUST match the registered callback URL for this "
    "application.",
    "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-"
    "authorization-request-errors/#redirect-uri-mismatch",
}


def _within(redirect: str, callback: str) -> bool:
    """GitHub's rule: the redirect_uri has the callback URL's scheme, host and port, and
    its path is the callback's or below it."""
    to, registered = urllib.parse.urlsplit(redirect), urllib.parse.urlsplit(callback)
    if (to.scheme, to.netloc.lower()) != (registered.scheme, registered.netloc.lower()):
        return False
    base = registered.path.rstrip("/")
    return to.path == registered.path or to.path.startswith(base + "/")


class _Unprocessable(Exception):
    """GitHub's 422 Unprocessable Entity, with its message."""


def _move_links(obj: Any, old: str, new: str) -> None:
    """Point every link inside ``obj`` (a stored answer) at the repository's new name."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for key, value in list(items):
        if isinstance(value, str):
            for tail in ("/", ".git", ""):
                if f"/{old}{tail}" in value and (tail or value.endswith(f"/{old}")):
                    obj[key] = value.replace(f"/{old}{tail}", f"/{new}{tail}")
                    break
        elif isinstance(value, dict | list):
            _move_links(value, old, new)


def _number(rec: Recorded, name: str, default: int) -> int:
    value = rec.query.get(name, [""])[0]
    return int(value) if value.isdigit() and int(value) > 0 else default


def _page(rec: Recorded, items: list[Any]) -> list[Any]:
    """The page ``page`` (from 1) of ``per_page`` items (30 by default, 100 at most), as
    GitHub pages its listings, with its ``Link`` header (first, prev, next, last) when there
    is more than one page."""
    per_page = min(100, _number(rec, "per_page", 30))
    page = _number(rec, "page", 1)
    last = max(1, -(-len(items) // per_page))
    if last > 1:
        query = {k: v[0] for k, v in rec.query.items()}
        base = f"http://{rec.headers.get('host', '')}{rec.path}?"
        rels = {"first": 1, "prev": page - 1, "next": page + 1, "last": last}
        links = [
            f"<{base}{urllib.parse.urlencode({**query, 'per_page': per_page, 'page': n})}>; "
            f'rel="{rel}"'
            for rel, n in rels.items()
            if 1 <= n <= last and (rel in ("prev", "next") or n != page)
        ]
        if links:
            rec.answer_headers["Link"] = ", ".join(links)
    return items[(page - 1) * per_page : page * per_page]


DOCS = "https://docs.github.com/rest"


def _not_found() -> dict[str, str]:
    return {"message": "Not Found", "documentation_url": DOCS}


class _Handler(BaseHTTPRequestHandler):
    github: FakeGitHub
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers (40 ms on Linux) on every kept-alive request.
    disable_nagle_algorithm = True

    def log_message(self, *_: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.github
        split = urllib.parse.urlsplit(self.path)
        rec = Recorded(
            method=self.command,
            path=split.path,
            query=urllib.parse.parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            at=time.time(),
        )
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with fake._lock:
            fake.requests.append(rec)
        is_api = split.path.startswith(API_PREFIX)
        fault = fake._take_fault(split.path) if is_api else None
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.delay)
        elif fault is not None and fault.kind == "502":
            self._send(rec, 502, {"message": "Server Error"}, {})
            return
        elif fault is not None and fault.kind == "rate_limit":
            reset_in = fault.reset_in if fault.reset_in is not None else fault.retry_after or 60
            headers = {
                "X-RateLimit-Limit": str(RATE_LIMIT),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + reset_in),
                "X-RateLimit-Used": str(RATE_LIMIT),
                "X-RateLimit-Resource": "core",
            }
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            message = {
                "message": "API rate limit exceeded for user ID 1.",
                "documentation_url": "https://docs.github.com/rest/rate-limit",
            }
            self._send(rec, fault.status, message, headers)
            return
        try:
            status, payload, headers = fake._route(rec, body)
        except _Unauthorized:
            status, payload, headers = 401, {"message": "Bad credentials"}, {}
        if not is_api:
            self._send(rec, status, payload, headers)
            return
        if status == 200 and self.command == "GET":
            validators, fresh = fake._validators(rec, payload)
            headers.update(validators)
            if fresh:
                status = 304  # conditional: free of the rate limit
        headers.update(fake._rate_limit(counted=status != 304))
        self._send(rec, status, payload, headers)

    def _send(self, rec: Recorded, status: int, payload: Any, headers: dict[str, str]) -> None:
        rec.status = status
        raw = b"" if payload is None or status == 304 else json.dumps(payload).encode()
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if raw:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a 'timeout' fault)


def _http_date(value: str) -> int | None:
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp()) if value else None
    except (TypeError, ValueError):
        return None


def _etags(header: str) -> Iterator[str]:
    for part in header.split(","):
        part = part.strip()
        if part:
            yield part
