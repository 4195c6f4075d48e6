"""Linking a GitHub account from the browser: start, then confirm before anything is linked.

GitHub sends the browser back to ``/auth/github/callback``, which sends it here with the
code and state. The link completes only if this browser's session is the user who started
it (so an authorize URL sent to someone else links nothing), and only after that user
confirms, in a form of this site, which GitHub account goes onto which marketplace account.
The GitHub identity waits for the confirmation in the encrypted session cookie.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec
from arq.connections import ArqRedis
from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from marketplace.auth import Caller, request_id
from marketplace.db import Pool
from marketplace.errors import BadRequest, DomainError
from marketplace.github import oauth
from marketplace.github import service as github
from marketplace.settings import Settings
from marketplace.web.common import flash, form_text, plain, render, require, see_other, session_of

PARKED = "github_link"  # the session key of the identity awaiting confirmation
WORDS = {
    "github_link_needs_sign_in": (
        "Sign in as the account that started linking GitHub, then start linking again from "
        "your profile. Nothing was linked."
    ),
    "github_link_not_yours": (
        "This GitHub link was started from another marketplace account, so it cannot be "
        "completed here. Nothing was linked. If someone sent you this link, do not use it; "
        "to link your own GitHub account, start from your profile."
    ),
    "used_oauth_state": "This GitHub link was already used. Start linking again from your profile.",
    "expired_oauth_state": "Linking took too long. Start linking again from your profile.",
}


def _refused(request: Request[Any, Any, Any], viewer: Caller | None, exc: DomainError) -> Template:
    return render(
        request,
        viewer,
        "error.html",
        status=exc.status,
        title="GitHub account not linked",
        detail=plain(exc, WORDS),
    )


@post("/me/github/link", name="web:github_link")
async def link_github(
    request: Request[Any, Any, Any], settings: Settings, viewer: Caller | None
) -> Redirect:
    """Send the browser to GitHub to link the account (the API's ``/api/me/github/link``)."""
    caller = require(viewer)
    back = form_text(await request.form(), "back", 200)
    try:
        oauth.require_configured(settings)
    except DomainError:
        flash(request, "GitHub linking is not set up here. Ask an administrator.", "error")
        return see_other(back if back.startswith("/") and not back.startswith("//") else "/me")
    state = oauth.sign_state(settings.secret_key, "link", caller.id)
    return Redirect(path=oauth.authorize_url(settings, state), status_code=303)


@get("/me/github/confirm", name="web:github_confirm")
async def confirm_form(
    request: Request[Any, Any, Any],
    redis: ArqRedis,
    settings: Settings,
    viewer: Caller | None,
    code: str = "",
    oauth_state: Annotated[str, Parameter(query="state")] = "",
) -> Template:
    """Check that this browser's user started the link, ask GitHub who approved, and ask
    the user to confirm."""
    try:
        oauth.require_configured(settings)
        verified = oauth.verify_state(settings.secret_key, oauth_state)
        oauth.require_starter(verified, viewer.id if viewer else None)
        if not code or len(code) > 200:
            raise BadRequest("missing_code", "the link needs GitHub's code; start again")
        await oauth.claim_state(redis, verified)
        identity = await oauth.identify(settings, code)
    except DomainError as exc:
        return _refused(request, viewer, exc)
    assert viewer is not None
    session_of(request)[PARKED] = {
        "user_id": viewer.id,
        "identity": msgspec.to_builtins(identity),
        "expires_at": int(time.time()) + oauth.STATE_TTL_SECONDS,
    }
    return render(request, viewer, "github_link_confirm.html", identity=identity)


@post("/me/github/confirm", name="web:github_confirm_post")
async def confirm(request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None) -> Any:
    """Link the GitHub account the user just confirmed, or drop it."""
    caller = require(viewer)
    form = await request.form()
    parked = session_of(request).pop(PARKED, None)
    if (
        not isinstance(parked, dict)
        or parked.get("user_id") != caller.id
        or not isinstance(parked.get("expires_at"), int)
        or parked["expires_at"] < time.time()
    ):
        flash(request, "That GitHub link has expired. Start linking again.", "error")
        return see_other("/me")
    if form_text(form, "decision", 10) != "link":
        flash(request, "Nothing was linked.")
        return see_other("/me")
    identity = msgspec.convert(parked["identity"], oauth.GithubIdentity)
    try:
        account = await github.link_account(pool, caller.id, identity, request_id(request))
    except DomainError as exc:
        flash(request, plain(exc), "error")
        return see_other("/me")
    flash(request, f"Your GitHub account @{account.login} is linked to your marketplace account.")
    return see_other("/me")


ROUTES = [link_github, confirm_form, confirm]
