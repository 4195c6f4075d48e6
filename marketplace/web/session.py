"""Signing in to the web pages with an API token, and signing out.

The pasted token is only checked: the session gets a token of its own (issued like any
other, audited), kept in the encrypted session cookie and revoked at sign-out, so a copied
cookie stops working once its owner signs out.
"""

from __future__ import annotations

import contextlib
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace import ratelimit
from marketplace.accounts import service as accounts
from marketplace.auth import Caller, request_id
from marketplace.errors import DomainError
from marketplace.settings import Settings
from marketplace.web.common import caller_for_token, flash, render, see_other, session_of


def safe_next(target: str | None) -> str:
    """Only same-site paths: never send the browser elsewhere after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@get("/signin", name="web:signin")
async def signin_form(
    request: Request[Any, Any, Any], viewer: Caller | None, next: str | None = None
) -> Template:
    return render(request, viewer, "signin.html", next=safe_next(next), error=None)


@post("/signin", name="web:signin_post")
async def signin(
    request: Request[Any, Any, Any], pool: Any, redis: Any, settings: Settings
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


async def _revoke_session_token(pool: Any, session: dict[str, Any], rid: str) -> None:
    token, token_id = session.get("token"), session.get("token_id")
    if not isinstance(token, str) or not isinstance(token_id, int):
        return
    owner = await caller_for_token(pool, token)
    if owner is not None:
        with contextlib.suppress(DomainError):  # already revoked elsewhere: nothing to do
            await accounts.revoke_token(pool, owner, token_id, rid)


@post("/signout", name="web:signout")
async def signout(request: Request[Any, Any, Any], pool: Any) -> Redirect:
    session = session_of(request)
    await _revoke_session_token(pool, session, request_id(request))
    session.clear()
    flash(request, "You are signed out.")
    return see_other("/")


ROUTES = [signin_form, signin, signout]
