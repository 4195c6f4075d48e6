"""Reviewer pages: the queue of verified deliveries with their evidence, accept or reject."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace.auctions import service as auctions
from marketplace.auth import Caller, request_id
from marketplace.db import Pool
from marketplace.errors import Conflict, DomainError
from marketplace.reviews import service as reviews
from marketplace.settings import Settings
from marketplace.web import confirm
from marketplace.web.common import (
    flash,
    form_text,
    local_time,
    plain,
    render,
    require,
    see_other,
    web_settings,
)
from marketplace.web.delivery import RULES

QUEUE_LIMIT = 100
REASON_MAX = 4000
REFUSALS = {
    "not_awaiting_review": "This delivery is no longer awaiting review: "
    "someone may have decided it already, or the auction changed.",
    "already_reviewed": "This delivery has already been reviewed.",
    "auction_not_found": "This auction is not in your review scope.",
}


def conflict_words(exc: DomainError) -> str:
    """Conflicts of interest say who may not review, in plain words."""
    return {
        "you cannot review your own delivery": "You delivered this work, so you cannot review it.",
        "the auction's buyers cannot review it": "You are a buyer in this auction's department, "
        "so you cannot review its delivery.",
        "you bid on this auction": "You bid on this auction, so you cannot review its delivery.",
    }.get(exc.detail, plain(exc))


async def _queue(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    *,
    status: int = 200,
    errors: dict[int, str] | None = None,
    values: dict[int, str] | None = None,
) -> Template:
    items = await reviews.review_queue(pool, caller, QUEUE_LIMIT)
    hold = web_settings(request).payment_hold_seconds
    questions = {
        i.auction_id: {
            "accept": confirm.accept(i.amount_cents, i.winner_name, hold),
            "reject": confirm.reject(i.title, i.winner_name),
        }
        for i in items
    }
    return render(
        request,
        caller,
        "reviews.html",
        status=status,
        items=items,
        errors=errors or {},
        values=values or {},
        rules=RULES,
        questions=questions,
    )


async def _refused(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    auction_id: int,
    exc: DomainError,
    values: dict[int, str],
) -> Template:
    words = conflict_words(exc) if exc.code == "conflict_of_interest" else plain(exc, REFUSALS)
    return await _queue(
        request, pool, caller, status=exc.status, errors={auction_id: words}, values=values
    )


@get("/reviews", name="web:reviews")
async def review_queue(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None
) -> Template:
    return await _queue(request, pool, require(viewer, "reviewer"))


@post("/reviews/{auction_id:int}", name="web:review")
async def decide(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    viewer: Caller | None,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer, "reviewer")
    form = await request.form()
    decision = form_text(form, "decision", 10)
    reason = form_text(form, "reason", REASON_MAX)
    values = {auction_id: reason}
    problem = None
    if decision not in ("accept", "reject"):
        problem = "Choose accept or reject."
    elif not reason or len(reason) > REASON_MAX:
        problem = "Give a reason (at most 4,000 characters); the buyer and the vendor see it."
    if problem is not None:
        return await _queue(
            request, pool, caller, status=400, errors={auction_id: problem}, values=values
        )
    if not confirm.confirmed(form):
        try:
            await reviews.check_reviewable(pool, caller, auction_id)
            auction = await auctions.get(pool, caller, auction_id)
        except DomainError as exc:
            return await _refused(request, pool, caller, auction_id, exc, values)
        award = auction.award
        if award is None:  # reviewable means awarded; kept apart so mypy knows it
            raise Conflict("not_awaiting_review", "this delivery is not awaiting review")
        question = (
            confirm.accept(award.amount_cents, award.winner_name, settings.payment_hold_seconds)
            if decision == "accept"
            else confirm.reject(auction.title, award.winner_name)
        )
        return confirm.ask(
            request,
            caller,
            form,
            action=f"/reviews/{auction_id}",
            question=question,
            back=f"/reviews#review-{auction_id}",
        )
    try:
        review = await reviews.decide(
            pool, redis, settings, caller, auction_id, decision, reason, request_id(request)
        )
    except DomainError as exc:
        return await _refused(request, pool, caller, auction_id, exc, values)
    if review.decision == "accept":
        flash(
            request,
            f"Accepted auction {auction_id}. Payment order {review.payment_id} is created "
            f"and will be released to finance {local_time(review.release_after, settings.zone)} "
            "unless disputed before then.",
        )
    else:
        flash(request, f"Rejected auction {auction_id}. The buyer can re-award the work.")
    return see_other("/reviews")


def evidence_items(evidence: Any) -> list[tuple[str, str]]:
    """A check's evidence as (name, value) pairs to list."""
    if isinstance(evidence, dict):
        return [(str(k), _text(v)) for k, v in evidence.items()]
    if evidence in (None, "", [], {}):
        return []
    return [("evidence", _text(evidence))]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "none"
    if value is None:
        return "none"
    return str(value)


ROUTES = [review_queue, decide]
