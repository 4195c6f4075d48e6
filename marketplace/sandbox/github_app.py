"""The fake GitHub's GitHub App: installations, installation tokens and webhook deliveries.

``FakeApp(fake, app_id, public_key_pem)`` attaches an App to a ``FakeGitHub``; tests then
``install`` it on repositories, ``deliver`` webhooks (recorded in the App's delivery log,
sent to ``hook_url`` when one is set) and read ``minted``. Endpoints, as GitHub's REST docs
describe them:

- ``GET /repos/{owner}/{repo}/installation`` (App JWT): the installation, 404 if none;
- ``POST /app/installations/{id}/access_tokens`` (App JWT): a ``ghs_`` token and its
  ``expires_at`` (``token_lifetime`` seconds, an hour by default);
- ``GET /app/hook/deliveries`` (App JWT), newest first, paged by ``cursor`` with a ``Link``
  header, and ``POST /app/hook/deliveries/{id}/attempts`` (202; 422 past three days);
- ``GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries`` and its ``.../attempts``, the
  same for a repository webhook, read with a token.

The JWT must be RS256, signed by the App's key, with ``iss`` the App id and unexpired. An
installation token reads only its installation's repositories (404 for any other, as on
GitHub), and is refused with 401 once expired or revoked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt

if TYPE_CHECKING:
    from marketplace.sandbox.github import FakeGitHub, Recorded

Answer = tuple[int, Any, dict[str, str]]
REDELIVERY_WINDOW = dt.timedelta(days=3)
_NAME = r"([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Installation:
    id: int
    account: str
    repo_ids: set[int] = field(default_factory=set)
    suspended: bool = False


@dataclass
class Token:
    installation_id: int
    expires_at: dt.datetime
    revoked: bool = False


@dataclass
class HookDelivery:
    """One attempt: GitHub lists each (re)delivery separately, sharing the event's guid."""

    id: int
    guid: str
    event: str
    action: str | None
    payload: dict[str, Any]
    delivered_at: dt.datetime
    redelivery: bool
    status_code: int
    status: str
    installation_id: int | None
    repository_id: int | None

    def item(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": _iso(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": 0.05,
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }


@dataclass
class HookLog:
    """A webhook's deliveries and where they are sent."""

    url: str | None = None
    secret: str = ""
    deliveries: list[HookDelivery] = field(default_factory=list)
    redeliveries_asked: list[int] = field(default_factory=list)


class FakeApp:
    """A GitHub App registered on ``fake``, answering its App endpoints."""

    def __init__(
        self, fake: FakeGitHub, app_id: int, public_key_pem: bytes, slug: str = "marketplace"
    ) -> None:
        self.fake = fake
        self.app_id = app_id
        self.slug = slug
        self.public_key = public_key_pem
        self.token_lifetime = 3600
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self.minted: list[tuple[int, str]] = []  # (installation id, token), in order
        self.seen_tokens: list[str] = []  # installation tokens that reached a repo endpoint
        self.hook = HookLog()  # the App's webhook
        self.repo_hooks: dict[tuple[str, int], HookLog] = {}
        self._ids = itertools.count(7_000_000)
        self._lock = threading.RLock()
        fake.app = self

    # -- state -------------------------------------------------------------------------------

    def install(self, account: str, *repos: str, id: int | None = None) -> Installation:
        """Install the App on ``account`` with access to ``repos`` (full names)."""
        with self._lock:
            inst = Installation(id or next(self._ids), account)
            inst.repo_ids = {self.fake._repo(r)["id"] for r in repos}
            self.installations[inst.id] = inst
            return inst

    def remove_repos(self, installation_id: int, *repos: str) -> None:
        with self._lock:
            self.installations[installation_id].repo_ids -= {
                self.fake._repo(r)["id"] for r in repos
            }

    def uninstall(self, installation_id: int) -> None:
        with self._lock:
            self.installations.pop(installation_id, None)

    def revoke_tokens(self) -> None:
        """Every installation token handed out so far stops working (401)."""
        with self._lock:
            for token in self.tokens.values():
                token.revoked = True

    def repo_hook(self, full_name: str, hook_id: int) -> HookLog:
        with self._lock:
            return self.repo_hooks.setdefault((full_name.lower(), hook_id), HookLog())

    def deliver(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        hook: HookLog | None = None,
        guid: str | None = None,
        at: dt.datetime | None = None,
    ) -> HookDelivery:
        """Send a webhook to the hook's ``url`` (a failed attempt when unset or failing) and
        log the attempt. Blocks on the POST: call it off the event loop serving the receiver."""
        hook = hook or self.hook
        guid = guid or str(uuid.uuid4())
        return self._attempt(hook, event, payload, guid, at or _now(), redelivery=False)

    def _attempt(
        self,
        hook: HookLog,
        event: str,
        payload: dict[str, Any],
        guid: str,
        at: dt.datetime,
        *,
        redelivery: bool,
    ) -> HookDelivery:
        status_code, status = _post(hook, event, guid, payload)
        repo = payload.get("repository") if isinstance(payload, dict) else None
        installation = payload.get("installation") if isinstance(payload, dict) else None
        with self._lock:
            found = HookDelivery(
                id=next(self._ids),
                guid=guid,
                event=event,
                action=payload.get("action"),
                payload=payload,
                delivered_at=at,
                redelivery=redelivery,
                status_code=status_code,
                status=status,
                installation_id=installation.get("id") if isinstance(installation, dict) else None,
                repository_id=repo.get("id") if isinstance(repo, dict) else None,
            )
            hook.deliveries.append(found)
            return found

    # -- requests ----------------------------------------------------------------------------

    def route(self, rec: Recorded, api: str, body: bytes) -> Answer | None:
        """The answer to an App request, a refusal of an installation token, or None when
        the fake's ordinary routes answer."""
        if rec.method == "GET" and (m := re.fullmatch(rf"/repos/{_NAME}/installation", api)):
            return self._as_app(rec) or self._installation_of(m.group(1))
        if rec.method == "POST" and (
            m := re.fullmatch(r"/app/installations/(\d+)/access_tokens", api)
        ):
            return self._as_app(rec) or self._mint(int(m.group(1)))
        if api == "/app/hook/deliveries" and rec.method == "GET":
            return self._as_app(rec) or _listing(rec, self.hook, api)
        if rec.method == "POST" and (
            m := re.fullmatch(r"/app/hook/deliveries/(\d+)/attempts", api)
        ):
            return self._as_app(rec) or self._redeliver(self.hook, int(m.group(1)))
        m = re.fullmatch(rf"/repos/{_NAME}/hooks/(\d+)/deliveries(?:/(\d+)/attempts)?", api)
        if m is not None:
            hook = self.repo_hooks.get((m.group(1).lower(), int(m.group(2))))
            if hook is None:
                return 404, _not_found(), {}
            if m.group(3) is None and rec.method == "GET":
                return _listing(rec, hook, api)
            if m.group(3) is not None and rec.method == "POST":
                return self._redeliver(hook, int(m.group(3)))
            return 404, _not_found(), {}
        return self._guard(rec, api)

    def _as_app(self, rec: Recorded) -> Answer | None:
        """None when the request carries a valid JWT of this App, else GitHub's 401."""
        scheme, _, token = rec.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return 401, _refusal("A JSON web token could not be decoded"), {}
        try:
            claims = jwt.decode(
                token.strip(),
                self.public_key,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=60,
            )
        except jwt.ExpiredSignatureError:
            return 401, _refusal("'Expiration time' claim ('exp') must be in the future"), {}
        except jwt.PyJWTError:
            return 401, _refusal("A JSON web token could not be decoded"), {}
        if str(claims.get("iss")) != str(self.app_id):
            return 401, _refusal("Integration not found"), {}
        return None

    def _installation_of(self, full_name: str) -> Answer:
        with self.fake._lock, self._lock:
            repo = self.fake._state.repos.get(full_name.lower())
            found = [
                i
                for i in self.installations.values()
                if repo is not None and repo["id"] in i.repo_ids
            ]
            if not found:
                return 404, _not_found(), {}
            return 200, self._installation_json(found[0]), {}

    def _installation_json(self, inst: Installation) -> dict[str, Any]:
        account = self.fake._user(inst.account)
        return {
            "id": inst.id,
            "account": account,
            "app_id": self.app_id,
            "app_slug": self.slug,
            "target_id": account["id"],
            "target_type": "Organization",
            "repository_selection": "selected",
            "access_tokens_url": f"{self.fake.api_url}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{self.fake.api_url}/installation/repositories",
            "html_url": f"{self.fake.web_url}/organizations/{inst.account}/settings/installations/{inst.id}",
            "permissions": {
                "pull_requests": "read",
                "checks": "read",
                "statuses": "read",
                "issues": "read",
                "metadata": "read",
            },
            "events": ["pull_request", "check_run", "check_suite", "status"],
            "created_at": "2024-01-02T03:04:05Z",
            "updated_at": "2024-01-02T03:04:05Z",
            "single_file_name": None,
            "suspended_at": None,
            "suspended_by": None,
        }

    def _mint(self, installation_id: int) -> Answer:
        with self._lock:
            inst = self.installations.get(installation_id)
            if inst is None:
                return 404, _not_found(), {}
            if inst.suspended:
                return 403, _refusal("This installation has been suspended"), {}
            token = "ghs_" + secrets.token_hex(18)
            expires_at = _now() + dt.timedelta(seconds=self.token_lifetime)
            self.tokens[token] = Token(installation_id, expires_at)
            self.minted.append((installation_id, token))
            return (
                201,
                {
                    "token": token,
                    "expires_at": _iso(expires_at),
                    "permissions": self._installation_json(inst)["permissions"],
                    "repository_selection": "selected",
                },
                {},
            )

    def _redeliver(self, hook: HookLog, delivery_id: int) -> Answer:
        with self._lock:
            original = next((d for d in hook.deliveries if d.id == delivery_id), None)
            if original is None:
                return 404, _not_found(), {}
            if _now() - original.delivered_at > REDELIVERY_WINDOW:
                return 422, _refusal("Validation Failed: delivery is too old to redeliver"), {}
            hook.redeliveries_asked.append(delivery_id)
        # GitHub answers 202 and sends the attempt soon; here it is sent before answering.
        self._attempt(
            hook, original.event, original.payload, original.guid, _now(), redelivery=True
        )
        return 202, {}, {}

    def _guard(self, rec: Recorded, api: str) -> Answer | None:
        """Refuse an installation token that is unknown, expired or revoked (401), or used on a
        repository outside its installation (404); anything else goes on."""
        _, _, value = rec.headers.get("authorization", "").partition(" ")
        value = value.strip()
        if not value.startswith("ghs_"):
            return None
        with self.fake._lock, self._lock:
            self.seen_tokens.append(value)
            token = self.tokens.get(value)
            if token is None or token.revoked or token.expires_at <= _now():
                return 401, _refusal("Bad credentials"), {}
            inst = self.installations.get(token.installation_id)
            repo_id = self._repo_id_of(api)
            if repo_id is not None and (inst is None or repo_id not in inst.repo_ids):
                return 404, _not_found(), {}
        return None

    def _repo_id_of(self, api: str) -> int | None:
        """The id of the repository an API path reads (None when it reads no repository,
        -1 when it names one that does not exist)."""
        if m := re.match(r"/repositories/(\d+)(?:/|$)", api):
            return int(m.group(1))
        if m := re.match(rf"/repos/{_NAME}(?:/|$)", api):
            repo = self.fake._state.repos.get(m.group(1).lower())
            return repo["id"] if repo is not None else -1
        return None


def _listing(rec: Recorded, hook: HookLog, api: str) -> Answer:
    """Newest first, ``per_page`` (30, at most 100) after ``cursor``; a ``Link`` to the next."""
    per_page = min(100, max(1, int(rec.query.get("per_page", ["30"])[0])))
    cursor = rec.query.get("cursor", [""])[0]
    items = sorted(hook.deliveries, key=lambda d: d.id, reverse=True)
    if cursor.startswith("v1_") and cursor[3:].isdigit():
        items = [d for d in items if d.id < int(cursor[3:])]
    page, rest = items[:per_page], items[per_page:]
    headers: dict[str, str] = {}
    if rest:
        base = rec.headers.get("host", "")
        nxt = f"http://{base}{rec.path}?per_page={per_page}&cursor=v1_{page[-1].id}"
        headers["Link"] = f'<{nxt}>; rel="next"'
    return 200, [d.item() for d in page], headers


def _post(hook: HookLog, event: str, guid: str, payload: dict[str, Any]) -> tuple[int, str]:
    """Send one attempt; GitHub's status words for what happened."""
    if hook.url is None:
        return 0, "failed to connect to host"
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        hook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": signature,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            code = int(response.status)
    except urllib.error.HTTPError as exc:
        code = exc.code
    except OSError:
        return 0, "failed to connect to host"
    return code, "OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"


def _refusal(message: str) -> dict[str, str]:
    return {"message": message, "documentation_url": "https://docs.github.com/rest"}


def _not_found() -> dict[str, str]:
    return _refusal("Not Found")
