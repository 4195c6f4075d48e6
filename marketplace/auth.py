"""Bearer tokens, the signed-in caller, and the guards every route declares.

Each route lists exactly one of ``anyone``, ``signed_in`` or ``roles(...)`` among its
guards; the guard resolves the token (401 when present but unknown or revoked) and
checks the role (403). Token lookups go to PostgreSQL each time, so a revocation
takes effect on the very next request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from marketplace.accounts import queries
from marketplace.audit.record import Actor
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

    def has(self, role: str) -> bool:
        return role in self.roles

    def actor(self, role: str, request_id: str | None = None) -> Actor:
        return Actor(user_id=self.id, role=role, request_id=request_id)


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


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller | None:
    """The caller behind the request's bearer token (cached in the scope), or None."""
    if "user" in connection.scope:
        cached: Caller | None = connection.scope["user"]
        return cached
    token = _bearer(connection)
    caller = None
    if token is not None:
        pool = connection.app.state.pool
        async with pool.acquire() as conn:
            row = await queries.find_token_user(conn, hash_token(token))
        if row is None:
            raise Unauthorized("invalid_token", "the token is unknown or has been revoked")
        caller = Caller(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            roles=frozenset(row["roles"]),
            department_id=row["department_id"],
            verification_status=row["verification_status"],
            token_id=row["token_id"],
        )
    connection.scope["user"] = caller
    return caller


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


def current_caller(request: Request[Any, Any, Any]) -> Caller | None:
    """The caller the route's guard resolved (dependency provider)."""
    caller: Caller | None = request.scope.get("user")
    return caller


def request_id(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    rid = connection.scope.get("request_id") or "-"
    return str(rid)
