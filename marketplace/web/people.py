"""Admin pages: users and their roles, and departments (the pages of ``POST /api/users``,
``POST /api/users/{id}/tokens`` and ``POST /api/departments``)."""

from __future__ import annotations

import typing
from typing import Any

import asyncpg
import msgspec
from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace.accounts import service as accounts
from marketplace.accounts.schemas import Department, Role, TokenIssued, User, UserCreate
from marketplace.auth import Caller, request_id
from marketplace.db import Pool
from marketplace.errors import DomainError, from_constraint
from marketplace.structs import decode_cursor, encode_cursor
from marketplace.web.common import (
    field_of,
    flash,
    form_text,
    plain,
    render,
    require,
    see_other,
    session_of,
    web_settings,
)

PAGE_SIZE = 50
ROLES = {
    "buyer": "Buyer: posts and manages the department's tasks",
    "vendor": "Vendor: bids and delivers",
    "reviewer": "Reviewer: accepts or rejects delivered work",
    "finance": "Finance: follows payment orders and resolves disputes",
    "auditor": "Auditor: reads every record and exports the audit log",
    "admin": "Admin: verifies vendors, manages users, departments and deadlines",
}
assert set(ROLES) == set(typing.get_args(Role))
USER_REFUSALS = {
    "email_taken": "An account with this email already exists.",
    "department_required": "A buyer must belong to a department: choose one.",
    "department_not_applicable": "Only buyers, reviewers and finance users belong to a "
    "department: leave it empty for these roles.",
    "unknown_department": "That department does not exist any more.",
}
USER_FIELDS = {"email": "email", "name": "name", "roles": "roles", "department_id": "department"}
USER_HINTS = {
    "email": "Enter an email address, for example dana@permits.example.gov.",
    "name": "Enter a name (at most 200 characters).",
    "roles": "Choose at least one role.",
    "department": "Choose a department.",
}
ERROR_FIELDS = {
    "department_required": "department",
    "department_not_applicable": "department",
    "unknown_department": "department",
    "email_taken": "email",
}


ISSUED_KEY = "issued_token"


def hand_over(request: Request[Any, Any, Any], user: User, issued: TokenIssued) -> None:
    """Keep a new token for the next page of this user (and only that page, once)."""
    session_of(request)[ISSUED_KEY] = {"user_id": user.id, "id": issued.id, "token": issued.token}


def take_issued(request: Request[Any, Any, Any], user_id: int) -> TokenIssued | None:
    held = session_of(request).pop(ISSUED_KEY, None)
    if not isinstance(held, dict) or held.get("user_id") != user_id:
        return None
    return TokenIssued(id=int(held["id"]), token=str(held["token"]))


def _named(exc: asyncpg.IntegrityConstraintViolationError) -> DomainError:
    """A violated named constraint as the domain error it stands for (else not ours: raise)."""
    error = from_constraint(getattr(exc, "constraint_name", None))
    if error is None:
        raise exc
    return error


async def all_departments(pool: Pool, default_hold_seconds: int | None = None) -> list[Department]:
    found: list[Department] = []
    hold = {} if default_hold_seconds is None else {"default_hold_seconds": default_hold_seconds}
    while True:
        page = await accounts.list_departments(pool, found[-1].id if found else 0, 200, **hold)
        found += page
        if len(page) < 200:
            return found


async def _users_page(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    *,
    role: str | None = None,
    cursor: str | None = None,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Template:
    after = decode_cursor(cursor, list[int])
    items = await accounts.list_users(pool, after[0] if after else 0, PAGE_SIZE + 1, role)
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    departments = await all_departments(pool)
    return render(
        request,
        caller,
        "admin_users.html",
        status=status,
        users=items,
        roles=ROLES,
        role=role,
        departments=departments,
        department_names={d.id: d.name for d in departments},
        errors=errors or {},
        values=values or {"roles": []},
        next_cursor=encode_cursor(items[-1].id) if more else None,
        first_page=after is None,
    )


@get("/admin/users", name="web:admin_users")
async def users(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    role: str | None = None,
    cursor: str | None = None,
) -> Template:
    caller = require(viewer, "admin")
    return await _users_page(
        request, pool, caller, role=role if role in ROLES else None, cursor=cursor
    )


@post("/admin/users", name="web:admin_create_user")
async def create_user(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None
) -> Template | Redirect:
    caller = require(viewer, "admin")
    form = await request.form()
    values: dict[str, Any] = {
        "email": form_text(form, "email", 320),
        "name": form_text(form, "name", 200),
        "roles": [r for r in form.getall("roles", []) if r in ROLES],
        "department": form_text(form, "department", 20),
    }
    errors = {k: USER_HINTS[k] for k in ("email", "name", "roles") if not values[k]}
    status = 400
    department_id = None
    if values["department"]:
        if values["department"].isdigit():
            department_id = int(values["department"])
        else:
            errors["department"] = USER_HINTS["department"]
    if not errors:
        body = {
            "email": values["email"],
            "name": values["name"],
            "roles": values["roles"],
            "department_id": department_id,
        }
        rid = request_id(request)
        try:
            data = msgspec.convert(body, UserCreate)
            user = await accounts.create_user(pool, caller.actor("admin", rid), data)
            token = await accounts.issue_token(pool, caller, user.id, rid)
        except msgspec.ValidationError as exc:
            field = USER_FIELDS.get(field_of(exc) or "", "email")
            errors[field] = USER_HINTS[field]
        except (DomainError, asyncpg.IntegrityConstraintViolationError) as raised:
            error = raised if isinstance(raised, DomainError) else _named(raised)
            errors[ERROR_FIELDS.get(error.code, "form")] = plain(error, USER_REFUSALS)
            status = error.status
        else:
            # Post-redirect-get: a reload shows the user's page, not the form sent again.
            hand_over(request, user, token)
            flash(request, f"{user.name} can now sign in.")
            return see_other(f"/admin/users/{user.id}#new-token")
    return await _users_page(request, pool, caller, status=status, errors=errors, values=values)


async def _departments_page(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    *,
    status: int = 200,
    error: str | None = None,
    value: str = "",
) -> Template:
    return render(
        request,
        caller,
        "admin_departments.html",
        status=status,
        departments=await all_departments(pool, web_settings(request).payment_hold_seconds),
        error=error,
        value=value,
    )


@get("/admin/departments", name="web:admin_departments")
async def departments(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None
) -> Template:
    return await _departments_page(request, pool, require(viewer, "admin"))


@post("/admin/departments", name="web:admin_create_department")
async def create_department(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None
) -> Template | Redirect:
    caller = require(viewer, "admin")
    name = form_text(await request.form(), "name", 200)
    if not name or len(name) > 200:
        return await _departments_page(
            request,
            pool,
            caller,
            status=400,
            error="Enter the department's name (at most 200 characters).",
            value=name[:200],
        )
    try:
        done = await accounts.create_department(
            pool, caller.actor("admin", request_id(request)), name
        )
    except (DomainError, asyncpg.IntegrityConstraintViolationError) as raised:
        error = raised if isinstance(raised, DomainError) else _named(raised)
        words = {"department_exists": "A department with this name already exists."}
        return await _departments_page(
            request, pool, caller, status=error.status, error=plain(error, words), value=name
        )
    flash(request, f"Department “{done.name}” created (number {done.id}).")
    return see_other("/admin/departments")


ROUTES = [users, create_user, departments, create_department]
