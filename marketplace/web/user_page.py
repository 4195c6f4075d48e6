"""Admin page of one user: change their roles and department, issue and revoke their API
tokens (the pages of ``PATCH /api/users/{id}``, ``POST /api/users/{id}/tokens`` and
``DELETE /api/tokens/{id}``). Every form answers with a redirect (post-redirect-get); a new
token rides in the encrypted session to the next page, which shows it once and drops it."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace.accounts import service as accounts
from marketplace.accounts.schemas import UserPatch
from marketplace.auth import Caller, request_id
from marketplace.db import Pool
from marketplace.errors import DomainError, NotFound
from marketplace.web.common import (
    flash,
    form_text,
    plain,
    render,
    require,
    see_other,
    session_of,
)
from marketplace.web.people import (
    ERROR_FIELDS,
    ROLES,
    USER_HINTS,
    USER_REFUSALS,
    all_departments,
    hand_over,
    take_issued,
)

ROLE_REFUSALS = {
    **USER_REFUSALS,
    "own_admin_role": "You cannot remove the admin role from yourself; another admin can.",
}


async def _page(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    user_id: int,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Template:
    user = await accounts.get_user(pool, user_id)
    departments = await all_departments(pool)
    tokens = await accounts.list_tokens(pool, user_id)
    issuers = {t.issued_by for t in tokens if t.issued_by is not None}
    names = {uid: (await accounts.get_user(pool, uid)).name for uid in issuers}
    return render(
        request,
        caller,
        "admin_user.html",
        status=status,
        user=user,
        roles=ROLES,
        departments=departments,
        department_names={d.id: d.name for d in departments},
        tokens=tokens,
        issuer_names=names,
        issued=take_issued(request, user_id),
        this_browser=session_of(request).get("token_id"),
        errors=errors or {},
        values=values or {"roles": user.roles, "department": str(user.department_id or "")},
    )


@get("/admin/users/{user_id:int}", name="web:admin_user")
async def user_page(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, user_id: int
) -> Template:
    return await _page(request, pool, require(viewer, "admin"), user_id)


@post("/admin/users/{user_id:int}", name="web:admin_change_user")
async def change_user(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, user_id: int
) -> Template | Redirect:
    caller = require(viewer, "admin")
    form = await request.form()
    values: dict[str, Any] = {
        "roles": [r for r in form.getall("roles", []) if r in ROLES],
        "department": form_text(form, "department", 20),
    }
    errors: dict[str, str] = {}
    if not values["roles"]:
        errors["roles"] = USER_HINTS["roles"]
    if values["department"] and not values["department"].isdigit():
        errors["department"] = USER_HINTS["department"]
    if not errors:
        department = int(values["department"]) if values["department"] else None
        try:
            patch = msgspec.convert(
                {"roles": values["roles"], "department_id": department}, UserPatch
            )
            user = await accounts.change_roles(
                pool, caller.actor("admin", request_id(request)), user_id, patch
            )
        except msgspec.ValidationError:
            errors["department"] = USER_HINTS["department"]
        except DomainError as exc:
            if exc.code == "user_not_found":
                raise
            field = "roles" if exc.code == "own_admin_role" else ERROR_FIELDS.get(exc.code, "form")
            errors[field] = plain(exc, ROLE_REFUSALS)
            return await _page(
                request, pool, caller, user_id, status=exc.status, errors=errors, values=values
            )
        else:
            flash(request, f"{user.name} now has the roles {', '.join(user.roles)}.")
            return see_other(f"/admin/users/{user_id}")
    return await _page(request, pool, caller, user_id, status=400, errors=errors, values=values)


@post("/admin/users/{user_id:int}/tokens", name="web:admin_issue_token")
async def issue_token(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, user_id: int
) -> Redirect:
    caller = require(viewer, "admin")
    user = await accounts.get_user(pool, user_id)
    issued = await accounts.issue_token(pool, caller, user_id, request_id(request))
    hand_over(request, user, issued)
    return see_other(f"/admin/users/{user_id}#new-token")


@post("/admin/users/{user_id:int}/tokens/{token_id:int}/revoke", name="web:admin_revoke_token")
async def revoke_token(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, user_id: int, token_id: int
) -> Redirect:
    caller = require(viewer, "admin")
    tokens = {t.id for t in await accounts.list_tokens(pool, user_id)}
    try:
        if token_id not in tokens:
            raise NotFound("token_not_found", "no such token of this user")
        await accounts.revoke_token(pool, caller, token_id, request_id(request))
    except DomainError as exc:
        words = {
            "token_revoked": f"Token {token_id} was already revoked.",
            "token_not_found": f"This user has no token {token_id}.",
        }
        flash(request, plain(exc, words), "error")
    else:
        flash(request, f"Token {token_id} is revoked: it no longer signs anyone in.")
    return see_other(f"/admin/users/{user_id}")


ROUTES = [user_page, change_user, issue_token, revoke_token]
