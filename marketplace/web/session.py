"""Signing in to the web pages with an API token, and signing out.

The pasted token is only checked: the session gets a token of its own (issued like any
other, audited), kept in the encrypted session cookie and revoked at sign-out, so a copied
cookie stops working once its owner signs out.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import msgspec
from arq.connections import ArqRedis
from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace import ratelimit
from marketplace.accounts import service as accounts
from marketplace.auth import Caller, request_id
from marketplace.db import Pool
from marketplace.errors import DomainError
from marketplace.github import oauth
from marketplace.redis import WEB_SIGNIN_PREFIX
from marketplace.settings import Settings
from marketplace.web.common import caller_for_token, flash, render, see_other, session_of


def safe_next(target: str | None) -> str:
    """Only same-site paths: never send the browser elsewhere after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@get("/signin", name="web:signin")
async def signin_form(
    request: Request[Any, Any, Any],
    viewer: Caller | None,
    next: str | None = None,
    github: str | None = None,
) -> Template:
    notice = None
    if github == "unconfigured":
        notice = (
            "Sign-in with GitHub is not set up on this deployment yet: its operator has not "
            "connected a GitHub OAuth app. Sign in with your API token instead."
        )
    return render(
        request, viewer, "signin.html", next=safe_next(next), error=None, github_notice=notice
    )


@post("/signin", name="web:signin_post")
async def signin(
    request: Request[Any, Any, Any], pool: Pool, redis: ArqRedis, settings: Settings
) -> Template | Redirect:
    form = await request.form()
    target = safe_next(form.get("next"))
    address = request.client.host if request.client else "unknown"
    await ratelimit.limit(redis, f"signin:{address}", settings.signup_limit_per_minute)
    token = str(form.get("token") or "").strip()
    caller = await caller_for_token(pool, token) if token else None
    if caller is None:
        error = (
            "Enter your API token."
            if not token
            else "That token is unknown or has been revoked. Check it and try again."
        )
        return render(request, None, "signin.html", status=401, next=target, error=error)
    issued = await accounts.issue_token(pool, caller, caller.id, request_id(request))
    session = session_of(request)
    await _revoke_session_token(pool, session, request_id(request))
    session.clear()  # a fresh session (and CSRF token) for the signed-in user
    session["token"] = issued.token
    session["token_id"] = issued.id
    flash(request, f"Signed in as {caller.name}.")
    return see_other(target)


HANDOFF_SECONDS = 120


async def hand_off(redis: ArqRedis, token: str, token_id: int, browser: str) -> str:
    """Park a token issued by GitHub sign-in for the browser to claim once, shortly: the
    OAuth callback is served outside the pages' session, so it sends the browser to
    ``/signin/github?handoff=KEY``, which puts the token in the session. Only the browser
    that started the sign-in claims it (``browser``: the hash of its nonce cookie), so a
    hand-off link sent to someone else signs nobody in."""
    key = secrets.token_urlsafe(32)
    body = msgspec.json.encode({"token": token, "token_id": token_id, "browser": browser})
    await redis.set(WEB_SIGNIN_PREFIX + key, body, ex=HANDOFF_SECONDS)
    return key


@get("/signin/github", name="web:signin_github")
async def signin_github(
    request: Request[Any, Any, Any], pool: Pool, redis: ArqRedis, handoff: str = ""
) -> Template | Redirect:
    """Finish a GitHub sign-in started at ``/auth/github/login``: a session of its own."""
    key = WEB_SIGNIN_PREFIX + handoff[:100]
    raw = await redis.get(key) if handoff else None
    parked = msgspec.json.decode(raw) if raw else {}
    if parked and not oauth.same_browser(
        parked.get("browser"), request.cookies.get(oauth.BROWSER_COOKIE)
    ):
        # Someone else's hand-off (a link an attacker sent): sign nobody in, and spend it.
        await redis.delete(key)
        error = (
            "That GitHub sign-in was started in another browser, so it cannot sign you in "
            "here. Nobody was signed in. To use GitHub, start the sign-in from this page."
        )
        return render(request, None, "signin.html", status=400, next="/", error=error)
    if parked and not await redis.delete(key):
        parked = {}  # claimed a moment ago by another request of the same browser
    token, token_id = parked.get("token"), parked.get("token_id")
    caller = await caller_for_token(pool, token) if isinstance(token, str) else None
    if caller is None or not isinstance(token_id, int):
        error = "That GitHub sign-in has expired or was already used. Sign in again."
        return render(request, None, "signin.html", status=400, next="/", error=error)
    session = session_of(request)
    await _revoke_session_token(pool, session, request_id(request))
    session.clear()
    session["token"] = token
    session["token_id"] = token_id
    flash(request, f"Signed in with GitHub as {caller.name}.")
    done = see_other("/")
    done.delete_cookie(oauth.BROWSER_COOKIE, path="/")
    return done


async def _revoke_session_token(pool: Pool, session: dict[str, Any], rid: str) -> None:
    token, token_id = session.get("token"), session.get("token_id")
    if not isinstance(token, str) or not isinstance(token_id, int):
        return
    owner = await caller_for_token(pool, token)
    if owner is not None:
        with contextlib.suppress(DomainError):  # already revoked elsewhere: nothing to do
            await accounts.revoke_token(pool, owner, token_id, rid)


@post("/signout", name="web:signout")
async def signout(request: Request[Any, Any, Any], pool: Pool) -> Redirect:
    session = session_of(request)
    await _revoke_session_token(pool, session, request_id(request))
    session.clear()
    flash(request, "You are signed out.")
    return see_other("/")


ROUTES = [signin_form, signin, signin_github, signout]
