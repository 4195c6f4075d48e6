"""The rules of accounts; each function owns its transaction."""

from __future__ import annotations

from typing import Any

import msgspec

from marketplace import outbox
from marketplace.accounts import email_confirmation, queries
from marketplace.accounts.schemas import (
    Department,
    GithubAccount,
    SignedUp,
    Token,
    TokenIssued,
    User,
    UserCreate,
    UserPatch,
)
from marketplace.audit.record import Actor, record
from marketplace.auth import Caller, new_token
from marketplace.changes import announce
from marketplace.db import Conn, Pool, Row, held
from marketplace.errors import Conflict, NotFound, Unprocessable
from marketplace.events import (
    DepartmentCreated,
    DepartmentUpdated,
    TokenIssuedForUser,
    UserCreated,
    UserRolesChanged,
)
from marketplace.settings import DEFAULT_PAYMENT_HOLD_SECONDS

DEPARTMENT_ROLES = {"buyer", "reviewer", "finance"}


def user_from_row(row: Row) -> User:
    github = None
    if row["github_id"] is not None:
        github = GithubAccount(id=row["github_id"], login=row["github_login"])
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        roles=list(row["roles"]),
        department_id=row["department_id"],
        verification_status=row["verification_status"],
        verification_kind=row["verification_kind"],
        verification_reason=row["verification_reason"],
        github=github,
        created_at=row["created_at"],
        email_confirmed=row["email_confirmed"],
        registry_id=row["registry_id"],
    )


def _public_user(row: Row) -> dict[str, Any]:
    return {
        "email": row["email"],
        "name": row["name"],
        "roles": list(row["roles"]),
        "department_id": row["department_id"],
        "verification_status": row["verification_status"],
    }


def department_from_row(row: Row, default_hold_seconds: int) -> Department:
    own = row["payment_hold_seconds"]
    return Department(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        payment_hold_seconds=default_hold_seconds if own is None else own,
        payment_hold_is_default=own is None,
    )


async def create_department(
    pool: Pool,
    actor: Actor,
    name: str,
    payment_hold_seconds: int | None = None,
    *,
    default_hold_seconds: int = DEFAULT_PAYMENT_HOLD_SECONDS,
) -> Department:
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.insert_department(conn, name.strip(), payment_hold_seconds)
        await announce(
            conn,
            DepartmentCreated(department_id=row["id"], name=row["name"]),
            actor,
            "department.created",
            "department",
            row["id"],
            after=dict(row),
        )
    return department_from_row(row, default_hold_seconds)


async def set_department_hold(
    pool: Pool, actor: Actor, department_id: int, seconds: int | None, default_hold_seconds: int
) -> Department:
    """The department's own payment hold (None: the deployment's), for payments accepted
    from now on; orders already on hold keep theirs."""
    async with pool.acquire() as conn, conn.transaction():
        before = await queries.get_department(conn, department_id, lock=True)
        if before is None:
            raise NotFound("department_not_found", "no such department")
        row = held(
            await queries.set_department_hold(conn, department_id, seconds),
            "locked above, in this transaction",
        )
        await announce(
            conn,
            DepartmentUpdated(department_id=department_id, payment_hold_seconds=seconds),
            actor,
            "department.updated",
            "department",
            department_id,
            before={"payment_hold_seconds": before["payment_hold_seconds"]},
            after={"payment_hold_seconds": seconds},
        )
    return department_from_row(row, default_hold_seconds)


async def list_departments(
    pool: Pool, after_id: int, limit: int, default_hold_seconds: int = DEFAULT_PAYMENT_HOLD_SECONDS
) -> list[Department]:
    async with pool.acquire() as conn:
        rows = await queries.list_departments(conn, after_id, limit)
    return [department_from_row(r, default_hold_seconds) for r in rows]


async def list_users(pool: Pool, after_id: int, limit: int, role: str | None) -> list[User]:
    async with pool.acquire() as conn:
        rows = await queries.list_users(conn, after_id, limit, role)
    return [user_from_row(r) for r in rows]


async def _check_department(conn: Conn, roles: list[str], department_id: int | None) -> None:
    """The one rule of who belongs to a department, for new users and changed ones."""
    if department_id is not None and not DEPARTMENT_ROLES.intersection(roles):
        raise Unprocessable(
            "department_not_applicable",
            "only buyers, reviewers and finance users belong to a department",
        )
    if "buyer" in roles and department_id is None:
        raise Unprocessable("department_required", "a buyer must belong to a department")
    if department_id is not None and not await queries.department_exists(conn, department_id):
        raise Unprocessable("unknown_department", "no such department")


async def create_user(pool: Pool, actor: Actor, data: UserCreate) -> User:
    roles: list[str] = sorted(set(data.roles))
    async with pool.acquire() as conn, conn.transaction():
        await _check_department(conn, roles, data.department_id)
        row = await queries.insert_user(
            conn, data.email.strip(), data.name, roles, data.department_id
        )
        await announce(
            conn,
            UserCreated(user_id=row["id"], roles=roles, department_id=data.department_id),
            actor,
            "user.created",
            "user",
            row["id"],
            after=_public_user(row),
        )
    return user_from_row(row)


async def change_roles(pool: Pool, actor: Actor, user_id: int, patch: UserPatch) -> User:
    """An admin changes a user's roles or department (the department rule as at creation).
    An admin cannot take the admin role from themselves: nobody might be left to give it."""
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.lock_user(conn, user_id)
        if row is None:
            raise NotFound("user_not_found", "no such user")
        roles = sorted(set(row["roles"] if patch.roles is msgspec.UNSET else patch.roles))
        department_id = (
            row["department_id"] if patch.department_id is msgspec.UNSET else patch.department_id
        )
        if user_id == actor.user_id and "admin" in row["roles"] and "admin" not in roles:
            raise Conflict("own_admin_role", "you cannot remove the admin role from yourself")
        await _check_department(conn, roles, department_id)
        before = _public_user(row)
        row = held(
            await queries.update_user_roles(conn, user_id, roles, department_id),
            "locked above, in this transaction",
        )
        await announce(
            conn,
            UserRolesChanged(user_id=user_id, roles=roles, department_id=department_id),
            actor,
            "user.roles_changed",
            "user",
            user_id,
            before=before,
            after=_public_user(row),
        )
    return user_from_row(row)


async def list_tokens(pool: Pool, user_id: int) -> list[Token]:
    async with pool.acquire() as conn:
        rows = await queries.list_tokens(conn, user_id)
    return [
        Token(
            id=r["id"],
            created_at=r["created_at"],
            issued_by=r["issued_by"],
            revoked_at=r["revoked_at"],
        )
        for r in rows
    ]


async def signup(pool: Pool, email: str, name: str, request_id: str, public_url: str) -> SignedUp:
    """Self-service vendor account with its first token; its address is confirmed later,
    through the link mailed to it (email_confirmation.py)."""
    token, token_hash = new_token()
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.insert_user(
            conn, email.strip(), name, ["vendor"], None, confirmed=False
        )
        actor = Actor(user_id=row["id"], role="vendor", request_id=request_id)
        token_id = await queries.insert_token(conn, row["id"], token_hash)
        event_id = await outbox.emit(
            conn, UserCreated(user_id=row["id"], roles=["vendor"], self_signup=True)
        )
        await email_confirmation.mail_link(conn, public_url, row, event_id)
        await record(conn, actor, "user.signed_up", "user", row["id"], after=_public_user(row))
        await record(conn, actor, "token.created", "token", token_id)
    return SignedUp(id=row["id"], token=token, token_id=token_id)


async def issue_token(pool: Pool, caller: Caller, user_id: int, request_id: str) -> TokenIssued:
    if caller.id != user_id and not caller.has("admin"):
        raise NotFound("user_not_found", "no such user")
    """A new token of ``user_id``. Issued by someone else (an admin, or a session signed in
    with a token an admin issued) it records who, every audit row made with it carries
    that, and the user is told by mail (DESIGN §8)."""
    token, token_hash = new_token()
    role = "admin" if caller.id != user_id else "self"
    issued_by = caller.token_issued_by or caller.id
    async with pool.acquire() as conn, conn.transaction():
        if await queries.get_user(conn, user_id) is None:
            raise NotFound("user_not_found", "no such user")
        token_id = await queries.insert_token(conn, user_id, token_hash, issued_by)
        after: dict[str, int] = {"user_id": user_id}
        if issued_by != user_id:
            after["issued_by"] = issued_by
            await outbox.emit(
                conn, TokenIssuedForUser(user_id=user_id, token_id=token_id, issued_by=issued_by)
            )
        await record(
            conn, caller.actor(role, request_id), "token.created", "token", token_id, after=after
        )
    return TokenIssued(id=token_id, token=token)


async def revoke_token(pool: Pool, caller: Caller, token_id: int, request_id: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        owner = await queries.get_token_owner(conn, token_id)
        if owner is None or (owner != caller.id and not caller.has("admin")):
            raise NotFound("token_not_found", "no such token")
        if not await queries.revoke_token(conn, token_id):
            raise Conflict("token_revoked", "this token is already revoked")
        role = "admin" if owner != caller.id else "self"
        await record(
            conn,
            caller.actor(role, request_id),
            "token.revoked",
            "token",
            token_id,
            after={"user_id": owner},
        )


async def get_me(pool: Pool, caller: Caller) -> User:
    async with pool.acquire() as conn:
        row = held(await queries.get_user(conn, caller.id), "the caller signed in")
    return user_from_row(row)


async def get_user(pool: Pool, user_id: int) -> User:
    async with pool.acquire() as conn:
        row = await queries.get_user(conn, user_id)
    if row is None:
        raise NotFound("user_not_found", "no such user")
    return user_from_row(row)
