"""GitHub OAuth: signed states, the authorize URL, the code exchange and the /user lookup.

These two calls are the one place where request handlers talk to GitHub (DESIGN §5); they
use httpx with short timeouts. The state is ``base64(payload).base64(hmac)``, signed with
MARKETPLACE_SECRET_KEY; the payload names the purpose (``link`` or ``login``), the user it is
bound to (link only), a nonce and an expiry. A state is accepted once: its nonce is claimed
in Redis at the callback.

A state alone proves only that this service issued it, not that the browser bringing it
back is the one it was issued to (RFC 6749 §10.12). So each purpose is also bound to its
starter: a link completes only for a request carrying the starting user's credentials
(``require_starter``), and a sign-in only in the browser that started it, which holds a
nonce cookie whose hash the state carries (``require_browser``). Without that, a victim who
opened an attacker's authorize URL linked their GitHub account to the attacker, whose
delivery of the victim's pull request then passed every rule.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
from typing import Literal

import httpx
import msgspec
from arq.connections import ArqRedis

from marketplace.errors import BadRequest, Forbidden, ServiceUnavailable
from marketplace.redis import KEY_PREFIX
from marketplace.settings import Settings

STATE_TTL_SECONDS = 600
STATE_NONCE_PREFIX = KEY_PREFIX + "github:oauth-state:"
# The cookie that ties a GitHub sign-in to the browser that started it.
BROWSER_COOKIE = "mp_github_signin"
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

Purpose = Literal["link", "login"]


class OAuthState(msgspec.Struct, frozen=True, kw_only=True):
    purpose: Purpose
    user_id: int | None
    nonce: str
    expires_at: int
    browser: str | None = None  # login: the hash of the starting browser's nonce cookie


class GithubIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """Who GitHub says signed in: the numeric id is what we store and trust."""

    id: int
    login: str
    name: str | None = None
    email: str | None = None


def configured(settings: Settings) -> bool:
    """Whether an OAuth app is set up, so GitHub sign-in and linking can work."""
    return bool(settings.github_client_id and settings.github_client_secret)


def require_configured(settings: Settings) -> tuple[str, str]:
    """The OAuth app's client id and secret, or a 503 ``github_oauth_not_configured``."""
    if not settings.github_client_id or not settings.github_client_secret:  # not configured()
        raise ServiceUnavailable(
            "github_oauth_not_configured",
            "GitHub sign-in is not set up on this deployment "
            "(MARKETPLACE_GITHUB_CLIENT_ID and MARKETPLACE_GITHUB_CLIENT_SECRET)",
        )
    return settings.github_client_id, settings.github_client_secret


def callback_url(settings: Settings) -> str:
    return f"{settings.public_url}/auth/github/callback"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret_key: str, payload: str) -> str:
    key = hashlib.sha256(b"github-oauth-state\x00" + secret_key.encode()).digest()
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def browser_nonce() -> tuple[str, str]:
    """A nonce for the browser's cookie, and the hash of it that a state or hand-off keeps."""
    nonce = secrets.token_urlsafe(32)
    return nonce, browser_hash(nonce)


def browser_hash(nonce: str) -> str:
    return _b64(hashlib.sha256(b"github-signin-browser\x00" + nonce.encode()).digest())


def same_browser(expected: str | None, cookie: str | None) -> bool:
    """Whether ``cookie`` is the nonce whose hash is ``expected``."""
    if not expected or not cookie or not cookie.isascii():
        return False
    return hmac.compare_digest(expected, browser_hash(cookie))


def sign_state(
    secret_key: str,
    purpose: Purpose,
    user_id: int | None,
    now: float | None = None,
    browser: str | None = None,
) -> str:
    """A fresh state for one authorization round trip."""
    expires = int(now if now is not None else time.time()) + STATE_TTL_SECONDS
    state = OAuthState(
        purpose=purpose,
        user_id=user_id,
        nonce=secrets.token_urlsafe(16),
        expires_at=expires,
        browser=browser,
    )
    payload = _b64(msgspec.json.encode(state))
    return f"{payload}.{_mac(secret_key, payload)}"


def verify_state(secret_key: str, state: str, now: float | None = None) -> OAuthState:
    """The state's content if we signed it and it has not expired; else a 400."""
    payload, _, mac = state.partition(".")
    if (
        not state.isascii()  # ours are base64url; compare_digest refuses other text
        or not payload
        or not mac
        or not hmac.compare_digest(mac, _mac(secret_key, payload))
    ):
        raise BadRequest("invalid_oauth_state", "the sign-in state is not one this service issued")
    try:
        decoded = msgspec.json.decode(_unb64(payload), type=OAuthState)
    except (ValueError, msgspec.DecodeError):
        raise BadRequest("invalid_oauth_state", "the sign-in state is malformed") from None
    if decoded.expires_at <= (now if now is not None else time.time()):
        raise BadRequest("expired_oauth_state", "the sign-in took too long; please start again")
    if (decoded.purpose == "link") != (decoded.user_id is not None):
        raise BadRequest("invalid_oauth_state", "the sign-in state is malformed")
    if decoded.purpose == "login" and not decoded.browser:
        raise BadRequest("invalid_oauth_state", "the sign-in state is malformed")
    return decoded


def require_starter(state: OAuthState, user_id: int | None) -> None:
    """A link completes only for the user who started it (their session or token)."""
    if user_id is None:
        raise BadRequest(
            "github_link_needs_sign_in",
            "sign in as the account that started linking GitHub, then start again; "
            "nothing was linked",
        )
    if state.user_id != user_id:
        raise Forbidden(
            "github_link_not_yours",
            "this GitHub link was started by another account; nothing was linked",
        )


def require_browser(state: OAuthState, cookie: str | None) -> None:
    """A sign-in completes only in the browser that started it (its nonce cookie)."""
    if not same_browser(state.browser, cookie):
        raise BadRequest(
            "oauth_state_other_browser",
            "this GitHub sign-in was started in another browser; start again here",
        )


async def claim_state(redis: ArqRedis, state: OAuthState) -> None:
    """Accept each state once: a replayed callback is a 400."""
    ttl = max(1, state.expires_at - int(time.time()))
    if not await redis.set(STATE_NONCE_PREFIX + state.nonce, b"1", nx=True, ex=ttl):
        raise BadRequest("used_oauth_state", "this sign-in link was already used; start again")


def authorize_url(settings: Settings, state: str) -> str:
    """Where to send the user's browser to approve the app on GitHub."""
    client_id, _ = require_configured(settings)
    query = urllib.parse.urlencode(
        {"client_id": client_id, "state": state, "redirect_uri": callback_url(settings)}
    )
    return f"{settings.github_url}/login/oauth/authorize?{query}"


def _unavailable(what: str, exc: Exception | str) -> ServiceUnavailable:
    return ServiceUnavailable("github_unavailable", f"GitHub did not answer the {what}: {exc}")


async def identify(settings: Settings, code: str) -> GithubIdentity:
    """Exchange the callback's code for a token, then read the user it belongs to."""
    client_id, client_secret = require_configured(settings)
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        try:
            answer = await http.post(
                f"{settings.github_url}/login/oauth/access_token",
                data={
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "code": code,
                    "redirect_uri": callback_url(settings),
                },
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise _unavailable("code exchange", exc) from exc
        if answer.status_code >= 500 or answer.status_code == 429:
            raise _unavailable("code exchange", f"status {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            raise _unavailable("code exchange", "the answer was not JSON") from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            error = body.get("error", "no token") if isinstance(body, dict) else "no token"
            raise BadRequest(
                "github_oauth_failed",
                f"GitHub did not accept the authorization ({error}); please start again",
            )
        try:
            answer = await http.get(
                f"{settings.github_api_url}/user",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.github+json",
                },
            )
        except httpx.HTTPError as exc:
            raise _unavailable("user lookup", exc) from exc
        if answer.status_code != 200:
            raise _unavailable("user lookup", f"status {answer.status_code}")
        try:
            return msgspec.json.decode(answer.content, type=GithubIdentity, strict=False)
        except msgspec.DecodeError as exc:
            raise _unavailable("user lookup", exc) from exc


def account_email(identity: GithubIdentity) -> str:
    """The user's public email, or GitHub's no-reply address for the login."""
    if identity.email and "@" in identity.email:
        return identity.email
    return f"{identity.login}@users.noreply.github.com"
