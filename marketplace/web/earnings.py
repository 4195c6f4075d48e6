"""Vendor pages after winning: my awards (decline one not yet delivered) and my payments
(confirm one released to you)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace.auctions import service as auctions
from marketplace.auth import Caller, request_id
from marketplace.awards import service as awards
from marketplace.db import Pool
from marketplace.errors import DomainError
from marketplace.structs import decode_cursor, encode_cursor
from marketplace.web import confirm
from marketplace.web.common import flash, form_text, plain, render, require, see_other
from marketplace.web.finance import payment_list

PAGE_SIZE = 50
DECLINE_REFUSALS = {
    "not_the_winner": "Only the current winner can decline this award.",
    "not_declinable": "This award can no longer be declined: the work has been delivered "
    "or the auction has moved on.",
}


async def _awards_page(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    cursor: str | None = None,
    *,
    status: int = 200,
    errors: dict[int, str] | None = None,
) -> Template:
    before = decode_cursor(cursor, list[int])
    items = await awards.my_awards(pool, caller, before[0] if before else None, PAGE_SIZE + 1)
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    return render(
        request,
        caller,
        "my_awards.html",
        status=status,
        awards=items,
        errors=errors or {},
        questions={a.auction_id: confirm.decline(a.auction_title, a.amount_cents) for a in items},
        next_cursor=encode_cursor(items[-1].id) if more else None,
    )


@get("/me/awards", name="web:my_awards")
async def my_awards(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, cursor: str | None = None
) -> Template:
    return await _awards_page(request, pool, require(viewer, "vendor"), cursor)


@post("/me/awards/{auction_id:int}/decline", name="web:decline_award")
async def decline(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, auction_id: int
) -> Template | Redirect:
    caller = require(viewer, "vendor")
    form = await request.form()
    reason = form_text(form, "reason", 2000)
    if not reason or len(reason) > 2000:
        return await _awards_page(
            request,
            pool,
            caller,
            status=400,
            errors={auction_id: "Give a reason (at most 2,000 characters); the buyer sees it."},
        )
    if not confirm.confirmed(form):
        auction = await auctions.get(pool, caller, auction_id)
        if auction.award is not None and auction.award.winner_id == caller.id:
            return confirm.ask(
                request,
                caller,
                form,
                action=f"/me/awards/{auction_id}/decline",
                question=confirm.decline(auction.title, auction.award.amount_cents),
                back="/me/awards",
            )
        # Not theirs to decline: the service below refuses, and nothing is declined.
    try:
        await awards.decline(pool, caller, auction_id, reason, request_id(request))
    except DomainError as exc:
        return await _awards_page(
            request,
            pool,
            caller,
            status=exc.status,
            errors={auction_id: plain(exc, DECLINE_REFUSALS)},
        )
    flash(request, "You declined the award. The buyer can now award the work to the runner-up.")
    return see_other("/me/awards")


@get("/me/payments", name="web:my_payments")
async def my_payments(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, cursor: str | None = None
) -> Template:
    caller = require(viewer, "vendor")
    items, next_cursor = await payment_list(pool, caller, None, cursor)
    return render(
        request,
        caller,
        "my_payments.html",
        payments=[p for p in items if p.payee_id == caller.id],
        receipt_questions={
            p.id: confirm.confirm_receipt(p.amount_cents, p.auction_title) for p in items
        },
        selected=None,
        confirm_here=True,
        next_cursor=next_cursor,
    )


ROUTES = [my_awards, decline, my_payments]
