"""What happens on the auction page after the award: the buyer re-awards to the runner-up or
re-runs the task as a new draft; an admin extends the delivery deadline."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.response import Redirect, Template

from marketplace import policy
from marketplace.auctions import service as auctions
from marketplace.auth import Caller, request_id
from marketplace.awards import next_round
from marketplace.awards import service as awards
from marketplace.db import Pool
from marketplace.errors import DomainError
from marketplace.settings import Settings
from marketplace.web import confirm, zoned
from marketplace.web.common import flash, form_text, money, plain, require, see_other
from marketplace.web.public import auction_page
from marketplace.web.task_form import zone_of

REFUSALS = {
    "not_reawardable": "Re-award is possible only after the work was rejected or the delivery "
    "was missed.",
    "no_runner_up": "No runner-up remains to award. You can re-run the task as a new draft.",
    "no_active_award": "This auction has no award to replace.",
    "not_rerunnable": "Only a task that ended without accepted work can be re-run.",
    "runner_up_available": "A runner-up remains: re-award the work to them before re-running "
    "the task.",
    "not_your_department": "Only buyers of this task's department may do this.",
    "no_delivery_pending": "This auction has no delivery deadline to extend.",
    "deadline_not_later": "The new deadline must be later than the current one.",
    "deadline_in_past": "The new deadline must be in the future.",
}


async def _refused(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    auction_id: int,
    exc: DomainError,
    **extra: Any,
) -> Template:
    if exc.code == "auction_not_found":
        raise exc
    return await auction_page(
        request,
        pool,
        caller,
        auction_id,
        status=exc.status,
        action_error=plain(exc, REFUSALS),
        **extra,
    )


@post("/buyer/tasks/{auction_id:int}/reaward", name="web:reaward")
async def reaward(
    request: Request[Any, Any, Any],
    pool: Pool,
    settings: Settings,
    viewer: Caller | None,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    form = await request.form()
    if not confirm.confirmed(form):
        auction = await auctions.get(pool, caller, auction_id)
        question = None
        if policy.buys_for(caller, auction.department_id):
            question = await confirm.reaward_question(pool, caller, auction)
        if question is not None:
            return confirm.ask(
                request,
                caller,
                form,
                action=f"/buyer/tasks/{auction_id}/reaward",
                question=question,
                back=f"/auctions/{auction_id}",
            )
    try:
        award = await next_round.reaward(pool, settings, caller, auction_id, request_id(request))
    except DomainError as exc:
        return await _refused(request, pool, caller, auction_id, exc)
    flash(
        request,
        f"Re-awarded to the next runner-up for {money(award.amount_cents)} (round {award.round}).",
    )
    return see_other(f"/auctions/{auction_id}")


@post("/buyer/tasks/{auction_id:int}/rerun", name="web:rerun")
async def rerun(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, auction_id: int
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    try:
        copy = await next_round.rerun(pool, caller, auction_id, request_id(request))
    except DomainError as exc:
        return await _refused(request, pool, caller, auction_id, exc)
    flash(request, "A new draft copied from the task is ready: check its dates, then publish it.")
    return see_other(f"/buyer/tasks/{copy.auction_id}/edit")


@post("/admin/auctions/{auction_id:int}/delivery-deadline", name="web:extend_deadline")
async def extend_deadline(
    request: Request[Any, Any, Any],
    pool: Pool,
    settings: Settings,
    viewer: Caller | None,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer, "admin")
    form = await request.form()
    values = {"due_at": form_text(form, "due_at", 40), "reason": form_text(form, "reason", 2000)}
    zone = zone_of(form, settings)
    problem = None
    if zone is None:
        problem = zoned.unknown_zone_message(form_text(form, "tz", 64), settings.zone)
        values = {**values, "due_at": "", "tz": settings.zone.key, "zone_fixed": "1"}
        zone = settings.zone
    else:
        values["tz"] = zone.key
    values.update({f"{k}_instant": v for k, v in zoned.instants(values, ["due_at"], zone).items()})
    due_at = zoned.from_input(values["due_at"], zone)
    if problem is None and due_at is None:
        problem = "Choose the new delivery deadline."
    if problem is None and (not values["reason"] or len(values["reason"]) > 2000):
        problem = "Give a reason (at most 2,000 characters); the buyer and the vendor see it."
    if problem is not None or due_at is None:
        return await auction_page(
            request,
            pool,
            caller,
            auction_id,
            status=400,
            action_error=problem,
            deadline_values=values,
        )
    try:
        award = await awards.extend_deadline(
            pool, caller, auction_id, due_at, values["reason"], request_id(request)
        )
    except DomainError as exc:
        return await _refused(request, pool, caller, auction_id, exc, deadline_values=values)
    due = award.delivery_due_at.astimezone(zone) if award.delivery_due_at else due_at
    flash(request, f"The delivery deadline is now {due.strftime('%b %-d, %Y, %H:%M %Z')}.")
    return see_other(f"/auctions/{auction_id}")


ROUTES = [reaward, rerun, extend_deadline]
