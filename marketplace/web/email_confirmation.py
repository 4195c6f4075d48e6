"""The page behind the link mailed to a self sign-up: confirm the address with a button.

GET only shows what will be confirmed (mail scanners fetch links); the POST, with the
page's CSRF token, confirms (accounts/email_confirmation.py).
"""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace import ratelimit
from marketplace.accounts import email_confirmation
from marketplace.auth import Caller, request_id
from marketplace.db import Pool
from marketplace.errors import DomainError
from marketplace.settings import Settings
from marketplace.web.common import flash, form_text, plain, render, require, see_other

SPENT = (
    "This confirmation link has expired, was already used, or is not for this account's "
    "current address. Nothing was changed. Sign in and send yourself a new link from your "
    "profile."
)


@get(email_confirmation.PATH, name="web:confirm_email")
async def confirm_form(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, token: str = ""
) -> Template:
    link = await email_confirmation.pending(pool, token)
    if link is None:
        return render(
            request, viewer, "error.html", status=400, title="Address not confirmed", detail=SPENT
        )
    return render(request, viewer, "confirm_email.html", link=link, token=token)


@post(email_confirmation.PATH, name="web:confirm_email_post")
async def confirm(request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None) -> Template:
    token = form_text(await request.form(), "token", 100)
    if await email_confirmation.confirm(pool, token, request_id(request)) is None:
        return render(
            request, viewer, "error.html", status=400, title="Address not confirmed", detail=SPENT
        )
    return render(request, viewer, "confirm_email_done.html")


@post("/me/email-confirmation", name="web:email_confirmation_again")
async def send_again(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    viewer: Caller | None,
) -> Redirect:
    caller = require(viewer)
    await ratelimit.limit(redis, f"confirm-mail:{caller.id}", 3)
    try:
        await email_confirmation.send_again(pool, caller, settings.public_url, request_id(request))
    except DomainError as exc:
        flash(request, plain(exc), "error")
        return see_other("/me")
    flash(request, f"A new confirmation link is on its way to {caller.email}.")
    return see_other("/me")


ROUTES = [confirm_form, confirm, send_again]
