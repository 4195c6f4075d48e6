"""Buyer pages: the department's dashboard, and drafting, publishing and cancelling tasks.

Forms are read into the API's own Structs (``msgspec.convert``), so the pages accept
exactly what the API accepts; every refusal is shown beside the field it concerns.
"""

from __future__ import annotations

from typing import Any

import msgspec
from arq.connections import ArqRedis
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.response import Redirect, Template

from marketplace import policy
from marketplace.auctions import service as auctions
from marketplace.auctions.schemas import Auction, AuctionCreate, AuctionPatch
from marketplace.auth import Caller, request_id
from marketplace.awards import service as awards
from marketplace.clarifications import service as clarifications
from marketplace.db import Pool
from marketplace.errors import DomainError, Forbidden
from marketplace.payments import service as payments
from marketplace.settings import Settings
from marketplace.web import confirm, zoned
from marketplace.web.common import (
    flash,
    render,
    require,
    see_other,
)
from marketplace.web.task_form import (
    TIME_FIELDS,
    domain_errors,
    form_values,
    save_task_form,
    zone_of,
)

ATTENTION = (
    ("draft", "Drafts to finish and publish"),
    ("open", "Open for bidding"),
    ("scheduled", "Scheduled to open"),
    ("overdue", "Delivery overdue: the deadline passed without a verified pull request"),
    ("pending_review", "Delivered and awaiting review"),
    ("rejected", "Rejected work: re-award to the runner-up"),
    ("missed_delivery", "Missed delivery: re-award to the runner-up"),
    ("accepted", "Accepted, awaiting payment"),
    ("paid", "Paid, awaiting the vendor's confirmation"),
    ("awarded", "Awarded, waiting for delivery"),
    ("delivered", "Delivered, being verified"),
)
OVERDUE_FROM = ("awarded", "delivered")


async def _form_page(
    request: Request[Any, Any, Any],
    caller: Caller,
    settings: Settings,
    *,
    auction: Auction | None = None,
    form: FormMultiDict | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    zone = zone_of(form, settings) if form is not None else settings.zone
    values = form_values(form, auction, zone or settings.zone)
    if zone is None:
        # Nothing was saved: the times are asked for again in the deployment's zone, which
        # the form then keeps (data-zone-fixed), instead of being misread.
        sent = str(form.get("tz") or "") if form is not None else ""
        errors = {**(errors or {}), "form": zoned.unknown_zone_message(sent, settings.zone)}
        values = {**values, **dict.fromkeys(TIME_FIELDS, "")}
    return render(
        request,
        caller,
        "task_form.html",
        status=status,
        auction=auction,
        values=values,
        instants=zoned.instants(values, TIME_FIELDS, zone or settings.zone),
        errors=errors or {},
        form_zone=(zone or settings.zone).key,
        zone_fixed=zone is None,
        threshold=settings.threshold_cents,
    )


async def _draft(pool: Pool, caller: Caller, auction_id: int) -> Auction:
    auction = await auctions.get(pool, caller, auction_id)
    if not policy.buys_for(caller, auction.department_id):
        raise Forbidden("not_your_department", "Only buyers of this task's department may do this.")
    return auction


@get("/buyer", name="web:buyer")
async def dashboard(request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None) -> Template:
    caller = require(viewer, "buyer")
    found: dict[str, tuple[list[Auction], bool]] = {}
    for status, _ in ATTENTION:
        if status == "overdue":
            continue
        page, next_key = await auctions.list_page(
            pool,
            caller,
            status=status,
            department_id=caller.department_id,
            skill=None,
            q=None,
            sort="ending_soon",
            after=None,
            limit=50,
        )
        found[status] = (page, next_key is not None)
    # Awarded or delivered past the award's deadline: listed apart, at the top.
    waiting = [a for s in OVERDUE_FROM for a in found[s][0]]
    overdue = await awards.overdue_among(pool, [a.id for a in waiting])
    found["overdue"] = ([a for a in waiting if a.id in overdue], False)
    for status in OVERDUE_FROM:
        listed, more = found[status]
        found[status] = ([a for a in listed if a.id not in overdue], more)
    sections = [(status, title, *found[status]) for status, title in ATTENTION]
    # Unanswered questions come first: bidders wait on them, and questions close early.
    unanswered = await clarifications.unanswered(pool, caller)
    # Each accepted auction's payment order, where the buyer follows it or disputes it.
    orders = {p.auction_id: p for p in await payments.list_for(pool, caller, None, None, 100)}
    return render(
        request,
        caller,
        "buyer_dashboard.html",
        sections=sections,
        due_dates=overdue,
        unanswered=unanswered,
        orders=orders,
    )


@get("/buyer/tasks/new", name="web:new_task")
async def new_task(
    request: Request[Any, Any, Any], viewer: Caller | None, settings: Settings
) -> Template:
    return await _form_page(request, require(viewer, "buyer"), settings)


@post("/buyer/tasks/new", name="web:create_task")
async def create_task(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, settings: Settings
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    form = await request.form()
    created, errors = await save_task_form(
        form,
        settings,
        lambda data: auctions.create(
            pool, settings, caller, msgspec.convert(data, AuctionCreate), request_id(request)
        ),
    )
    if created is not None:
        flash(request, "Draft saved. Check it, then publish it.")
        return see_other(f"/auctions/{created.id}")
    return await _form_page(request, caller, settings, form=form, errors=errors, status=422)


@get("/buyer/tasks/{auction_id:int}/edit", name="web:edit_task")
async def edit_task(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    settings: Settings,
    auction_id: int,
) -> Template:
    caller = require(viewer, "buyer")
    auction = await _draft(pool, caller, auction_id)
    return await _form_page(request, caller, settings, auction=auction)


@post("/buyer/tasks/{auction_id:int}/edit", name="web:update_task")
async def update_task(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    settings: Settings,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    auction = await _draft(pool, caller, auction_id)
    form = await request.form()
    updated, errors = await save_task_form(
        form,
        settings,
        lambda data: auctions.update(
            pool,
            settings,
            caller,
            auction_id,
            msgspec.convert(data, AuctionPatch),
            request_id(request),
        ),
    )
    if updated is not None:
        flash(request, "Draft updated.")
        return see_other(f"/auctions/{auction_id}")
    return await _form_page(
        request, caller, settings, auction=auction, form=form, errors=errors, status=422
    )


@post("/buyer/tasks/{auction_id:int}/publish", name="web:publish_task")
async def publish_task(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    viewer: Caller | None,
    settings: Settings,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    form = await request.form()
    try:
        if not confirm.confirmed(form):
            draft = await auctions.check_publishable(pool, settings, caller, auction_id)
            return confirm.ask(
                request,
                caller,
                form,
                action=f"/buyer/tasks/{auction_id}/publish",
                question=confirm.publish(draft, settings.zone),
                back=f"/auctions/{auction_id}",
            )
        published = await auctions.publish(
            pool, redis, settings, caller, auction_id, request_id(request)
        )
    except DomainError as exc:
        if exc.status in (403, 404) or "field" not in exc.extra:
            raise
        # Show what stops publication beside its field in the draft's form.
        auction = await _draft(pool, caller, auction_id)
        return await _form_page(
            request, caller, settings, auction=auction, errors=domain_errors(exc), status=422
        )
    state = "open for bidding" if published.status == "open" else "scheduled"
    flash(request, f"Published: the auction is {state}.")
    return see_other(f"/auctions/{auction_id}")


@post("/buyer/tasks/{auction_id:int}/cancel", name="web:cancel_task")
async def cancel_task(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, auction_id: int
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    form = await request.form()
    reason = str(form.get("reason") or "").strip()
    if not reason or len(reason) > 2000:
        flash(request, "Reason for cancelling: give one of at most 2,000 characters.", "error")
        return see_other(f"/auctions/{auction_id}")
    if not confirm.confirmed(form):
        return confirm.ask(
            request,
            caller,
            form,
            action=f"/buyer/tasks/{auction_id}/cancel",
            question=confirm.cancel(await _draft(pool, caller, auction_id)),
            back=f"/auctions/{auction_id}",
        )
    await auctions.cancel(pool, caller, auction_id, reason, request_id(request))
    flash(request, "The auction is cancelled; any bids were voided and bidders told.")
    return see_other(f"/auctions/{auction_id}")


ROUTES = [
    dashboard,
    new_task,
    create_task,
    edit_task,
    update_task,
    publish_task,
    cancel_task,
]
