"""The GitHub sandbox of ``marketplace up --demo``: the fake GitHub served on loopback, with
the few web pages a person meets on GitHub during the demo.

GitHub's REST, OAuth token exchange and ETags come from ``FakeGitHub``
(marketplace/sandbox/github.py). This adds what a browser needs: the OAuth consent page
(pick which sandbox account to continue as, where GitHub would ask for a password), a pull
request page, and an index of the sandbox's repositories and pull requests. It listens on
127.0.0.1 only and is started by ``up --demo`` alone, when no GitHub API URL is configured.
"""

from __future__ import annotations

import html
import secrets
import threading
import urllib.parse
from http.server import ThreadingHTTPServer
from typing import Any

from marketplace.sandbox.github import API_PREFIX, FakeGitHub, _Handler

LOOPBACK = "127.0.0.1"


class Sandbox(FakeGitHub):
    """A FakeGitHub with fresh credentials, the settings that point the service at it, and
    HTML pages for the browser."""

    def __init__(self) -> None:
        super().__init__(
            client_id="sandbox-" + secrets.token_hex(6),
            client_secret=secrets.token_urlsafe(24),
        )
        self.webhook_secret = secrets.token_urlsafe(24)
        self.worker_token = "ghs_sandbox_" + secrets.token_hex(12)
        self._people: dict[str, str] = {}  # login -> whose account, offered at sign-in

    def add_person(self, login: str, github_id: int, name: str) -> None:
        """A sandbox account a demo visitor may sign in to GitHub as."""
        self.add_user(login, id=github_id, name=name)
        with self._lock:
            self._people[login] = name

    def start(self, port: int = 0) -> Sandbox:
        sandbox = self

        class Handler(_SandboxHandler):
            github = sandbox

        server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="github-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def __enter__(self) -> Sandbox:
        return self.start()

    def environment(self) -> dict[str, str]:
        """The variables that point the API and the worker at this sandbox."""
        return {
            "MARKETPLACE_GITHUB_API_URL": self.api_url,
            "MARKETPLACE_GITHUB_URL": self.web_url,
            "MARKETPLACE_GITHUB_CLIENT_ID": self.client_id,
            "MARKETPLACE_GITHUB_CLIENT_SECRET": self.client_secret,
            "MARKETPLACE_GITHUB_WEBHOOK_SECRET": self.webhook_secret,
            "MARKETPLACE_GITHUB_TOKEN": self.worker_token,
            "MARKETPLACE_GITHUB_SANDBOX": "1",
        }

    # -- what the pages show ---------------------------------------------------------------

    def people(self) -> dict[str, str]:
        with self._lock:
            return dict(sorted(self._people.items()))

    def pulls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self._state.pulls.values()]

    def pull_page(self, full_name: str, number: int) -> dict[str, Any] | None:
        with self._lock:
            pull = self._state.pulls.get((full_name.lower(), number))
            if pull is None:
                return None
            sha = pull["head"]["sha"]
            runs = self._state.check_runs.get((full_name.lower(), sha), [])
            statuses = self._state.statuses.get((full_name.lower(), sha), [])
            checks = [(r["name"], r["conclusion"] or r["status"]) for r in runs]
            checks += [(s["context"], s["state"]) for s in statuses]
            return {**pull, "checks": checks}


class _SandboxHandler(_Handler):
    github: Sandbox

    def do_GET(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        if split.path.startswith(API_PREFIX):
            self._serve()
            return
        query = urllib.parse.parse_qs(split.query)
        if split.path == "/login/oauth/authorize":
            self._consent(query)
        elif split.path == "/":
            self._index()
        elif (parts := split.path.strip("/").split("/")) and len(parts) == 4 and parts[2] == "pull":
            self._pull(f"{parts[0]}/{parts[1]}", parts[3])
        else:
            self._page(404, "Not found", "<p>The GitHub sandbox has no such page.</p>")

    def _consent(self, query: dict[str, list[str]]) -> None:
        """GitHub's "Authorize application" step: the visitor picks a sandbox account."""
        sandbox = self.github
        client_id = query.get("client_id", [""])[0]
        redirect = query.get("redirect_uri", [""])[0]
        state = query.get("state", [""])[0]
        if client_id != sandbox.client_id or not redirect.startswith(("http://", "https://")):
            self._page(404, "Unknown application", "<p>No such OAuth application.</p>")
            return
        login = query.get("login", [""])[0]
        if login:
            if login not in sandbox.people():
                self._page(404, "Unknown account", "<p>No such sandbox account.</p>")
                return
            code = sandbox.authorize(login)
            target = f"{redirect}?{urllib.parse.urlencode({'code': code, 'state': state})}"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        base = {"client_id": client_id, "redirect_uri": redirect, "state": state}
        items = "".join(
            f'<li><a href="/login/oauth/authorize?{html.escape(urllib.parse.urlencode({**base, "login": name}))}">'
            f"Continue as @{html.escape(name)}</a> ({html.escape(who)})</li>"
            for name, who in sandbox.people().items()
        )
        body = (
            "<p>This is the demo's GitHub sandbox, not GitHub. Real GitHub would ask for your "
            "password and whether to let the marketplace read your public profile. "
            "Choose the sandbox account to continue as:</p>"
            f'<ul class="accounts">{items}</ul>'
        )
        self._page(200, "Sign in to the GitHub sandbox", body)

    def _index(self) -> None:
        rows = "".join(
            f'<tr><td><a href="{html.escape(p["html_url"])}">{html.escape(p["base"]["repo"]["full_name"])}'
            f" #{p['number']}</a></td><td>{html.escape(p['title'])}</td>"
            f"<td>@{html.escape(p['user']['login'])}</td>"
            f"<td>{'merged' if p['merged'] else p['state']}</td></tr>"
            for p in self.github.pulls()
        )
        body = (
            "<p>The demo's stand-in for GitHub. Its pull requests:</p>"
            "<table><thead><tr><th scope=col>Pull request</th><th scope=col>Title</th>"
            f"<th scope=col>Author</th><th scope=col>State</th></tr></thead><tbody>{rows}</tbody></table>"
        )
        self._page(200, "GitHub sandbox", body)

    def _pull(self, full_name: str, number: str) -> None:
        pull = self.github.pull_page(full_name, int(number)) if number.isdigit() else None
        if pull is None:
            self._page(404, "Not found", "<p>The GitHub sandbox has no such pull request.</p>")
            return
        merged = (
            f"merged by @{html.escape(pull['merged_by']['login'])} at {pull['merged_at']}"
            if pull["merged"]
            else pull["state"]
        )
        checks = (
            "".join(
                f"<li>{html.escape(name)}: {html.escape(str(result))}</li>"
                for name, result in pull["checks"]
            )
            or "<li>no checks have run</li>"
        )
        body = (
            f"<p>{html.escape(full_name)} #{pull['number']} by @{html.escape(pull['user']['login'])},"
            f" {merged}, into {html.escape(pull['base']['ref'])}.</p>"
            f"<h2>Description</h2><p>{html.escape(pull['body'] or '')}</p>"
            f"<h2>Checks on {html.escape(pull['head']['sha'][:7])}</h2><ul>{checks}</ul>"
        )
        self._page(200, html.escape(pull["title"]), body)

    def _page(self, status: int, title: str, body: str) -> None:
        raw = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title} - GitHub sandbox</title></head><body>"
            "<header><p><strong>GitHub sandbox</strong> (demo)</p></header>"
            f"<main><h1>{title}</h1>{body}</main></body></html>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
