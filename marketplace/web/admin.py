"""Admin pages: the vendor verification queue."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace.accounts import queries as account_queries
from marketplace.accounts import service as accounts
from marketplace.accounts import vendor_verification
from marketplace.accounts.schemas import User, VerificationDecision
from marketplace.auth import Caller, request_id
from marketplace.db import Pool
from marketplace.errors import DomainError
from marketplace.web import confirm
from marketplace.web.common import flash, render, require, see_other
from marketplace.web.vendor import VERIFICATION_KINDS

QUEUE_LIMIT = 200


async def waiting_vendors(pool: Pool) -> list[User]:
    """Vendors who asked to be verified (pending) and those who never asked (unverified)."""
    found: list[User] = []
    after = 0
    async with pool.acquire() as conn:
        while len(found) < QUEUE_LIMIT:
            rows = await account_queries.list_users(conn, after, 200, "vendor")
            if not rows:
                break
            after = rows[-1]["id"]
            found += [
                accounts.user_from_row(r)
                for r in rows
                if r["verification_status"] in ("pending", "unverified")
            ]
    found.sort(key=lambda u: (u.verification_status != "pending", u.id))
    return found[:QUEUE_LIMIT]


async def _queue(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    *,
    status: int = 200,
    errors: dict[int, str] | None = None,
) -> Template:
    vendors = await waiting_vendors(pool)
    questions = {
        v.id: {
            s: confirm.verify_vendor(s, v.name, v.verification_kind)
            for s in ("verified", "rejected")
        }
        for v in vendors
    }
    return render(
        request,
        caller,
        "admin_vendors.html",
        status=status,
        vendors=vendors,
        errors=errors or {},
        kinds=VERIFICATION_KINDS,
        questions=questions,
    )


@get("/admin/vendors", name="web:admin_vendors")
async def vendor_queue(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None
) -> Template:
    return await _queue(request, pool, require(viewer, "admin"))


@post("/admin/vendors/{user_id:int}/verification", name="web:decide_vendor")
async def decide(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, user_id: int
) -> Template | Redirect:
    caller = require(viewer, "admin")
    form = await request.form()
    data = {
        "status": str(form.get("status") or ""),
        "reason": str(form.get("reason") or "").strip(),
    }
    if data["status"] not in ("verified", "rejected"):
        return await _queue(
            request, pool, caller, status=400, errors={user_id: "Choose verify or reject."}
        )
    if not data["reason"] or len(data["reason"]) > 2000:
        return await _queue(
            request,
            pool,
            caller,
            status=400,
            errors={user_id: "Give a reason (at most 2,000 characters); the vendor sees it."},
        )
    if not confirm.confirmed(form):
        vendor = await accounts.get_user(pool, user_id)
        return confirm.ask(
            request,
            caller,
            form,
            action=f"/admin/vendors/{user_id}/verification",
            question=confirm.verify_vendor(data["status"], vendor.name, vendor.verification_kind),
            back=f"/admin/vendors#vendor-{user_id}",
        )
    try:
        decision = msgspec.convert(data, VerificationDecision)
        user = await vendor_verification.decide_verification(
            pool, caller.actor("admin", request_id(request)), user_id, decision
        )
    except DomainError as exc:
        return await _queue(request, pool, caller, status=exc.status, errors={user_id: exc.detail})
    flash(request, f"{user.name} is now {user.verification_status}.")
    return see_other("/admin/vendors")


ROUTES = [vendor_queue, decide]
