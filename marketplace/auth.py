"""Bearer tokens, the signed-in caller, and the guards every route declares.

Each route lists exactly one of ``anyone``, ``signed_in`` or ``roles(...)`` among its
guards; the guard resolves the token (401 when present but unknown or revoked) and
checks the role (403). Token lookups go to PostgreSQL each time, so a revocation
takes effect on the very next request; the one exception is ``roles_rechecked_in_sql``,
for routes whose single SQL statement re-checks the token and the caller's standing
itself (placing a bid), which may answer from a short per-app cache.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from marketplace.accounts import queries
from marketplace.audit.record import Actor
from marketplace.db import Row
from marketplace.errors import Forbidden, Unauthorized

ROLES = ("buyer", "vendor", "reviewer", "finance", "auditor", "admin")
TOKEN_PREFIX = "mp_"

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    name: str
    roles: frozenset[str]
    department_id: int | None
    verification_status: str
    token_id: int
    # Who issued the token, when someone other than the user did (an admin acting as them).
    token_issued_by: int | None = None

    def has(self, role: str) -> bool:
        return role in self.roles

    def actor(self, role: str, request_id: str | None = None) -> Actor:
        """The audit actor of this caller's request: the user, and the token behind it."""
        return Actor(
            user_id=self.id,
            role=role,
            request_id=request_id,
            token_id=self.token_id or None,
            issued_by=self.token_issued_by,
        )


def new_token() -> tuple[str, bytes]:
    """A fresh token (shown once) and the hash that is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("invalid_token", "use 'Authorization: Bearer <token>'")
    return token.strip()


# The per-app cache of roles_rechecked_in_sql: token hash -> (caller, monotonic expiry).
CACHE_SECONDS = 30.0
CACHE_MAX = 10_000


def _token_cache(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[bytes, Any]:
    state = connection.app.state
    cache: dict[bytes, Any] | None = state.get("token_cache")
    if cache is None:
        cache = state["token_cache"] = {}
    return cache


def forget_caller(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Drop the request's token from the cache (its standing was found stale)."""
    token = _bearer(connection)
    if token is not None:
        _token_cache(connection).pop(hash_token(token), None)


async def authenticate(
    connection: ASGIConnection[Any, Any, Any, Any], *, may_cache: bool = False
) -> Caller | None:
    """The caller behind the request's bearer token (cached in the scope), or None.

    With ``may_cache`` the answer may come from the per-app token cache; only for routes
    whose SQL re-checks the token in the statement that acts (see roles_rechecked_in_sql).
    """
    if "user" in connection.scope:
        cached: Caller | None = connection.scope["user"]
        return cached
    token = _bearer(connection)
    caller = None
    if token is not None:
        digest = hash_token(token)
        if may_cache:
            hit = _token_cache(connection).get(digest)
            if hit is not None and hit[1] > time.monotonic():
                connection.scope["user"] = hit[0]
                return hit[0]
        # Only the bid routes may cache; they look tokens up on the bids' own pool (app.py).
        state = connection.app.state
        pool = state.bid_pool if may_cache else state.pool
        async with pool.acquire() as conn:
            row = await queries.find_token_user(conn, digest)
        if row is None:
            raise Unauthorized("invalid_token", "the token is unknown or has been revoked")
        caller = caller_from_row(row)
        if may_cache:
            cache = _token_cache(connection)
            if len(cache) >= CACHE_MAX:
                cache.clear()
            cache[digest] = (caller, time.monotonic() + CACHE_SECONDS)
    connection.scope["user"] = caller
    return caller


def caller_from_row(row: Row) -> Caller:
    """The caller a token's row (queries.find_token_user) stands for."""
    return Caller(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        roles=frozenset(row["roles"]),
        department_id=row["department_id"],
        verification_status=row["verification_status"],
        token_id=row["token_id"],
        token_issued_by=row["token_issued_by"],
    )


async def anyone(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Open to everyone; a token, if sent, must still be valid."""
    await authenticate(connection)


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if await authenticate(connection) is None:
        raise Unauthorized("not_signed_in", "sign in with 'Authorization: Bearer <token>'")


def roles(*allowed: str) -> Guard:
    """Signed in and holding at least one of the roles."""
    unknown = set(allowed) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        caller = await authenticate(connection)
        if caller is None:
            raise Unauthorized("not_signed_in", "sign in with 'Authorization: Bearer <token>'")
        if not caller.roles.intersection(allowed):
            raise Forbidden("role_required", f"this needs the role {' or '.join(allowed)}")

    guard.__name__ = "roles_" + "_".join(allowed)
    guard.__qualname__ = guard.__name__
    guard.allowed_roles = allowed  # type: ignore[attr-defined]
    return guard


def roles_rechecked_in_sql(*allowed: str) -> Guard:
    """``roles(...)`` answered from a per-app token cache (30 s), for a route whose one SQL
    statement re-checks, from fresh rows, that the token is unrevoked and what the caller
    may do, and refuses otherwise (``place_bid()`` in sql/functions/place_bid.sql). A revocation or a
    changed role or verification therefore still takes effect on the very next request, in
    every process. A cached caller the role check would refuse is looked up again."""
    checked = roles(*allowed)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        caller = await authenticate(connection, may_cache=True)
        if caller is None or not caller.roles.intersection(allowed):
            forget_caller(connection)
            connection.scope.pop("user", None)  # type: ignore[misc]
            await checked(connection, _)

    guard.__name__ = "rechecked_roles_" + "_".join(allowed)
    guard.__qualname__ = guard.__name__
    guard.allowed_roles = allowed  # type: ignore[attr-defined]
    return guard


def current_caller(request: Request[Any, Any, Any]) -> Caller | None:
    """The caller the route's guard resolved (dependency provider)."""
    caller: Caller | None = request.scope.get("user")
    return caller


def request_id(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    rid = connection.scope.get("request_id") or "-"
    return str(rid)
