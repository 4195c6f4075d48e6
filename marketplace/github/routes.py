"""Thin handlers: GitHub account linking, sign-in with GitHub, and the webhook receiver."""

from __future__ import annotations

import html
from typing import Annotated, Any

from arq.connections import ArqRedis
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import Parameter
from litestar.response import Redirect

from marketplace import ratelimit
from marketplace.auth import Caller, anyone, current_caller, request_id, signed_in
from marketplace.db import Pool
from marketplace.errors import BadRequest
from marketplace.github import oauth, service, webhook
from marketplace.settings import Settings
from marketplace.structs import Response as ResponseStruct
from marketplace.web.session import hand_off


class AuthorizeUrl(ResponseStruct, frozen=True, kw_only=True):
    authorize_url: str


@post(
    "/api/me/github/link",
    guards=[signed_in],
    status_code=200,
    tags=["github"],
    summary="Start linking a GitHub account",
)
async def start_link(settings: Settings, caller: Caller) -> AuthorizeUrl:
    """Send the user's browser to ``authorize_url``; GitHub returns it to the callback."""
    oauth.require_configured(settings)
    state = oauth.sign_state(settings.secret_key, "link", caller.id)
    return AuthorizeUrl(authorize_url=oauth.authorize_url(settings, state))


@get("/auth/github/login", guards=[anyone], tags=["github"], summary="Sign in with GitHub")
async def start_login(
    request: Request[Any, Any, Any], redis: ArqRedis, settings: Settings
) -> Redirect:
    """Redirect to GitHub; the callback signs the user in (a vendor account on first visit).
    Without an OAuth app a browser is sent back to the sign-in page, which says so."""
    if not oauth.configured(settings) and "text/html" in request.headers.get("accept", ""):
        return Redirect(path="/signin", query_params={"github": "unconfigured"}, status_code=303)
    oauth.require_configured(settings)
    await ratelimit.limit(
        redis, f"signin:{ratelimit.client_address(request)}", settings.signup_limit_per_minute
    )
    nonce, browser = oauth.browser_nonce()
    state = oauth.sign_state(settings.secret_key, "login", None, browser=browser)
    cookie = Cookie(
        key=oauth.BROWSER_COOKIE,
        value=nonce,
        path="/",
        max_age=oauth.STATE_TTL_SECONDS,
        httponly=True,
        samesite="lax",  # sent on GitHub's top-level redirect back to the callback
        secure=settings.public_url.startswith("https://"),
    )
    return Redirect(path=oauth.authorize_url(settings, state), status_code=302, cookies=[cookie])


@get("/auth/github/callback", guards=[anyone], tags=["github"], summary="GitHub OAuth callback")
async def callback(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    oauth_state: Annotated[str, Parameter(query="state")] = "",
    code: str = "",
    error: str | None = None,
) -> Response[Any] | Redirect:
    """Link (state from ``/api/me/github/link``): only for the user who started it. A
    request with that user's bearer token links at once (a small HTML page says so); one
    without is a browser, sent to ``/me/github/confirm``, where its session must be that
    user's and the user confirms. Anyone else's request links nothing.

    Sign in (state from ``/auth/github/login``): only in the browser that started it (its
    nonce cookie). A browser (``Accept: text/html``) is sent to ``/signin/github``, which
    gives it a session with a new API token; other clients get JSON ``{id, token,
    token_id, created, github}`` with that token.
    """
    oauth.require_configured(settings)
    verified = oauth.verify_state(settings.secret_key, oauth_state)
    if error:
        raise BadRequest("github_authorization_denied", f"GitHub did not authorize: {error}")
    if not code or len(code) > 200:
        raise BadRequest("missing_code", "the callback needs GitHub's code")
    if verified.purpose == "link":
        caller = current_caller(request)
        if caller is None:
            # A browser: the pages hold its session, check it is the starter's and confirm.
            return Redirect(
                path="/me/github/confirm",
                query_params={"code": code, "state": oauth_state},
                status_code=303,
            )
        oauth.require_starter(verified, caller.id)
        await oauth.claim_state(redis, verified)
        identity = await oauth.identify(settings, code)
        account = await service.link_account(pool, caller.id, identity, request_id(request))
        login = html.escape(account.login or str(account.id))
        page = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>GitHub linked</title>"
            f"<p>Your GitHub account <strong>@{login}</strong> is linked to the marketplace."
            "</p><p>You can close this page, or go back to <a href=/me>your profile</a>.</p></html>"
        )
        return Response(page, media_type=MediaType.HTML, status_code=200)
    oauth.require_browser(verified, request.cookies.get(oauth.BROWSER_COOKIE))
    await oauth.claim_state(redis, verified)
    identity = await oauth.identify(settings, code)
    signed = await service.sign_in(pool, identity, request_id(request))
    if "text/html" in request.headers.get("accept", ""):
        # A browser: hand the new token to the web pages' session rather than show it; the
        # hand-off too is claimed only with this browser's nonce cookie.
        assert verified.browser is not None
        key = await hand_off(redis, signed.token, signed.token_id, verified.browser)
        return Redirect(path="/signin/github", query_params={"handoff": key}, status_code=303)
    return Response(signed, status_code=201 if signed.created else 200)


@post("/api/github/webhook", guards=[anyone], status_code=202, tags=["github"])
async def receive_webhook(
    request: Request[Any, Any, Any], pool: Pool, redis: ArqRedis, settings: Settings
) -> webhook.WebhookReceived:
    """GitHub deliveries, signed with MARKETPLACE_GITHUB_WEBHOOK_SECRET; 202 once stored."""
    body = await request.body()
    return await webhook.receive(pool, redis, settings, request.headers, body)


ROUTES = [start_link, start_login, callback, receive_webhook]
