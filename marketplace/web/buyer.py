"""Buyer pages: the department's dashboard, and drafting, publishing and cancelling tasks.

Forms are read into the API's own Structs (``msgspec.convert``), so the pages accept
exactly what the API accepts; every refusal is shown beside the field it concerns.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.response import Redirect, Template

from marketplace.auctions import service as auctions
from marketplace.auctions.schemas import Auction, AuctionCreate, AuctionPatch
from marketplace.auth import Caller, request_id
from marketplace.awards import service as awards
from marketplace.errors import DomainError, Forbidden
from marketplace.payments import service as payments
from marketplace.settings import Settings
from marketplace.web.common import (
    cents_to_dollars_input,
    dollars_to_cents,
    field_of,
    flash,
    input_time,
    money,
    render,
    require,
    see_other,
)

# Struct field -> form field, where they differ (the form takes dollars, not cents).
FORM_FIELD = {"price_cap_cents": "price_cap", "min_decrement_cents": "min_decrement"}
HINTS = {
    "title": "Enter a title of at most 200 characters.",
    "summary": "The summary can be at most 1,000 characters.",
    "description": "The description can be at most 20,000 characters.",
    "repo": "Give the GitHub repository as owner/name, for example city-of-x/permits.",
    "issue_number": "Enter the issue number, for example 12.",
    "target_branch": "Enter a branch name without spaces, or leave it blank for the default.",
    "type": "Choose reverse or sealed.",
    "price_cap": "Enter a price cap in dollars, for example 3,500.00.",
    "min_decrement": "Enter the minimum step in dollars, for example 1.00.",
    "starts_at": "Choose when bidding opens.",
    "ends_at": "Choose when bidding closes.",
    "delivery_due_at": "Choose a delivery date after bidding closes.",
    "delivery_business_days": "Enter a number of business days between 1 and 365.",
    "soft_close_seconds": "Enter a number of seconds between 0 and 86,400.",
    "max_extensions": "Enter a number between 0 and 1,000.",
    "skills": "List at most 20 skills, separated by commas (letters, digits, + # . _ -).",
}
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


def zone_of(form: FormMultiDict, settings: Settings) -> zoneinfo.ZoneInfo:
    """The browser's zone (sent by the page's script), else the deployment's."""
    name = str(form.get("tz") or "")
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    return settings.zone


def read_task_form(
    form: FormMultiDict, zone: zoneinfo.ZoneInfo
) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the API's fields, and the fields that could not be read at all."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}

    def text(name: str) -> str:
        return str(form.get(name) or "").strip()

    for name in ("title", "summary", "description", "repo"):
        data[name] = text(name)
    data["target_branch"] = text("target_branch") or None
    data["type"] = text("type") or "reverse"
    data["skills"] = [s.strip() for s in text("skills").split(",") if s.strip()]
    for name, field in (("price_cap", "price_cap_cents"), ("min_decrement", "min_decrement_cents")):
        cents = dollars_to_cents(text(name))
        if cents is None or cents <= 0:
            errors[name] = HINTS[name]
        data[field] = cents
    for name in ("issue_number", "soft_close_seconds", "max_extensions"):
        raw = text(name)
        if not raw and name == "issue_number":
            data[name] = None
        elif raw.isdigit() and len(raw) <= 10:
            data[name] = int(raw)
        else:
            errors[name] = HINTS[name]
    times = ["starts_at", "ends_at"]
    delivery = text("delivery") or "days"
    if delivery == "date":
        times.append("delivery_due_at")
        data["delivery_business_days"] = None
    else:
        data["delivery_due_at"] = None
        raw = text("delivery_business_days")
        if raw.isdigit() and len(raw) <= 4:
            data["delivery_business_days"] = int(raw)
        else:
            errors["delivery_business_days"] = HINTS["delivery_business_days"]
    for name in times:
        try:
            data[name] = dt.datetime.fromisoformat(text(name)).replace(tzinfo=zone)
        except ValueError:
            errors[name] = HINTS[name]
    return data, errors


def form_values(form: FormMultiDict | None, auction: Auction | None, zone: Any) -> dict[str, str]:
    """What the form's inputs show: what was sent, else the draft, else sensible defaults."""
    if form is not None:
        return {k: str(v) for k, v in form.items()}
    if auction is None:
        start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=10)
        return {
            "type": "reverse",
            "min_decrement": "1.00",
            "starts_at": input_time(start, zone),
            "ends_at": input_time(start + dt.timedelta(days=7), zone),
            "delivery": "days",
            "delivery_business_days": "10",
            "soft_close_seconds": "120",
            "max_extensions": "10",
        }
    return {
        "title": auction.title,
        "summary": auction.summary,
        "description": auction.description,
        "repo": auction.repo,
        "issue_number": str(auction.issue_number or ""),
        "target_branch": auction.target_branch or "",
        "type": auction.type,
        "price_cap": cents_to_dollars_input(auction.price_cap_cents),
        "min_decrement": cents_to_dollars_input(auction.min_decrement_cents),
        "starts_at": input_time(auction.starts_at, zone),
        "ends_at": input_time(auction.ends_at, zone),
        "delivery": "date" if auction.delivery_due_at else "days",
        "delivery_due_at": input_time(auction.delivery_due_at, zone),
        "delivery_business_days": str(auction.delivery_business_days or ""),
        "soft_close_seconds": str(auction.soft_close_seconds),
        "max_extensions": str(auction.max_extensions),
        "skills": ", ".join(auction.skills),
    }


def domain_message(exc: DomainError) -> str:
    if exc.code == "cap_above_threshold" and "threshold_cents" in exc.extra:
        return (
            f"The price cap must be at most {money(exc.extra['threshold_cents'])}, "
            "the micro-purchase threshold."
        )
    return exc.detail[:1].upper() + exc.detail[1:] + ("" if exc.detail.endswith(".") else ".")


def domain_errors(exc: DomainError) -> dict[str, str]:
    field = exc.extra.get("field")
    key = FORM_FIELD.get(field, field) if isinstance(field, str) else "form"
    return {key or "form": domain_message(exc)}


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
    return render(
        request,
        caller,
        "task_form.html",
        status=status,
        auction=auction,
        values=form_values(form, auction, zone),
        errors=errors or {},
        form_zone=zone.key,
        threshold=settings.threshold_cents,
    )


async def _draft(pool: Any, caller: Caller, auction_id: int) -> Auction:
    auction = await auctions.get(pool, caller, auction_id)
    if auction.department_id != caller.department_id:
        raise Forbidden("not_your_department", "Only buyers of this task's department may do this.")
    return auction


@get("/buyer", name="web:buyer")
async def dashboard(request: Request[Any, Any, Any], pool: Any, viewer: Caller | None) -> Template:
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
    # Each accepted auction's payment order, where the buyer follows it or disputes it.
    orders = {p.auction_id: p for p in await payments.list_for(pool, caller, None, None, 100)}
    return render(
        request,
        caller,
        "buyer_dashboard.html",
        sections=sections,
        due_dates=overdue,
        orders=orders,
    )


@get("/buyer/tasks/new", name="web:new_task")
async def new_task(
    request: Request[Any, Any, Any], viewer: Caller | None, settings: Settings
) -> Template:
    return await _form_page(request, require(viewer, "buyer"), settings)


@post("/buyer/tasks/new", name="web:create_task")
async def create_task(
    request: Request[Any, Any, Any], pool: Any, viewer: Caller | None, settings: Settings
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    form = await request.form()
    data, errors = read_task_form(form, zone_of(form, settings))
    if not errors:
        try:
            body = msgspec.convert(data, AuctionCreate)
            created = await auctions.create(pool, settings, caller, body, request_id(request))
        except msgspec.ValidationError as exc:
            errors = {_form_field(exc): HINTS.get(_form_field(exc), str(exc))}
        except DomainError as exc:
            errors = domain_errors(exc)
        else:
            flash(request, "Draft saved. Check it, then publish it.")
            return see_other(f"/auctions/{created.id}")
    return await _form_page(request, caller, settings, form=form, errors=errors, status=422)


def _form_field(exc: msgspec.ValidationError) -> str:
    field = field_of(exc) or "form"
    return FORM_FIELD.get(field, field)


@get("/buyer/tasks/{auction_id:int}/edit", name="web:edit_task")
async def edit_task(
    request: Request[Any, Any, Any],
    pool: Any,
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
    pool: Any,
    viewer: Caller | None,
    settings: Settings,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    auction = await _draft(pool, caller, auction_id)
    form = await request.form()
    data, errors = read_task_form(form, zone_of(form, settings))
    if not errors:
        try:
            patch = msgspec.convert(data, AuctionPatch)
            await auctions.update(pool, settings, caller, auction_id, patch, request_id(request))
        except msgspec.ValidationError as exc:
            errors = {_form_field(exc): HINTS.get(_form_field(exc), str(exc))}
        except DomainError as exc:
            errors = domain_errors(exc)
        else:
            flash(request, "Draft updated.")
            return see_other(f"/auctions/{auction_id}")
    return await _form_page(
        request, caller, settings, auction=auction, form=form, errors=errors, status=422
    )


@post("/buyer/tasks/{auction_id:int}/publish", name="web:publish_task")
async def publish_task(
    request: Request[Any, Any, Any],
    pool: Any,
    redis: Any,
    viewer: Caller | None,
    settings: Settings,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    try:
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
    request: Request[Any, Any, Any], pool: Any, viewer: Caller | None, auction_id: int
) -> Redirect:
    caller = require(viewer, "buyer")
    reason = str((await request.form()).get("reason") or "").strip()
    if not reason or len(reason) > 2000:
        flash(request, "Give a reason for cancelling (at most 2,000 characters).", "error")
        return see_other(f"/auctions/{auction_id}")
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
