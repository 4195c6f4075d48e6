"""What every web page shares: the signed-in viewer, CSRF, formatting, rendering, errors."""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import zoneinfo
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Template

from marketplace.accounts import queries as account_queries
from marketplace.auth import Caller, caller_from_row, hash_token
from marketplace.db import Pool
from marketplace.errors import DomainError, Forbidden
from marketplace.notifications import inbox
from marketplace.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FIELD = re.compile(r"at `\$\.([A-Za-z0-9_]+)")
_DOLLARS = re.compile(r"^\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?$")


class SignInRequired(Exception):
    """The page needs a signed-in user: send the browser to the sign-in form."""


# ---- formatting -------------------------------------------------------------------------


def money(cents: int | None) -> str:
    """Integer cents as dollars: 349900 -> "$3,499.00"."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def count(n: int, word: str, plural: str | None = None) -> str:
    """A count with its noun in the right number: 1 -> "1 chain", 9 -> "9 chains"."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def duration(seconds: int) -> str:
    """A length of time in words: 3600 -> "1 hour", 5400 -> "1 hour 30 minutes"."""
    parts: list[str] = []
    for size, unit in ((86_400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size or (size == 1 and not parts):
            parts.append(count(seconds // size, unit))
            seconds %= size
    return " ".join(parts[:2])


def dollars_to_cents(text: str) -> int | None:
    """ "3,499.00", "$3499", "3499.5" -> cents; None when it is not a dollar amount."""
    match = _DOLLARS.match(text.strip())
    if match is None:
        return None
    whole = int(match.group(1).replace(",", ""))
    fraction = (match.group(2) or "0").ljust(2, "0")
    return whole * 100 + int(fraction)


def cents_to_dollars_input(cents: int | None) -> str:
    """Cents as a form value: 350000 -> "3500.00"."""
    return "" if cents is None else f"{cents // 100}.{cents % 100:02d}"


def iso_utc(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def local_time(value: dt.datetime | None, zone: zoneinfo.ZoneInfo, seconds: bool = False) -> str:
    """The server-side rendering of a time, in the deployment's zone with the zone named
    (with seconds where they matter, as in a bid feed with a two-minute soft close)."""
    if value is None:
        return ""
    return value.astimezone(zone).strftime(f"%b %-d, %Y, %H:%M{':%S' if seconds else ''} %Z")


def as_time(value: Any) -> dt.datetime | None:
    """A zoned ISO 8601 timestamp found in recorded data (evidence), as a time; else None."""
    if not isinstance(value, str) or len(value) > 40 or "T" not in value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def input_time(value: dt.datetime | None, zone: zoneinfo.ZoneInfo) -> str:
    """A time as a datetime-local input value in ``zone``."""
    if value is None:
        return ""
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def web_link(url: str | None) -> str | None:
    """An address safe to put in an href: http(s) only, else None."""
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return url
    return None


def sentence(text: str) -> str:
    """A service's detail as a sentence: capitalised, ending with a full stop."""
    text = text.strip()
    if not text:
        return text
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def plain(exc: DomainError, words: dict[str, str] | None = None) -> str:
    """A refusal in plain words: ``words[code]`` when given, else the service's detail."""
    return (words or {}).get(exc.code) or sentence(exc.detail)


def form_text(form: Any, name: str, max_length: int = 4000) -> str:
    """A form field as stripped text, "" when absent (lengths are checked by the caller)."""
    value = form.get(name)
    return value.strip()[: max_length + 1] if isinstance(value, str) else ""


def field_of(error: Exception) -> str | None:
    """The field a msgspec validation message names ("... at `$.price_cap_cents`")."""
    match = _FIELD.search(str(error))
    return match.group(1) if match else None


# ---- the session and the viewer ---------------------------------------------------------


def session_of(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
    session = connection.scope.get("session")
    if not isinstance(session, dict):
        session = {}
        connection.scope["session"] = session
    return session


def csrf_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """This session's CSRF token, made on first use."""
    session = session_of(connection)
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


async def csrf_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Every form POST of the web pages must carry the session's CSRF token."""
    if connection.scope.get("method", "GET") in SAFE_METHODS:
        return
    request: Request[Any, Any, Any] = Request(connection.scope, connection.receive)
    form = await request.form()
    sent = form.get("csrf_token")
    expected = session_of(connection).get("csrf")
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and expected
        and hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise Forbidden(
            "csrf_failed",
            "This form has expired or did not come from this site. Reload the page and try again.",
        )


async def caller_for_token(pool: Pool, token: str) -> Caller | None:
    """The user behind an API token, or None when it is unknown or revoked."""
    async with pool.acquire() as conn:
        row = await account_queries.find_token_user(conn, hash_token(token))
    return None if row is None else caller_from_row(row)


async def provide_viewer(request: Request[Any, Any, Any]) -> Caller | None:
    """The signed-in user of this browser session (looked up each time, so revocation bites)."""
    session = session_of(request)
    token = session.get("token")
    if not isinstance(token, str):
        return None
    caller = await caller_for_token(request.app.state.pool, token)
    if caller is None:
        session.pop("token", None)
        session.pop("token_id", None)
    else:  # the header's unread count
        unread = await inbox.unread_count(request.app.state.pool, caller)
        request.scope["web_unread"] = unread  # type: ignore[typeddict-unknown-key]
    request.scope["web_viewer"] = caller  # type: ignore[typeddict-unknown-key]
    return caller


def require(viewer: Caller | None, *roles: str) -> Caller:
    """The viewer, who must be signed in and hold one of ``roles`` (if any are named)."""
    if viewer is None:
        raise SignInRequired()
    if roles and not viewer.roles.intersection(roles):
        raise Forbidden("role_required", f"This page is for the role {' or '.join(roles)}.")
    return viewer


def flash(request: Request[Any, Any, Any], message: str, kind: str = "success") -> None:
    session_of(request).setdefault("flash", []).append([kind, message])


# ---- rendering ----------------------------------------------------------------------------


def render(
    request: Request[Any, Any, Any],
    viewer: Caller | None,
    template: str,
    status: int = 200,
    **context: Any,
) -> Template:
    session = session_of(request)
    messages = session.pop("flash", [])
    settings = web_settings(request)
    return Template(
        template_name=template,
        context={
            "viewer": viewer,
            "csrf": csrf_token(request),
            "messages": messages,
            "zone": settings.zone,
            "zone_name": settings.timezone,
            "github_login": bool(settings.github_client_id and settings.github_client_secret)
            and any(r.path == "/auth/github/login" for r in request.app.routes),
            "path": request.url.path,
            "unread": request.scope.get("web_unread", 0) if viewer is not None else 0,
            "github_sandbox": settings.github_sandbox,
            **context,
        },
        status_code=status,
        media_type="text/html",
    )


def web_settings(connection: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    """The deployment settings, carried in the web router's ``opt``."""
    settings: Settings = connection.route_handler.opt["web_settings"]
    return settings


def see_other(path: str) -> Redirect:
    return Redirect(path=path, status_code=303)


# ---- errors as pages ----------------------------------------------------------------------

_TITLES = {
    400: "That request was not understood",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible right now",
    422: "Not accepted",
    429: "Too many requests",
}


def _error_page(request: Request[Any, Any, Any], status: int, detail: str) -> Template:
    viewer = request.scope.get("web_viewer")
    if not isinstance(viewer, Caller):
        viewer = None
    template = render(
        request,
        viewer,
        "error.html",
        status=status,
        title=_TITLES.get(status, "Something went wrong"),
        detail=detail,
    )
    return template


def _domain(request: Request[Any, Any, Any], exc: DomainError) -> Any:
    page = _error_page(request, exc.status, exc.detail)
    if "retry_after" in exc.extra:  # a 429 or 503 says when to come back (DESIGN §10)
        page.headers["Retry-After"] = str(exc.extra["retry_after"])
    return page


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Any:
    if exc.status_code >= 500:
        raise exc
    return _error_page(request, exc.status_code, str(exc.detail))


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Any:
    return _error_page(request, 400, "Some of the values in the address are not valid.")


def _sign_in(request: Request[Any, Any, Any], _: SignInRequired) -> Any:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return Redirect(path="/signin", query_params={"next": target}, status_code=303)


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    SignInRequired: _sign_in,
    DomainError: _domain,
    ValidationException: _validation,
    HTTPException: _http,
}
